use crate::clock::Moment;
use crate::detector::{Arrival, Trust};
use proptest::prelude::*;

use super::*;
use crate::wire::Beat;

/// The wall clock at monotonic 0, as the fake clock runs.
const WALL: u64 = 1_795_000_000_000;

/// A detector on a fake clock, with every line it printed and when.
struct Sim {
    det: Detector,
    now: Millis,
    log: Vec<(Millis, Event)>,
    /// The seq of the last message: each message has the next.
    seq: u64,
}

impl Sim {
    fn new() -> Self {
        Sim {
            det: Detector::new(crate::detector::tests::cfg(3), 0),
            now: 0,
            log: Vec::new(),
            seq: 0,
        }
    }

    /// Fires each deadline up to `t` at its own time, as the loop does.
    fn advance(&mut self, t: Millis) {
        while let Some(due) = self.det.next_deadline().filter(|&d| d <= t) {
            self.now = self.now.max(due);
            let mut out = Vec::new();
            self.det.expire(self.now, &mut out);
            self.log.extend(out.into_iter().map(|e| (self.now, e)));
        }
        self.now = t;
    }

    /// A `start` or `done` of run `boot`, sent at `t` (the sender's clock
    /// agrees), due `due_in` later with `grace`.
    fn say(&mut self, t: Millis, boot: &str, due_in: Option<u64>, news: News<'_>) {
        self.advance(t);
        self.seq += 1;
        let report = JobReport {
            node: "backup",
            claim: Claim {
                boot: Some(boot),
                seq: Some(self.seq),
                ts_ms: Some(WALL + t),
            },
            due: due_in.map(|ahead| Due {
                due_ms: WALL + t + ahead,
                grace_ms: 500,
            }),
            news,
        };
        let mut out = Vec::new();
        let trust = Trust::Network { max_skew_ms: None };
        let said = self.det.job(
            &report,
            Arrival::new(Moment::new(t, WALL + t), None, trust),
            &mut out,
        );
        assert_eq!(said, Ok(()));
        self.log.extend(out.into_iter().map(|e| (t, e)));
    }

    fn start(&mut self, t: Millis, boot: &str, max_run_ms: Option<Millis>) {
        self.say(t, boot, Some(10_000), News::Start { max_run_ms });
    }

    fn done(&mut self, t: Millis, boot: &str, ended: Ended) {
        let news = News::Done {
            ended,
            duration_ms: 42,
            stderr: Some("disk full"),
        };
        self.say(t, boot, Some(10_000), news);
    }

    fn kinds(&self) -> Vec<(Millis, &'static str)> {
        self.log.iter().map(|(t, e)| (*t, e.kind())).collect()
    }

    fn state(&self) -> &'static str {
        self.det.node("backup", self.now).unwrap().routing_state
    }
}

#[test]
fn a_run_is_started_then_ok_then_late_at_its_deadline_and_grace() {
    let mut sim = Sim::new();
    sim.start(0, "a", None);
    assert_eq!(sim.state(), "running");
    sim.done(2000, "a", Ended::Exit(0));
    assert_eq!(sim.state(), "ok");
    // Due 10 s after the done, grace 0.5 s: late at 12.5 s, once.
    sim.advance(60_000);
    assert_eq!(
        sim.kinds(),
        vec![(0, "started"), (2000, "ok"), (12_500, "late")]
    );
    assert_eq!(sim.state(), "late");
    // Its next run brings it back.
    sim.start(70_000, "b", None);
    assert_eq!(sim.state(), "running");
}

#[test]
fn a_failed_run_says_how_and_copies_change_nothing() {
    let mut sim = Sim::new();
    sim.start(0, "a", None);
    sim.start(10, "a", None);
    sim.done(100, "a", Ended::Exit(3));
    sim.done(110, "a", Ended::Exit(3));
    assert_eq!(sim.kinds(), vec![(0, "started"), (100, "failed")]);
    let Event::Failed { ended, stderr, .. } = &sim.log[1].1 else {
        panic!("{:?}", sim.log);
    };
    assert_eq!(*ended, Ended::Exit(3));
    assert_eq!(stderr.as_deref(), Some("disk full"));
    assert_eq!(sim.state(), "failed");
}

