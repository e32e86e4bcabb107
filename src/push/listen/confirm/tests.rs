use crate::clock::Moment;
use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;

use proptest::prelude::*;

use super::*;
use crate::detector::{Config, Rule};
use crate::wire::Beat;

fn detector() -> Detector {
    Detector::new(
        Config {
            rule: Rule::Fixed { misses: 5 },
            default_every_ms: 1000,
            emit_beats: false,
            up_after: 1,
            flap: None,
            max_nodes: 100_000,
        },
        0,
    )
}

fn addr_of(i: usize) -> SocketAddr {
    SocketAddr::new([127, 0, 0, 1].into(), 20_000 + i as u16)
}

/// Beat `seq` of `name`, every `every_ms`, saying whether it `answers`.
fn beat_of(name: &str, seq: u64, every_ms: u64, answers: bool) -> Beat<'_> {
    Beat {
        node: name.into(),
        seq: Some(seq),
        boot: Some("b".into()),
        every_ms: Some(every_ms),
        ts_ms: None,
        health: None,
        ack: false,
        answers,
        checks: None,
        due: None,
    }
}

/// Nodes `n0`.. beating once at 0 from their own ports, every `every_ms`;
/// those `answers` says answer. Returns the events up to their suspicion.
fn beaten(det: &mut Detector, every_ms: u64, answers: &[bool]) -> Vec<Event> {
    let mut out = Vec::new();
    for (i, &answers) in answers.iter().enumerate() {
        let name = format!("n{i}");
        let beat = beat_of(&name, 1, every_ms, answers);
        det.observe(Moment::new(0, 0), Some(addr_of(i)), &beat, &mut out);
    }
    out.clear();
    det.expire(every_ms + every_ms / 2, &mut out);
    out
}

fn confirmer(trust_unreachable: bool) -> Confirmer {
    confirmer_with(trust_unreachable, 1e-6)
}

fn confirmer_with(trust_unreachable: bool, false_down_chance: f64) -> Confirmer {
    Confirmer::new(ConfirmOptions {
        name: "listener".into(),
        trust_unreachable,
        false_down_chance,
    })
    .unwrap()
}

/// A confirmer that noted `events` at `now`.
fn noting(det: &Detector, events: &[Event], now: Millis) -> Confirmer {
    let mut c = confirmer(false);
    for e in events {
        c.note(e, det, now);
    }
    c
}

#[test]
fn a_suspect_that_answers_is_asked_at_once_then_every_quarter_interval() {
    let mut det = detector();
    let events = beaten(&mut det, 1000, &[true]);
    let mut c = noting(&det, &events, 1500);
    let mut due = Vec::new();
    c.take_due(1500, &mut due);
    assert_eq!(due.len(), 1);
    assert_eq!((due[0].node.as_str(), due[0].addr), ("n0", addr_of(0)));
    assert_eq!(c.next_wake(), Some(1750));
    c.take_due(1749, &mut due);
    assert_eq!(due.len(), 1);
    c.take_due(1750, &mut due);
    c.take_due(2000, &mut due);
    assert_eq!(due.len(), 3);
    assert_ne!(due[0].nonce, due[1].nonce);
}

#[test]
fn a_node_whose_beats_do_not_say_it_answers_is_never_asked() {
    let mut det = detector();
    let events = beaten(&mut det, 1000, &[false]);
    assert_eq!(events.len(), 1, "{events:?}");
    let mut c = noting(&det, &events, 1500);
    let mut due = Vec::new();
    c.take_due(10_000, &mut due);
    assert!(due.is_empty());
    assert_eq!(c.next_wake(), None);
}

#[test]
fn an_answer_with_a_probes_nonce_refutes_and_no_other_does() {
    let mut det = detector();
    let events = beaten(&mut det, 1000, &[true]);
    let mut c = noting(&det, &events, 1500);
    let mut due = Vec::new();
    c.take_due(1500, &mut due);
    let reply = |node: &'static str, nonce| Reply {
        node: node.into(),
        nonce,
        boot: None,
        ts_ms: None,
        health: None,
        via: None,
        checks: None,
    };
    let mut out = Vec::new();
    let nonce = due[0].nonce;
    assert!(c
        .on_reply(
            &reply("n0", nonce ^ 1),
            Moment::new(1600, 1600),
            &mut det,
            &mut out
        )
        .is_err());
    assert!(c
        .on_reply(
            &reply("n1", nonce),
            Moment::new(1600, 1600),
            &mut det,
            &mut out
        )
        .is_err());
    assert!(out.is_empty());
    assert!(c
        .on_reply(
            &reply("n0", nonce),
            Moment::new(1600, 1600),
            &mut det,
            &mut out
        )
        .is_ok());
    let Event::Up { refuted: true, .. } = &out[0] else {
        panic!("{out:?}")
    };
    // Asked no more; a second copy of the answer is expected, and idle.
    assert_eq!(c.next_wake(), None);
    out.clear();
    assert!(c
        .on_reply(
            &reply("n0", nonce),
            Moment::new(1700, 1700),
            &mut det,
            &mut out
        )
        .is_ok());
    assert!(out.is_empty());
}

