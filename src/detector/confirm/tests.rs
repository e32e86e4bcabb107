use crate::clock::Moment;
use std::net::SocketAddr;

use super::super::tests::{beat, cfg};
use super::*;
use crate::detector::{Arrival, Trust};
use crate::wire::{Beat, Message};

const FROM: &str = "127.0.0.1:40000";

fn answering<'a>(node: &'a str, seq: u64) -> Beat<'a> {
    Beat {
        answers: true,
        ..beat(node, "b1", seq, 1000)
    }
}

/// A detector that saw one beat of `a` at 0 from [`FROM`], and the
/// events up to `t`.
fn beaten_once(b: Beat<'_>, t: Millis) -> (Detector, Vec<Event>) {
    let mut det = Detector::new(cfg(5), 0);
    let mut out = Vec::new();
    det.observe(Moment::new(0, 0), Some(FROM.parse().unwrap()), &b, &mut out);
    det.expire(t, &mut out);
    (det, out)
}

#[test]
fn only_a_suspect_node_that_answers_is_askable() {
    let (det, _) = beaten_once(answering("a", 1), 1000);
    assert_eq!(det.askable("a"), None, "up: nothing to ask");
    let (det, _) = beaten_once(answering("a", 1), 1500);
    assert_eq!(det.askable("a"), Some((FROM.parse().unwrap(), None, 1000)));
    let (det, _) = beaten_once(beat("a", "b1", 1, 1000), 1500);
    assert_eq!(det.askable("a"), None, "its beats do not say it answers");
    assert_eq!(det.askable("nobody"), None);
}

#[test]
fn an_answer_refutes_and_rearms_from_the_answer() {
    let (mut det, _) = beaten_once(answering("a", 1), 1500);
    let mut out = Vec::new();
    assert!(det.refute(Moment::new(2000, 2000), "a", 2000, &mut out));
    let Event::Up {
        was,
        refuted,
        silent_ms,
        ..
    } = &out[0]
    else {
        panic!("{out:?}")
    };
    assert_eq!(
        (*was, *refuted, *silent_ms),
        (Some(State::Suspect), true, Some(2000))
    );
    // Suspect again 1.5 intervals after the answer, down 5 after it.
    assert_eq!(det.next_deadline(), Some(3500));
    out.clear();
    det.expire(6999, &mut out);
    assert_eq!(out.iter().map(Event::kind).collect::<Vec<_>>(), ["suspect"]);
    det.expire(7000, &mut out);
    assert_eq!(out.last().map(Event::kind), Some("down"));
    // Not suspect: nothing to refute.
    assert!(!det.refute(Moment::new(7001, 7001), "a", 7001, &mut out));
}

#[test]
fn a_closed_port_is_down_at_once_only_while_suspect_at_that_address() {
    let (mut det, _) = beaten_once(answering("a", 1), 1500);
    let mut out = Vec::new();
    let elsewhere: SocketAddr = "127.0.0.1:40001".parse().unwrap();
    assert!(!det.unreachable(1600, "a", elsewhere, &mut out));
    // The same address as a dual-stack socket reports it.
    let mapped: SocketAddr = "[::ffff:127.0.0.1]:40000".parse().unwrap();
    assert!(det.unreachable(1600, "a", mapped, &mut out));
    let Event::Down {
        cause, silent_ms, ..
    } = &out[0]
    else {
        panic!("{out:?}")
    };
    assert_eq!((*cause, *silent_ms), ("unreachable", 1600));
    // Down already: once only.
    assert!(!det.unreachable(1700, "a", mapped, &mut out));
    assert_eq!(out.len(), 1);
    // An up node is not declared down by a stray error.
    let (mut det, _) = beaten_once(answering("a", 1), 1000);
    assert!(!det.unreachable(1000, "a", FROM.parse().unwrap(), &mut out));
}

/// An address earns three times what came from it, capped, and loses
/// what it had when the node's beats move to another address.
#[test]
fn an_address_may_be_sent_three_times_what_came_from_it() {
    let mut det = Detector::new(cfg(5), 0);
    let mut out = Vec::new();
    let from = |addr: &str| {
        let trust = crate::detector::Trust::Network { max_skew_ms: None };
        crate::detector::Arrival::new(Moment::new(0, 0), Some(addr.parse().unwrap()), trust)
    };
    let a_beat = |seq| crate::wire::Message::Beat(answering("a", seq));
    det.take(&a_beat(1), from(FROM).in_datagram(100), &mut out)
        .unwrap();
    assert!(det.spend("a", 200));
    assert!(!det.spend("a", 200), "100 left");
    assert!(det.spend("a", 100));
    for seq in 2..100 {
        det.take(&a_beat(seq), from(FROM).in_datagram(500), &mut out)
            .unwrap();
    }
    assert!(
        det.spend("a", crate::detector::table::MAX_CREDIT as usize),
        "capped, not lost"
    );
    assert!(!det.spend("a", 1));
    det.take(&a_beat(100), from(FROM).in_datagram(500), &mut out)
        .unwrap();
    det.take(&a_beat(101), from("10.9.9.9:1").in_datagram(10), &mut out)
        .unwrap();
    assert!(!det.spend("a", 31), "a new address starts afresh: 30 bytes");
    assert!(det.spend("a", 30));
    assert!(!det.spend("nobody", 0));
}

/// A node is asked from the listener's address its beats were sent to,
/// the one it answers; the last message says which.
#[test]
fn a_suspect_node_is_asked_from_the_address_it_beats_to() {
    let mut det = Detector::new(cfg(5), 0);
    let mut out = Vec::new();
    let from = Some(FROM.parse().unwrap());
    let trust = Trust::Recording;
    for (seq, to) in [(1, "192.0.2.7"), (2, "192.0.2.8")] {
        let came = Arrival::new(Moment::new(seq * 10, 0), from, trust).to(to.parse().ok());
        det.take(&Message::Beat(answering("a", seq)), came, &mut out)
            .unwrap();
    }
    det.expire(2000, &mut out);
    let asked = det.askable("a").expect("suspect, and it answers");
    assert_eq!(asked.1, "192.0.2.8".parse().ok());
}
