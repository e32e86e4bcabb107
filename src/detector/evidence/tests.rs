use std::collections::VecDeque;

use proptest::prelude::*;

use super::super::tests::{beat, Sim};
use super::*;
use crate::wire::Beat;

const EVERY: Millis = 1000;
/// Probes of a suspect 1 s node go a quarter interval apart.
const GAP: Millis = 250;
const BOUND: f64 = 1e-6;

/// Probes sent at `sent`, none answered, to a node that answered its past
/// probes at once, weighed against `bound`.
fn asked(sent: &VecDeque<Millis>, bound: f64) -> Asked<'_> {
    Asked {
        sent,
        wait: GAP,
        unanswered: 0.0,
        bound,
    }
}

fn answering(seq: u64) -> Beat<'static> {
    Beat {
        answers: true,
        ..beat("a", "b1", seq, EVERY)
    }
}

/// A node `a` whose beats `seqs` came, each at its own time ((seq - 1)
/// intervals), the others lost: silent since the last one.
fn watched(seqs: impl IntoIterator<Item = u64>) -> Sim {
    let mut sim = Sim::new(5);
    for seq in seqs {
        sim.beat((seq - 1) * EVERY, answering(seq));
    }
    sim
}

/// Asks the suspect `a` from its suspicion on, a probe every [`GAP`], none
/// answered, weighing before each; the `down` it ends in and when, or
/// None if its deadline came first.
fn ask_unanswered(sim: &mut Sim, since: Millis) -> Option<(Millis, Event)> {
    let mut sent = VecDeque::new();
    let mut t = since + EVERY + EVERY / 2;
    sim.advance(t);
    while sim.det.nodes[0].state == State::Suspect {
        let mut out = Vec::new();
        if sim.det.no_answer(t, "a", &asked(&sent, BOUND), &mut out) {
            return Some((t, out.remove(0)));
        }
        sent.push_back(t);
        t += GAP;
        sim.advance(t);
    }
    None
}

#[test]
fn a_clean_path_is_down_within_three_intervals() {
    let mut sim = watched(1..=30);
    let since = 29 * EVERY;
    let (at, down) = ask_unanswered(&mut sim, since).expect("down before its deadline");
    assert!(at - since <= 3 * EVERY, "down after {} ms", at - since);
    let Event::Down {
        cause,
        no_answer: Some(weighed),
        ..
    } = down
    else {
        panic!("{down:?}")
    };
    assert_eq!(cause, "no-answer");
    assert!(
        weighed.chance < BOUND && weighed.bound == BOUND,
        "{weighed:?}"
    );
    assert!((2..=5).contains(&weighed.probes), "{weighed:?}");
}

#[test]
fn a_lossy_path_needs_more_probes_than_a_clean_one() {
    // 3 beats of 10 lost, one by one.
    let mut lossy = watched((1..=60).filter(|s| s % 10 != 3 && s % 10 != 6 && s % 10 != 9));
    let since = 59 * EVERY;
    match ask_unanswered(&mut lossy, since) {
        Some((at, down)) => {
            assert!(at - since > 3 * EVERY, "down after {} ms", at - since);
            let Event::Down {
                no_answer: Some(weighed),
                ..
            } = down
            else {
                panic!("{down:?}")
            };
            assert!(weighed.probe_loss > 0.4, "{weighed:?}");
        }
        None => assert_eq!(lossy.last[0].kind(), "down", "its deadline decides"),
    }
}

#[test]
fn silence_a_node_came_back_from_is_no_evidence() {
    // It was once silent for 3.2 intervals, and came back.
    let mut sim = watched(1..=20);
    sim.beat(22_200, answering(21));
    for seq in 22..=40 {
        sim.beat(22_200 + (seq - 21) * EVERY, answering(seq));
    }
    let since = 22_200 + 19 * EVERY;
    let (at, _) = ask_unanswered(&mut sim, since).expect("down before its deadline");
    assert!(at - since > 3200 + GAP, "down after {} ms", at - since);
}