#[test]
fn a_closed_port_is_down_at_once_but_with_a_key_only_when_trusted() {
    for (keyed, trusted, down) in [
        (false, false, true),
        (true, false, false),
        (true, true, true),
    ] {
        let mut det = detector();
        let events = beaten(&mut det, 1000, &[true]);
        let mut c = confirmer(trusted);
        for e in &events {
            c.note(e, &det, 1500);
        }
        let mut out = Vec::new();
        let report = |kind| Unreachable {
            to: addr_of(0),
            error: io::Error::from(kind),
        };
        // A host unreachable is no proof that the process is gone.
        c.on_unreachable(
            &report(io::ErrorKind::HostUnreachable),
            keyed,
            1510,
            &mut det,
            &mut out,
        );
        assert!(out.is_empty());
        c.on_unreachable(
            &report(io::ErrorKind::ConnectionRefused),
            keyed,
            1510,
            &mut det,
            &mut out,
        );
        let cause = out.iter().find_map(|e| match e {
            Event::Down { cause, .. } => Some(*cause),
            _ => None,
        });
        assert_eq!(
            cause,
            down.then_some("unreachable"),
            "keyed {keyed}, trusted {trusted}"
        );
    }
}

#[test]
fn unanswered_probes_make_a_clean_node_down_within_three_intervals_unless_the_bound_is_0() {
    for (bound, down) in [(1e-6, true), (0.0, false)] {
        let mut det = detector();
        let mut out = Vec::new();
        for seq in 1..=30 {
            let t = (seq - 1) * 1000;
            let beat = beat_of("n0", seq, 1000, true);
            det.observe(Moment::new(t, t), Some(addr_of(0)), &beat, &mut out);
        }
        let since = 29_000;
        out.clear();
        det.expire(since + 1500, &mut out);
        let mut c = confirmer_with(false, bound);
        for e in &out {
            c.note(e, &det, since + 1500);
        }
        let mut verdict = Vec::new();
        let mut now = since + 1500;
        while let Some(wake) = c.next_wake().filter(|&w| w <= since + 3000) {
            now = wake;
            let mut due = Vec::new();
            c.take_due(now, &mut due);
            for d in due {
                if !c.weigh(&d.node, now, &mut det, &mut verdict) {
                    c.sent(&d.node, now);
                }
            }
        }
        let cause = verdict.iter().find_map(|e| match e {
            Event::Down { cause, .. } => Some(*cause),
            _ => None,
        });
        assert_eq!(cause, down.then_some("no-answer"), "bound {bound}");
        assert!(now <= since + 3000);
        assert_eq!(c.next_wake().is_none(), down, "asked no more once down");
    }
}

/// The probes of a suspect `n0` that beat seqs 1 to 40 every second but
/// those `lost` says: when they are due from its suspicion on.
fn probe_times(lost: impl Fn(u64) -> bool) -> Vec<Millis> {
    let mut det = detector();
    let mut out = Vec::new();
    for seq in (1..=40).filter(|&s| !lost(s)) {
        let t = (seq - 1) * 1000;
        let beat = beat_of("n0", seq, 1000, true);
        det.observe(Moment::new(t, t), Some(addr_of(0)), &beat, &mut out);
    }
    out.clear();
    let since = 39_000;
    det.expire(since + 1500, &mut out);
    let mut c = noting(&det, &out, since + 1500);
    let mut times = Vec::new();
    for t in since + 1500..since + 2500 {
        let mut due = Vec::new();
        c.take_due(t, &mut due);
        times.extend(due.iter().map(|_| t));
    }
    times
}

#[test]
fn a_suspect_on_a_lossy_path_is_asked_more_often_within_the_rate_limit() {
    let clean = probe_times(|_| false);
    assert_eq!(clean.len(), 4, "a quarter interval apart: {clean:?}");
    // 3 beats of 10 lost.
    let lossy = probe_times(|s| s % 10 == 3 || s % 10 == 6 || s % 10 == 9);
    assert!(lossy.len() > 2 * clean.len(), "{lossy:?}");
    assert!(
        lossy.windows(2).all(|w| w[1] - w[0] >= MIN_GAP_MS),
        "{lossy:?}"
    );
}

#[test]
fn a_fleet_turning_suspect_at_once_is_asked_within_the_total_limit() {
    let mut det = detector();
    let events = beaten(&mut det, 1000, &vec![true; 2500]);
    let mut c = noting(&det, &events, 1500);
    let mut sent = Vec::new();
    for t in 1500..4000 {
        let mut due = Vec::new();
        c.take_due(t, &mut due);
        sent.extend(due.iter().map(|_| t));
    }
    for (i, &t) in sent.iter().enumerate() {
        let in_second = sent[i..].iter().take_while(|&&u| u < t + 1000).count();
        assert!(
            in_second <= MAX_PER_SECOND,
            "{in_second} probes in the second from {t}"
        );
    }
    // All were asked in the end.
    assert!(sent.len() >= 2500);
}

proptest! {
    /// However often the loop asks, a node is never probed twice within
    /// its gap (a quarter of its interval, at least MIN_GAP_MS).
    #[test]
    fn probes_never_exceed_the_per_node_rate(
        every_ms in 10u64..5000,
        steps in proptest::collection::vec(0u64..400, 1..200),
    ) {
        let mut det = detector();
        let events = beaten(&mut det, every_ms, &[true, true, true]);
        let start = every_ms + every_ms / 2;
        let mut c = noting(&det, &events, start);
        let mut last: HashMap<String, Millis> = HashMap::new();
        let gap = (every_ms / 4).max(MIN_GAP_MS);
        let mut now = start;
        for step in steps {
            let mut due = Vec::new();
            c.take_due(now, &mut due);
            for d in due {
                if let Some(before) = last.insert(d.node.clone(), now) {
                    prop_assert!(now - before >= gap, "{} at {before} and {now}", d.node);
                }
            }
            if let Some(wake) = c.next_wake() {
                prop_assert!(wake > now);
            }
            now += step;
        }
    }
}
