use crate::clock::Moment;
use proptest::prelude::*;
use serde_json::value::RawValue;

use super::*;

pub(super) fn cfg(misses: u32) -> Config {
    Config {
        rule: Rule::Fixed { misses },
        default_every_ms: 1000,
        emit_beats: false,
        up_after: 1,
        flap: None,
        max_nodes: 1000,
    }
}

pub(super) fn beat<'a>(node: &'a str, boot: &'a str, seq: u64, every_ms: u64) -> Beat<'a> {
    Beat {
        node: node.into(),
        seq: Some(seq),
        boot: Some(boot.into()),
        every_ms: Some(every_ms),
        ts_ms: None,
        health: None,
        ack: false,
        answers: false,
        checks: None,
        due: None,
    }
}

/// A detector driven by a fake clock, recording (time, type, node).
pub(super) struct Sim {
    pub(super) det: Detector,
    now: Millis,
    pub(super) log: Vec<(Millis, &'static str, String)>,
    pub(super) last: Vec<Event>,
}

impl Sim {
    pub(super) fn new(misses: u32) -> Self {
        Sim {
            det: Detector::new(cfg(misses), 0),
            now: 0,
            log: Vec::new(),
            last: Vec::new(),
        }
    }

    /// Advances the clock to `t`, firing each deadline at its own time,
    /// as the real loop does when it sleeps until the next deadline.
    pub(super) fn advance(&mut self, t: Millis) {
        while let Some(due) = self.det.next_deadline().filter(|&d| d <= t) {
            self.now = self.now.max(due);
            let mut out = Vec::new();
            self.det.expire(self.now, &mut out);
            self.record(out);
        }
        self.now = t;
    }

    pub(super) fn beat(&mut self, t: Millis, b: Beat<'_>) {
        self.advance(t);
        let mut out = Vec::new();
        self.det.observe(Moment::new(t, t), None, &b, &mut out);
        self.record(out);
    }

    pub(super) fn record(&mut self, out: Vec<Event>) {
        for e in &out {
            let (kind, node) = (e.kind(), e.node().to_owned());
            self.log.push((self.now, kind, node));
        }
        self.last = out;
    }