#[test]
fn a_node_down_by_no_answer_that_beats_again_within_its_deadline_taught_its_pause() {
    let mut sim = watched(1..=30);
    let since = 29 * EVERY;
    let (at, _) = ask_unanswered(&mut sim, since).expect("down: a pause never seen");
    // It was paused: back 3.5 intervals after its last beat, before the
    // 5 of its deadline.
    sim.beat(since + 3500, answering(31));
    for seq in 32..=50 {
        sim.beat(since + 3500 + (seq - 31) * EVERY, answering(seq));
    }
    let since = since + 3500 + 19 * EVERY;
    let (again, _) = ask_unanswered(&mut sim, since).expect("down later");
    assert!(again - since > 3500, "{} then {}", at, again - since);
}

#[test]
fn beats_without_seq_measure_no_loss_and_wait_for_the_deadline() {
    let mut sim = Sim::new(5);
    for i in 0..30 {
        let b = Beat {
            seq: None,
            ..answering(1)
        };
        sim.beat(i * EVERY, b);
    }
    assert!(ask_unanswered(&mut sim, 29 * EVERY).is_none());
    assert_eq!(sim.last[0].kind(), "down");
}

#[test]
fn an_unanswered_share_of_past_probes_weighs_like_loss() {
    assert_eq!(probe_loss(0.1, 0.0), 1.0 - 0.9 * 0.9);
    assert_eq!(probe_loss(0.1, 0.8), 0.8);
    let mut rate = 0.0;
    for _ in 0..100 {
        rate = answer_rate_after(rate, 3);
    }
    assert!((rate - 2.0 / 3.0).abs() < 0.01, "{rate}");
    // A few suspicions answered at the first probe weigh it back down.
    for _ in 0..8 {
        rate = answer_rate_after(rate, 1);
    }
    assert!(rate < 0.4, "{rate}");
}

#[test]
fn only_a_suspect_is_weighed() {
    let mut sim = watched(1..=30);
    let sent = VecDeque::from([29_000, 29_250, 29_500]);
    let mut out = Vec::new();
    assert!(!sim
        .det
        .no_answer(30_000, "a", &asked(&sent, BOUND), &mut out));
    let any = asked(&sent, 1.0);
    assert!(!sim.det.no_answer(30_000, "nobody", &any, &mut out));
    assert!(out.is_empty());
}

proptest! {
    /// Whatever the loss and the silence, more unanswered probes never
    /// make a live node's silence likelier, and a node is never down by
    /// probes sent before the longest silence it came back from.
    #[test]
    fn more_unanswered_probes_only_weigh_more(
        lost in proptest::collection::vec(any::<bool>(), 20),
        came_back_after in 1000u64..5000,
        probes in 0usize..30,
    ) {
        let mut sim = Sim::new(100);
        sim.beat(0, answering(1));
        sim.beat(came_back_after, answering(2));
        let mut t = came_back_after;
        for (i, lost) in lost.iter().enumerate() {
            t += EVERY;
            if !lost {
                sim.beat(t, answering(i as u64 + 3));
            }
        }
        let since = sim.det.nodes[0].last_seen.unwrap();
        let now = since + 2 * EVERY + probes as u64 * GAP;
        sim.advance(now);
        let node = &sim.det.nodes[0];
        let sent: VecDeque<Millis> = (0..probes as u64).map(|i| since + EVERY + i * GAP).collect();
        let fewer: VecDeque<Millis> = sent.iter().skip(1).copied().collect();
        let chance = |sent: &VecDeque<Millis>| {
            weigh(node, now, &asked(sent, 1.0)).map_or(1.0, |w| w.chance)
        };
        prop_assert!(chance(&sent) <= chance(&fewer));
        let before: VecDeque<Millis> = sent
            .iter()
            .copied()
            .filter(|&s| s < since + survived_ms(node))
            .collect();
        let horizon = survived_ms(node).max(EVERY);
        if now < since + horizon + EVERY / 2 {
            prop_assert_eq!(chance(&before), 1.0);
        }
    }
}
