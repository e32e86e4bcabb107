use super::*;
use crate::clock::Moment;
use crate::detector::tests::cfg;
use crate::detector::Arrival;
use crate::detector::{Config, Event, Trust};
use crate::wire::Beat;

fn detector(now: Millis) -> Detector {
    let cfg = Config {
        max_nodes: 10,
        ..cfg(2)
    };
    Detector::new(cfg, now)
}

fn restored(json: &str) -> Restored {
    serde_json::from_str(json).unwrap()
}

fn beat(node: &str, seq: u64) -> Beat<'_> {
    crate::detector::tests::beat(node, "b1", seq, 100)
}

const WALL: u64 = 1_800_000_000_000;

#[test]
fn an_up_node_is_judged_from_the_restart_and_stays_up_when_it_beats() {
    let mut det = detector(5000);
    let node = restored(
        r#"{"state":"up","every_ms":100,"boot":"b1","seq":7,"addr":"10.0.0.1:9",
            "last_seen":"2027-01-15T08:00:00.000Z","health":{"cpu_pct":5.0},"silent_ms":3}"#,
    );
    det.restore("web-1", &node, Moment::new(5000, WALL))
        .unwrap();
    let view = det.node("web-1", 5000).unwrap();
    assert_eq!(view.state, State::Up);
    assert_eq!(view.seq, Some(7));
    // 2027-01-15T08:00:00Z, as the file said: shown as before.
    assert_eq!(view.last_seen, Some(1_800_000_000_000));
    // An old beat of the same boot is a replay, as before the restart.
    let network = Trust::Network { max_skew_ms: None };
    assert_eq!(
        det.admit(&beat("web-1", 7), WALL, network),
        Err(Reject::Replay)
    );
    // The next one keeps it up, silently.
    let mut out = Vec::new();
    det.receive(
        &beat("web-1", 8),
        Arrival::new(Moment::new(5050, WALL), None, network),
        &mut out,
    )
    .unwrap();
    assert!(out.is_empty(), "{out:?}");
    // Silent from then on: suspect, then down, by its own interval.
    det.expire(5050 + 150, &mut out);
    det.expire(5050 + 200, &mut out);
    let kinds: Vec<_> = out.iter().map(Event::kind).collect();
    assert_eq!(kinds, ["suspect", "down"]);
}

#[test]
fn a_node_that_never_beats_again_is_down_after_its_deadline_from_the_restart() {
    let mut det = detector(5000);
    det.restore(
        "gone",
        &restored(r#"{"state":"up","every_ms":100}"#),
        Moment::new(5000, WALL),
    )
    .unwrap();
    let mut out = Vec::new();
    det.expire(5199, &mut out);
    assert!(out.iter().all(|e| e.kind() != "down"), "{out:?}");
    det.expire(5200, &mut out);
    assert_eq!(out.last().map(Event::kind), Some("down"), "{out:?}");
}

#[test]
fn down_left_and_pending_nodes_come_back_as_they_were() {
    let mut det = detector(0);
    det.restore(
        "down-1",
        &restored(r#"{"state":"down","every_ms":100}"#),
        Moment::new(0, WALL),
    )
    .unwrap();
    det.restore(
        "left-1",
        &restored(r#"{"state":"left","every_ms":100}"#),
        Moment::new(0, WALL),
    )
    .unwrap();
    det.restore(
        "new-1",
        &restored(r#"{"state":"pending","every_ms":100}"#),
        Moment::new(0, WALL),
    )
    .unwrap();
    let states: Vec<_> = det.states().map(|(n, s)| (n.to_owned(), s)).collect();
    assert_eq!(
        states,
        [
            ("down-1".to_owned(), State::Down),
            ("left-1".to_owned(), State::Left)
        ]
    );
    let mut out = Vec::new();
    det.expire(60_000, &mut out);
    assert!(out.is_empty(), "no verdict without a beat: {out:?}");
    det.observe(
        Moment::new(60_000, WALL),
        None,
        &beat("down-1", 1),
        &mut out,
    );
    assert_eq!(out[0].kind(), "up");
}

#[test]
fn an_away_node_keeps_its_announced_return() {
    let mut det = detector(0);
    let until = WALL + 2000;
    let away = format!(
        r#"{{"state":"away","every_ms":100,"away":{{"until_ms":{until},"reason":"upgrade"}}}}"#
    );
    det.restore("db-1", &restored(&away), Moment::new(0, WALL))
        .unwrap();
    let mut out = Vec::new();
    det.expire(1999, &mut out);
    assert!(out.is_empty(), "muted until its return: {out:?}");
    det.expire(2000, &mut out);
    let Some(Event::Down { cause, .. }) = out.last() else {
        panic!("{out:?}")
    };
    assert_eq!(*cause, "away-expired");
}

#[test]
fn what_a_beat_could_not_carry_is_refused() {
    let mut det = detector(0);
    let node = restored(r#"{"state":"up","every_ms":100}"#);
    assert_eq!(
        det.restore(" web", &node, Moment::new(0, WALL)),
        Err(Reject::BadNode)
    );
    let fast = restored(r#"{"state":"up","every_ms":1}"#);
    assert_eq!(
        det.restore("web", &fast, Moment::new(0, WALL)),
        Err(Reject::BadField)
    );
    for i in 0..10 {
        det.restore(&format!("n{i}"), &node, Moment::new(0, WALL))
            .unwrap();
    }
    assert_eq!(
        det.restore("n10", &node, Moment::new(0, WALL)),
        Err(Reject::TooManyNodes)
    );
}
