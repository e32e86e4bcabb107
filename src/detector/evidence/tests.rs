use std::collections::VecDeque;

use proptest::prelude::*;

use super::super::tests::{beat, Sim};
use super::*;
use crate::clock::Moment;
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
    // It was once silent for 3.2 intervals, two beats lost, and came back.
    let mut sim = watched(1..=20);
    sim.beat(22_200, answering(23));
    for seq in 24..=42 {
        sim.beat(22_200 + (seq - 23) * EVERY, answering(seq));
    }
    let since = 22_200 + 19 * EVERY;
    let (at, _) = ask_unanswered(&mut sim, since).expect("down before its deadline");
    assert!(at - since > 3200 + GAP, "down after {} ms", at - since);
}

/// Its deadline decides, `"cause":"silence"`: no `down` by unanswered
/// probes came first. The `down` says whether it was seen to pause.
fn judged_by_its_deadline(sim: &mut Sim, since: Millis, paused: bool) {
    assert!(ask_unanswered(sim, since).is_none());
    let Event::Down { cause, pauses, .. } = &sim.last[0] else {
        panic!("{:?}", sim.last)
    };
    assert_eq!((*cause, *pauses), ("silence", paused));
}

#[test]
fn a_node_down_by_no_answer_that_beats_again_within_its_deadline_pauses() {
    let mut sim = watched(1..=30);
    let since = 29 * EVERY;
    ask_unanswered(&mut sim, since).expect("down: a pause never seen");
    // It was paused: back 3.5 intervals after its last beat, before the
    // 5 of its deadline, with the next seq: held, not lost.
    sim.beat(since + 3500, answering(31));
    for seq in 32..=50 {
        sim.beat(since + 3500 + (seq - 31) * EVERY, answering(seq));
    }
    judged_by_its_deadline(&mut sim, since + 3500 + 19 * EVERY, true);
}

#[test]
fn a_beat_with_the_next_seq_over_half_an_interval_late_shows_a_pause() {
    // Late by 400 ms, then by 600 ms.
    for (late, pauses) in [(400, false), (600, true)] {
        let mut sim = watched(1..=30);
        sim.beat(30 * EVERY + late, answering(31));
        for seq in 32..=50 {
            sim.beat((seq - 1) * EVERY + late, answering(seq));
        }
        let since = 49 * EVERY + late;
        match pauses {
            true => judged_by_its_deadline(&mut sim, since, true),
            false => assert!(ask_unanswered(&mut sim, since).is_some()),
        }
    }
}

#[test]
fn a_late_answer_shows_a_pause_and_a_prompt_one_does_not() {
    for (answered_after, pauses) in [(20, false), (600, true)] {
        let mut sim = watched(1..=30);
        // Suspect at 30.5 s, answering the probe of then.
        let at = 29 * EVERY + EVERY + EVERY / 2 + answered_after;
        sim.advance(at);
        let mut out = Vec::new();
        let asked_at = at - answered_after;
        assert!(sim.det.refute(Moment::new(at, at), "a", asked_at, &mut out));
        for seq in 31..=50 {
            sim.beat(at + (seq - 30) * EVERY, answering(seq));
        }
        let since = at + 20 * EVERY;
        match pauses {
            true => judged_by_its_deadline(&mut sim, since, true),
            false => assert!(ask_unanswered(&mut sim, since).is_some()),
        }
    }
}

#[test]
fn lateness_of_the_listener_own_stall_shows_no_pause() {
    let mut sim = watched(1..=30);
    // The listener stood still for 2 s: the next beat read late.
    sim.det.stalled(2000, 31_900);
    sim.beat(31_900, answering(31));
    for seq in 32..=50 {
        sim.beat(31_900 + (seq - 31) * EVERY, answering(seq));
    }
    assert!(ask_unanswered(&mut sim, 31_900 + 19 * EVERY).is_some());
}

#[test]
fn silence_is_no_evidence_before_a_loss_window_of_seqs() {
    let mut sim = watched(1..=19);
    judged_by_its_deadline(&mut sim, 18 * EVERY, false);
    let mut sim = watched(1..=20);
    assert!(ask_unanswered(&mut sim, 19 * EVERY).is_some());
}

#[test]
fn probes_go_closer_on_a_lossy_path() {
    assert_eq!(probe_gap(EVERY, None), GAP);
    assert_eq!(probe_gap(EVERY, Some(clean_probe_loss())), GAP);
    let ten = probe_gap(EVERY, Some(probe_loss(0.1, 0.0)));
    let thirty = probe_gap(EVERY, Some(probe_loss(0.3, 0.0)));
    assert!(ten < GAP && thirty < ten, "{ten} {thirty}");
    // Each gap weighs what a clean path's quarter interval does.
    let weight = |loss: f64, gap: Millis| loss.ln() * (GAP as f64 / gap as f64);
    let clean = weight(clean_probe_loss(), GAP);
    let lossy = weight(probe_loss(0.3, 0.0), thirty);
    assert!((lossy / clean - 1.0).abs() < 0.05, "{clean} {lossy}");
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
        // Back after a silence that lost a beat: loss, not a pause.
        sim.beat(0, answering(1));
        sim.beat(came_back_after, answering(3));
        let mut t = came_back_after;
        for (i, lost) in lost.iter().enumerate() {
            t += EVERY;
            if !lost {
                sim.beat(t, answering(i as u64 + 4));
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
