use super::super::tests::{beat, cfg};
use super::super::{Config, Event};
use super::*;
use crate::clock::Moment;
use crate::wire::Beat;

fn detector() -> Detector {
    let cfg = Config {
        default_every_ms: 100,
        ..cfg(5)
    };
    Detector::new(cfg, 0)
}

/// A beat of `node` (every 100 ms) received at `now`.
fn beat_at(d: &mut Detector, node: &str, seq: u64, now: Millis) {
    let b = beat(node, "b", seq, 100);
    d.observe(Moment::new(now, now), None, &b, &mut Vec::new());
}

/// The `down` events of an expire at `now`.
fn downs(d: &mut Detector, now: Millis) -> Vec<Event> {
    let mut out = Vec::new();
    d.expire(now, &mut out);
    out.retain(|e| e.kind() == "down");
    out
}

fn field(e: &Event) -> (&'static str, Option<f64>) {
    match e {
        Event::Down {
            observer,
            loss_before,
            ..
        } => (observer, *loss_before),
        other => panic!("{other:?}"),
    }
}

/// A node whose beats stopped at 1000 is down at 1500; a 2 s stall of the
/// observer that ended at 1200 moves that to 3500, and says so.
#[test]
fn a_stall_moves_every_pending_deadline_by_its_length() {
    let mut d = detector();
    for seq in 1..=10 {
        beat_at(&mut d, "web", seq, seq * 100);
    }
    d.stalled(2000, 1200);
    assert!(downs(&mut d, 3499).is_empty(), "judged while not watching");
    let down = downs(&mut d, 3500);
    assert_eq!(down.len(), 1);
    assert_eq!(field(&down[0]), ("stalled", Some(0.0)));
}

/// A node that beats again after the stall is never down, and its next
/// silence is judged without the old stall's time.
#[test]
fn a_beat_after_a_stall_clears_its_grace() {
    let mut d = detector();
    beat_at(&mut d, "web", 1, 1000);
    d.stalled(2000, 1200);
    beat_at(&mut d, "web", 2, 1300);
    assert!(downs(&mut d, 1799).is_empty());
    let down = downs(&mut d, 1800);
    assert_eq!(
        field(&down[0]),
        ("ok", Some(0.0)),
        "the stall was before this silence"
    );
}

/// A beat that waited in the socket through a stall is judged at its
/// arrival, after the stall was noticed: it keeps the part of the stall
/// after it, so its node is not down before its deadline plus that.
#[test]
fn a_beat_queued_through_a_stall_keeps_the_stall_after_it() {
    let mut d = detector();
    for seq in 1..=9 {
        beat_at(&mut d, "web", seq, seq * 100);
    }
    // Stopped from 1050 to 3050; the last beat came at 1000, read at 3050.
    d.stalled(2000, 3050);
    beat_at(&mut d, "web", 10, 1000);
    assert!(downs(&mut d, 3499).is_empty(), "judged while not watching");
    let down = downs(&mut d, 3500);
    assert_eq!(field(&down[0]).0, "stalled");
    // A beat after the stall owes it nothing.
    let mut d = detector();
    beat_at(&mut d, "db", 1, 100);
    d.stalled(2000, 3050);
    beat_at(&mut d, "db", 2, 3100);
    assert_eq!(field(&downs(&mut d, 3600)[0]).0, "ok");
}

/// While the socket drops beats, a down the drops could explain waits for
/// one of the node's intervals without drops; a node that really died is
/// still declared down, and the event says the observer was overloaded.
#[test]
fn drops_hold_a_down_until_an_interval_passes_without_them() {
    let mut d = detector();
    beat_at(&mut d, "web", 1, 1000);
    d.dropped_beats(1450);
    assert!(downs(&mut d, 1500).is_empty(), "held: drops at 1450");
    d.dropped_beats(1540);
    assert!(downs(&mut d, 1600).is_empty(), "held again: drops at 1540");
    let down = downs(&mut d, 1640);
    assert_eq!(field(&down[0]).0, "overloaded");
    // Drops long before the silence explain nothing.
    let mut d = detector();
    d.dropped_beats(500);
    beat_at(&mut d, "db", 1, 1000);
    assert_eq!(field(&downs(&mut d, 1500)[0]).0, "ok");
}

/// The events of kind `kind` of an expire at `now`.
fn events(d: &mut Detector, now: Millis, kind: &str) -> usize {
    let mut out = Vec::new();
    d.expire(now, &mut out);
    out.iter().filter(|e| e.kind() == kind).count()
}

/// Drops that could explain a silence hold its suspicion too, until one
/// interval passed without drops; its `down` keeps its own deadline.
#[test]
fn drops_hold_a_suspicion_but_not_the_down_after_it() {
    let mut d = detector();
    beat_at(&mut d, "web", 1, 1000);
    d.dropped_beats(1100);
    assert_eq!(events(&mut d, 1150, "suspect"), 0, "held: drops at 1100");
    d.dropped_beats(1190);
    assert_eq!(
        events(&mut d, 1200, "suspect"),
        0,
        "held again: drops at 1190"
    );
    assert_eq!(events(&mut d, 1289, "suspect"), 0);
    assert_eq!(
        events(&mut d, 1290, "suspect"),
        1,
        "an interval without drops"
    );
    assert_eq!(events(&mut d, 1499, "down"), 0);
    assert_eq!(events(&mut d, 1500, "down"), 1, "down at its own deadline");
    // Drops long before the silence hold nothing.
    let mut d = detector();
    d.dropped_beats(500);
    beat_at(&mut d, "db", 1, 1000);
    assert_eq!(events(&mut d, 1150, "suspect"), 1);
}

/// `loss_before`: the share of the last 20 seqs that never came.
#[test]
fn the_loss_before_a_silence_counts_missing_seqs() {
    let mut d = detector();
    let lost = [3, 7, 11, 15, 19];
    for seq in (1..=20).filter(|s| !lost.contains(s)) {
        beat_at(&mut d, "lossy", seq, seq * 100);
    }
    let down = downs(&mut d, 2500);
    assert_eq!(field(&down[0]), ("ok", Some(0.25)));
    // Young nodes: what is known; without seq: nothing.
    let mut d = detector();
    beat_at(&mut d, "young", 1, 100);
    beat_at(&mut d, "young", 3, 200);
    assert_eq!(field(&downs(&mut d, 700)[0]).1, Some(0.33));
    let mut d = detector();
    let b = Beat {
        seq: None,
        boot: None,
        ..beat("cron", "b", 1, 100)
    };
    d.observe(Moment::new(100, 100), None, &b, &mut Vec::new());
    assert_eq!(field(&downs(&mut d, 600)[0]).1, None);
}

#[test]
fn the_shortest_interval_is_known() {
    let mut d = detector();
    assert_eq!(d.shortest_interval(), None);
    beat_at(&mut d, "a", 1, 0);
    assert_eq!(d.shortest_interval(), Some(100));
}