#[test]
fn a_run_past_its_limit_is_running_long_and_a_second_start_overlaps() {
    let mut sim = Sim::new();
    sim.start(0, "a", Some(1000));
    sim.advance(1500);
    sim.start(2000, "b", Some(1000));
    // The first run ends: the second is still going.
    sim.done(2500, "a", Ended::Exit(0));
    assert_eq!(sim.state(), "running");
    sim.done(2600, "b", Ended::Signal(9));
    assert_eq!(
        sim.kinds(),
        vec![
            (0, "started"),
            (1000, "running-long"),
            (2000, "overlap"),
            (2000, "started"),
            (2500, "ok"),
            (2600, "failed"),
        ]
    );
    assert_eq!(sim.state(), "failed");
}

#[test]
fn a_job_is_never_judged_by_missed_intervals() {
    let mut sim = Sim::new();
    // No deadline stated: a job without a schedule is never late or down.
    sim.say(0, "a", None, News::Start { max_run_ms: None });
    sim.advance(3_600_000);
    assert_eq!(sim.kinds(), vec![(0, "started")]);
}

#[test]
fn a_beat_with_a_deadline_makes_a_job_and_one_without_undoes_it() {
    let mut sim = Sim::new();
    let beat = |det: &mut Detector, t: Millis, seq: u64, due: Option<Due>| {
        let b = Beat {
            node: "nightly".into(),
            seq: Some(seq),
            boot: Some("x".into()),
            every_ms: Some(1000),
            ts_ms: Some(WALL + t),
            health: None,
            ack: false,
            answers: false,
            checks: None,
            due,
        };
        let mut out = Vec::new();
        det.observe(Moment::new(t, WALL + t), None, &b, &mut out);
        out
    };
    let due = Due {
        due_ms: WALL + 5000,
        grace_ms: 1000,
    };
    beat(&mut sim.det, 0, 1, Some(due));
    sim.advance(5999);
    assert!(sim.log.is_empty(), "{:?}", sim.log);
    sim.advance(6000);
    assert_eq!(sim.kinds(), vec![(6000, "late")]);
    // A plain beat: judged by its interval again.
    beat(&mut sim.det, 7000, 2, None);
    assert_eq!(sim.det.node("nightly", 7000).unwrap().routing_state, "up");
    sim.advance(20_000);
    assert_eq!(sim.kinds().last(), Some(&(10_000, "down")));
}

proptest! {
    /// Whatever the order of runs' starts and ends, a job is late exactly
    /// once per deadline it missed, never before its deadline and grace.
    #[test]
    fn late_comes_only_after_the_last_deadline_and_grace(
        steps in prop::collection::vec((0u64..5000, any::<bool>(), 0u8..3), 1..20),
    ) {
        let mut sim = Sim::new();
        let mut t = 0;
        for (i, (gap, start, exit)) in steps.iter().enumerate() {
            t += gap;
            // Each message a run of its own: copies are not news.
            let boot = format!("run{i}");
            match start {
                true => sim.start(t, &boot, Some(1000)),
                false => sim.done(t, &boot, Ended::Exit(*exit)),
            }
        }
        let last = t;
        sim.advance(last + 10_499);
        let late_before = sim.kinds().iter().filter(|(at, k)| *k == "late" && *at > last).count();
        prop_assert_eq!(late_before, 0);
        sim.advance(last + 10_500);
        prop_assert_eq!(sim.kinds().last().map(|(_, k)| *k), Some("late"));
        prop_assert_eq!(sim.state(), "late");
    }
}

#[test]
fn a_job_read_back_from_the_state_file_keeps_its_state_and_deadline() {
    let mut sim = Sim::new();
    sim.start(0, "a", None);
    sim.done(1000, "a", Ended::Exit(3));
    let view = serde_json::to_string(&sim.det.node("backup", 1000).unwrap()).unwrap();
    let restored: crate::detector::Restored = serde_json::from_str(&view).unwrap();
    // Read back by a listener started 2 s later, on a clock of its own.
    let mut again = Sim::new();
    let wall = WALL + 3000;
    again
        .det
        .restore("backup", &restored, Moment::new(0, wall))
        .unwrap();
    assert_eq!(again.state(), "failed", "{view}");
    // Due 10 s after the done, so 8 s after the restart; grace 0.5 s.
    again.advance(8499);
    assert!(again.log.is_empty(), "{:?}", again.log);
    again.advance(8500);
    assert_eq!(again.kinds(), vec![(8500, "late")]);
    assert_eq!(again.state(), "late");
}