    fn kinds(&self) -> Vec<(Millis, &str)> {
        self.log.iter().map(|(t, k, _)| (*t, *k)).collect()
    }
}

#[test]
fn suspect_then_down_after_exactly_n_intervals() {
    let mut sim = Sim::new(5);
    for i in 0..3 {
        sim.beat(i * 1000, beat("a", "b1", i + 1, 1000));
    }
    sim.advance(20_000);
    // Last beat at 2000: suspect half an interval after the missed one,
    // down at 2000 + 5 * 1000 exactly.
    assert_eq!(
        sim.kinds(),
        vec![(0, "up"), (3500, "suspect"), (7000, "down")]
    );
    let down = &sim.last[0];
    let Event::Down {
        silent_ms, missed, ..
    } = down
    else {
        panic!("{down:?}")
    };
    assert_eq!((*silent_ms, *missed), (5000, 5));
}

#[test]
fn one_lost_beat_is_suspect_never_down() {
    let mut sim = Sim::new(5);
    sim.beat(0, beat("a", "b", 1, 1000));
    sim.beat(1000, beat("a", "b", 2, 1000));
    // seq 3 lost
    sim.beat(3000, beat("a", "b", 4, 1000));
    let Event::Up { was, silent_ms, .. } = &sim.last[0] else {
        panic!()
    };
    assert_eq!((*was, *silent_ms), (Some(State::Suspect), Some(2000)));
    sim.beat(4000, beat("a", "b", 5, 1000));
    sim.advance(4999);
    assert_eq!(
        sim.kinds(),
        vec![(0, "up"), (2500, "suspect"), (3000, "up")]
    );
}

#[test]
fn back_up_after_down_reports_down_time() {
    let mut sim = Sim::new(3);
    sim.beat(0, beat("a", "b", 1, 100));
    sim.beat(1000, beat("a", "b", 2, 100));
    let Event::Up {
        was,
        silent_ms,
        down_ms,
        ..
    } = &sim.last[0]
    else {
        panic!()
    };
    assert_eq!(*was, Some(State::Down));
    assert_eq!(*silent_ms, Some(1000));
    assert_eq!(*down_ms, Some(700)); // down declared at 300
}

#[test]
fn restart_fires_even_within_one_interval() {
    let mut sim = Sim::new(5);
    sim.beat(0, beat("a", "old", 41, 1000));
    sim.beat(1000, beat("a", "new", 1, 1000));
    assert_eq!(sim.kinds(), vec![(0, "up"), (1000, "restart")]);
    let Event::Restart {
        old_boot, new_boot, ..
    } = &sim.last[0]
    else {
        panic!()
    };
    assert_eq!((old_boot.as_str(), new_boot.as_str()), ("old", "new"));
}

#[test]
fn restart_of_a_down_node_is_restart_then_up() {
    let mut sim = Sim::new(2);
    sim.beat(0, beat("a", "old", 9, 100));
    sim.beat(5000, beat("a", "new", 1, 100));
    assert_eq!(
        sim.kinds(),
        vec![
            (0, "up"),
            (150, "suspect"),
            (200, "down"),
            (5000, "restart"),
            (5000, "up")
        ]
    );
}

#[test]
fn expected_node_that_never_beats_is_down_after_n_default_intervals() {
    let mut sim = Sim::new(4);
    sim.det.expect("ghost").unwrap();
    sim.det.expect("ghost").unwrap();
    sim.advance(60_000);
    assert_eq!(sim.kinds(), vec![(4000, "down")]);
    let Event::Down {
        last_seen, addr, ..
    } = &sim.last[0]
    else {
        panic!()
    };
    assert_eq!((*last_seen, *addr), (None, None));
    assert_eq!(sim.det.states().count(), 1);
}

#[test]
fn a_node_expected_later_is_silent_from_then_on() {
    let mut sim = Sim::new(4);
    sim.advance(10_000);
    sim.det.expect_from("late", 10_000).unwrap();
    sim.advance(60_000);
    assert_eq!(sim.kinds(), vec![(14_000, "down")]);
    let Event::Down { silent_ms, .. } = &sim.last[0] else {
        panic!()
    };
    assert_eq!(*silent_ms, 4000);
}

#[test]
fn a_node_no_longer_expected_is_never_down_unless_it_beat() {
    let mut sim = Sim::new(4);
    sim.det.expect("never").unwrap();
    sim.det.expect("beat").unwrap();
    sim.beat(500, beat("beat", "b", 1, 1000));
    sim.det.unexpect("never");
    sim.det.unexpect("beat");
    sim.advance(20_000);
    let downs: Vec<&str> = sim
        .log
        .iter()
        .filter(|l| l.1 == "down")
        .map(|l| &*l.2)
        .collect();
    assert_eq!(downs, ["beat"]);
    assert_eq!(sim.det.snapshot(20_000).pending, vec!["never"]);
    // Gone at the next chance to forget.
    let mut out = Vec::new();
    sim.det.forget_due(20_000, &mut out);
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!((out[0].kind(), out[0].node()), ("forgotten", "never"));
    assert!(sim.det.snapshot(20_000).pending.is_empty());
    // Expected again: from then on.
    sim.det.expect_from("never", 20_000).unwrap();
    sim.advance(30_000);
    assert_eq!(
        sim.log.last().map(|l| (l.0, &*l.2)),
        Some((24_000, "never"))
    );
}

#[test]
fn expected_node_that_beats_is_simply_up() {
    let mut sim = Sim::new(4);
    sim.det.expect("web").unwrap();
    sim.beat(500, beat("web", "b", 1, 1000));
    let Event::Up { was, .. } = &sim.last[0] else {
        panic!()
    };
    assert_eq!(*was, None);
    assert_eq!(sim.det.snapshot(600).up, vec!["web"]);
}

#[test]
fn each_node_is_judged_by_its_own_interval() {
    let mut sim = Sim::new(3);
    sim.beat(0, beat("fast", "b", 1, 100));
    sim.beat(0, beat("slow", "b", 1, 1000));
    sim.advance(10_000);
    let downs: Vec<_> = sim
        .log
        .iter()
        .filter(|(_, k, _)| *k == "down")
        .map(|(t, _, n)| (*t, n.as_str()))
        .collect();
    assert_eq!(downs, vec![(300, "fast"), (3000, "slow")]);
}

#[test]
fn misses_of_one_goes_straight_to_down() {
    let mut sim = Sim::new(1);
    sim.beat(0, beat("a", "b", 1, 100));
    sim.advance(1000);
    assert_eq!(sim.kinds(), vec![(0, "up"), (100, "down")]);
}

#[test]
fn gaps_count_lost_beats_and_ignore_reordering() {
    let mut det = Detector::new(
        Config {
            emit_beats: true,
            ..cfg(5)
        },
        0,
    );
    let mut gaps = Vec::new();
    for (t, seq) in [(0, 1), (10, 2), (20, 5), (30, 4), (40, 6)] {
        let mut out = Vec::new();
        det.observe(
            Moment::new(t, t),
            None,
            &beat("a", "b", seq, 1000),
            &mut out,
        );
        gaps.extend(out.iter().filter_map(|e| match e {
            Event::Beat { gap, .. } => Some(*gap),
            _ => None,
        }));
    }
    assert_eq!(gaps, vec![0, 0, 2, 0, 0]);
}

#[test]
fn snapshot_lists_states_and_health() {
    let mut det = Detector::new(cfg(2), 0);
    let health = RawValue::from_string(r#"{"cpu_pct":12.5}"#.into()).unwrap();
    let mut b = beat("b-node", "x", 1, 1000);
    b.health = Some(&health);
    let mut out = Vec::new();
    det.observe(Moment::new(0, 1_000), None, &b, &mut out);
    det.observe(
        Moment::new(0, 1_000),
        None,
        &beat("a-node", "x", 1, 100),
        &mut out,
    );
    det.expect("c-node").unwrap();
    det.expire(500, &mut out);
    let json = serde_json::to_value(det.snapshot(500)).unwrap();
    assert_eq!(json["up"], serde_json::json!(["b-node"]));
    assert_eq!(json["down"], serde_json::json!(["a-node"]));
    assert_eq!(json["pending"], serde_json::json!(["c-node"]));
    assert_eq!(json["nodes"]["b-node"]["health"]["cpu_pct"], 12.5);
    assert_eq!(json["nodes"]["a-node"]["silent_ms"], 500);
    assert_eq!(
        json["nodes"]["b-node"]["last_seen"],
        "1970-01-01T00:00:01.000Z"
    );
}

fn phi_cfg() -> Config {
    Config {
        rule: Rule::Phi(PhiConfig::default()),
        ..cfg(5)
    }
}

fn sim_with(cfg: Config) -> Sim {
    Sim {
        det: Detector::new(cfg, 0),
        ..Sim::new(1)
    }
}

#[test]
fn phi_declares_down_where_phi_reaches_its_threshold() {
    let mut sim = sim_with(phi_cfg());
    for i in 0..20 {
        sim.beat(i * 1000, beat("a", "b", i + 1, 1000));
    }
    sim.advance(60_000);
    let kinds = sim.kinds();
    assert_eq!(
        kinds.iter().map(|k| k.1).collect::<Vec<_>>(),
        ["up", "suspect", "down"]
    );
    // Regular 1 s beats: sd is floored at 100 ms, so phi 8 comes about
    // 5.6 sd after the mean; phi 5 about 4.2 sd.
    let (suspect_at, down_at) = (kinds[1].0 - 19_000, kinds[2].0 - 19_000);
    assert!((1400..1500).contains(&suspect_at), "{suspect_at}");
    assert!((1500..1700).contains(&down_at), "{down_at}");
    let Event::Down { phi, .. } = &sim.last[0] else {
        panic!()
    };
    assert!(phi.unwrap() >= 8.0, "{phi:?}");
}

#[test]
fn phi_adapts_to_a_jittery_node() {
    let mut sim = sim_with(phi_cfg());
    // Intervals alternate 500 and 1500 ms: mean 1 s, sd 500 ms.
    let (mut t, mut last) = (0, 0);
    for i in 0..40 {
        sim.beat(t, beat("jittery", "b", i + 1, 1000));
        last = t;
        t += if i % 2 == 0 { 500 } else { 1500 };
    }
    sim.advance(last + 60_000);
    let down = sim.kinds().iter().find(|k| k.1 == "down").unwrap().0 - last;
    // The same silence that takes a regular node down is normal here.
    assert!(down > 3000, "{down}");
    assert!(sim.log.iter().filter(|(_, k, _)| *k == "down").count() == 1);
}

#[test]
fn flap_damping_needs_consecutive_beats_to_come_back() {
    let mut sim = sim_with(Config {
        up_after: 3,
        ..cfg(2)
    });
    sim.beat(0, beat("a", "b", 1, 100));
    sim.advance(1000); // down at 200
    sim.beat(1000, beat("a", "b", 2, 100));
    sim.beat(1100, beat("a", "b", 3, 100));
    // A gap of more than 1.5 intervals starts the count over.
    sim.beat(1400, beat("a", "b", 4, 100));
    sim.beat(1500, beat("a", "b", 5, 100));
    sim.beat(1600, beat("a", "b", 6, 100));
    assert_eq!(
        sim.kinds(),
        vec![(0, "up"), (150, "suspect"), (200, "down"), (1600, "up")]
    );
    let Event::Up { was, down_ms, .. } = &sim.last[0] else {
        panic!()
    };
    assert_eq!((*was, *down_ms), (Some(State::Down), Some(1400)));
}

#[test]
fn flapping_is_reported_once_while_it_lasts() {
    let mut sim = sim_with(Config {
        flap: Some(Flap {
            changes: 3,
            window_ms: 10_000,
        }),
        ..cfg(1)
    });
    // Up, down after 100 ms, up again 200 ms later: two changes a cycle.
    // Changes: down 100, up 300, down 400 (3), up 600 (4 > 3: flapping).
    for cycle in 0..3u64 {
        sim.beat(cycle * 300, beat("a", "b", cycle + 1, 100));
    }
    let Event::Flapping { changes, .. } = &sim.last[1] else {
        panic!("{:?}", sim.last)
    };
    assert_eq!(*changes, 4);
    // Still flapping: not reported again.
    sim.beat(900, beat("a", "b", 4, 100));
    let flaps: Vec<_> = sim
        .kinds()
        .into_iter()
        .filter(|k| k.1 == "flapping")
        .collect();
    assert_eq!(flaps, vec![(600, "flapping")]);
}

#[test]
fn admission_checks_replays_and_the_node_limit() {
    const NETWORK: Trust = Trust::Network { max_skew_ms: None };
    let mut det = Detector::new(
        Config {
            max_nodes: 2,
            ..cfg(5)
        },
        0,
    );
    let mut out = vec![];
    det.observe(Moment::new(0, 0), None, &beat("a", "b1", 5, 1000), &mut out);
    assert_eq!(
        det.admit(&beat("a", "b1", 5, 1000), 0, NETWORK),
        Err(Reject::Replay)
    );
    assert_eq!(
        det.admit(&beat("a", "b1", 4, 1000), 0, NETWORK),
        Err(Reject::Replay)
    );
    assert_eq!(det.admit(&beat("a", "b1", 6, 1000), 0, NETWORK), Ok(()));
    assert_eq!(
        det.admit(&beat("a", "b2", 1, 1000), 0, NETWORK),
        Ok(()),
        "a restart"
    );
    // Expected nodes have places of their own: two others fill the table.
    det.expect("x").unwrap();
    det.observe(Moment::new(0, 0), None, &beat("b", "b1", 1, 1000), &mut out);
    assert_eq!(
        det.admit(&beat("new", "b", 1, 1000), 0, NETWORK),
        Err(Reject::TooManyNodes)
    );
    det.expect("y").unwrap();
    assert_eq!(det.expect("z"), Err(Reject::TooManyNodes));
    assert_eq!(
        det.admit(&beat("x", "b", 1, 1000), 0, NETWORK),
        Ok(()),
        "known nodes still beat"
    );
}

/// What the state file compares to know it is behind: messages taken,
/// not those refused.
#[test]
fn taken_counts_accepted_messages_only() {
    let came = Arrival::new(
        Moment::new(0, 0),
        None,
        Trust::Network { max_skew_ms: None },
    );
    let mut det = Detector::new(cfg(5), 0);
    let mut out = vec![];
    for seq in [1, 2, 2, 1, 3] {
        let _ = det.take(&Message::Beat(beat("a", "b", seq, 1000)), came, &mut out);
    }
    assert_eq!(det.taken(), 3, "two replays refused");
}

/// A sender that shrinks its every_ms at each beat moves its deadline
/// earlier each time, so each beat pushes a heap entry and leaves the
/// previous one stale, far in the future where it would never pop.
/// The heap is compacted past 2 x nodes + 64 entries, keeping the live
/// entries: verdicts still come on time.
#[test]
fn a_shrinking_interval_does_not_grow_the_timer_heap() {
    let mut sim = Sim::new(5);
    sim.beat(0, beat("steady", "b", 1, 1000));
    let bound = 2 * 2 + 64;
    let mut most = 0;
    let (mut t, mut every) = (0, 1_000_000);
    for seq in 1..=1000 {
        // Deadline t + 1.5 every: 149 ms earlier at each beat.
        sim.beat(t, beat("shrinking", "b", seq, every));
        most = most.max(sim.det.timers.len());
        t += 1;
        every -= 100;
    }
    assert!(most <= bound, "{most} heap entries for 2 nodes");
    let (last, every) = (t - 1, every + 100);
    sim.advance(last + 5 * every);
    assert_eq!(
        sim.kinds(),
        vec![
            (0, "up"),
            (0, "up"),
            (1500, "suspect"),
            (5000, "down"),
            (last + every + every / 2, "suspect"),
            (last + 5 * every, "down"),
        ]
    );
}

proptest! {
    /// Whatever the beat times, a node is never declared down before
    /// `misses` intervals of silence, and is always declared down once
    /// the silence lasts that long.
    #[test]
    fn down_exactly_when_silence_reaches_misses(
        gaps in proptest::collection::vec(1u64..5000, 1..40),
        misses in 1u32..8,
        every in 50u64..2000,
    ) {
        let mut sim = Sim::new(misses);
        let mut t = 0;
        let mut beats = vec![];
        for (i, g) in gaps.iter().enumerate() {
            t += g;
            beats.push(t);
            sim.beat(t, beat("a", "b", i as u64, every));
        }
        sim.advance(t + every * u64::from(misses) + 1);
        let limit = every * u64::from(misses);
        let mut expected_downs = vec![];
        for w in beats.windows(2) {
            // A deadline that falls exactly on the next beat's arrival
            // fires first, as in the real loop.
            if w[1] - w[0] >= limit {
                expected_downs.push(w[0] + limit);
            }
        }
        expected_downs.push(t + limit);
        let downs: Vec<_> = sim.kinds().into_iter().filter(|(_, k)| *k == "down").map(|(t, _)| t).collect();
        prop_assert_eq!(downs, expected_downs);
    }
}

/// A silence that dropped beats could explain is held until one interval
/// after the drop: the deadline moves there at once, however late the
/// listener judges it, rather than creeping up on it a step at a time.
#[test]
fn a_held_down_moves_its_deadline_once() {
    let mut sim = Sim::new(2);
    sim.beat(0, beat("a", "x", 1, 100));
    let late = 3_600_000;
    sim.det.dropped_beats(late - 50);
    let mut out = Vec::new();
    sim.det.expire(late, &mut out);
    assert_eq!(sim.det.next_deadline(), Some(late + 50), "{out:?}");
    sim.det.expire(late + 50, &mut out);
    assert!(out.iter().any(|e| e.kind() == "down"), "{out:?}");
}
