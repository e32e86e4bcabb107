use super::*;
use crate::clock::Moment;
use crate::detector::{Arrival, Trust};
use crate::wire::Beat;

/// Down after 3 missed 1 s intervals.
fn detector() -> Detector {
    Detector::new(crate::detector::tests::cfg(3), 0)
}

/// A detector on a fake clock, with every line it printed and when.
struct Sim {
    det: Detector,
    now: Millis,
    log: Vec<(Millis, Event)>,
}

/// The network as a keyed listener sees it: a new boot's clock is checked.
const KEYED: Trust = Trust::Network {
    max_skew_ms: Some(30_000),
};

impl Sim {
    fn new() -> Self {
        Sim {
            det: detector(),
            now: 0,
            log: Vec::new(),
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

    fn beat(&mut self, t: Millis, boot: &str, seq: u64) {
        self.advance(t);
        let b = Beat {
            node: "web-1".into(),
            seq: Some(seq),
            boot: Some(boot.into()),
            every_ms: Some(1000),
            ts_ms: Some(t),
            health: None,
            ack: false,
            answers: false,
            checks: None,
            due: None,
        };
        let mut out = Vec::new();
        self.det
            .receive(&b, Arrival::new(Moment::new(t, t), None, KEYED), &mut out)
            .unwrap();
        self.log.extend(out.into_iter().map(|e| (t, e)));
    }

    /// `web-1`'s notice at `t`, sent at `ts_ms` by its sender's clock.
    fn say(
        &mut self,
        t: Millis,
        boot: &str,
        seq: u64,
        ts_ms: u64,
        intent: Intent,
    ) -> Result<(), Reject> {
        self.advance(t);
        let notice = Notice {
            node: "web-1",
            claim: Claim {
                boot: Some(boot),
                seq: Some(seq),
                ts_ms: Some(ts_ms),
            },
            intent,
        };
        let mut out = Vec::new();
        let said = self.det.announce(
            &notice,
            Arrival::new(Moment::new(t, t), None, KEYED),
            &mut out,
        );
        self.log.extend(out.into_iter().map(|e| (t, e)));
        said
    }

    /// (time, type) of every line, and the `was` of `up` and the `cause`
    /// of `down` where they have one.
    fn lines(&self) -> Vec<(Millis, String)> {
        self.log
            .iter()
            .map(|(t, e)| {
                let detail = match e {
                    Event::Up { was: Some(was), .. } => format!(" was {was:?}"),
                    Event::Down { cause, .. } => format!(" {cause}"),
                    _ => String::new(),
                };
                (*t, format!("{}{detail}", e.kind()))
            })
            .collect()
    }

    fn state(&self) -> State {
        self.det.node("web-1", self.now).unwrap().state
    }
}

fn line(t: Millis, s: &str) -> (Millis, String) {
    (t, s.to_owned())
}

const AWAY_5S: Intent = Intent::Away {
    for_ms: 5000,
    reason: Some("upgrade"),
};

#[test]
fn a_leave_is_left_at_once_and_never_down() {
    let mut sim = Sim::new();
    sim.beat(0, "b1", 1);
    sim.beat(1000, "b1", 2);
    sim.say(1200, "b1", 3, 1200, Intent::Leave).unwrap();
    // The second copy: the next seq, nothing new to say.
    sim.say(1210, "b1", 4, 1210, Intent::Leave).unwrap();
    sim.advance(100_000);
    assert_eq!(sim.lines(), [line(0, "up"), line(1200, "left")]);
    assert_eq!(sim.state(), State::Left);
    assert_eq!(sim.det.next_deadline(), None);
    // Back with a new boot (restarted): a restart, and up from left.
    sim.beat(100_000, "b2", 1);
    assert_eq!(
        sim.lines()[2..],
        [line(100_000, "restart"), line(100_000, "up was Left")]
    );
    // Judged as before from then on.
    sim.advance(200_000);
    assert_eq!(
        sim.lines()[4..],
        [line(101_500, "suspect"), line(103_000, "down silence")]
    );
}

#[test]
fn a_replayed_or_stale_leave_is_refused() {
    let mut sim = Sim::new();
    sim.beat(0, "b1", 1);
    sim.beat(1000, "b1", 2);
    // An old seq of the beating boot, or another boot's: both replays.
    assert_eq!(
        sim.say(1100, "b1", 2, 1100, Intent::Leave),
        Err(Reject::Replay)
    );
    assert_eq!(
        sim.say(1100, "b0", 9, 1100, Intent::Leave),
        Err(Reject::Replay)
    );
    sim.say(1200, "b1", 3, 1200, Intent::Leave).unwrap();
    sim.beat(5000, "b2", 1);
    // The leave of the boot that was, replayed after the node came back.
    assert_eq!(
        sim.say(5100, "b1", 3, 1200, Intent::Leave),
        Err(Reject::Replay)
    );
    assert_eq!(sim.state(), State::Up);
}

#[test]
fn away_mutes_until_its_deadline_then_down() {
    let mut sim = Sim::new();
    sim.beat(0, "b1", 1);
    // `hb-send --away` run by hand: a process of its own (boot a1), twice.
    sim.say(500, "a1", 1, 500, AWAY_5S).unwrap();
    sim.say(510, "a1", 2, 510, AWAY_5S).unwrap();
    // The service beats on a little, then is stopped and leaves: still away.
    sim.beat(1000, "b1", 2);
    sim.say(1500, "b1", 3, 1500, Intent::Leave).unwrap();
    assert_eq!(sim.state(), State::Away);
    let view = sim.det.node("web-1", 1500).unwrap();
    let away = view.away.unwrap();
    assert_eq!((away.until_ms, away.reason), (5500, Some("upgrade")));
    sim.advance(100_000);
    assert_eq!(
        sim.lines(),
        [
            line(0, "up"),
            line(500, "away"),
            line(5500, "down away-expired")
        ]
    );
    let Event::Away {
        until_ms, reason, ..
    } = &sim.log[1].1
    else {
        panic!("{:?}", sim.log[1]);
    };
    assert_eq!((*until_ms, reason.as_deref()), (5500, Some("upgrade")));
    assert_eq!(sim.state(), State::Down);
    // A replay of the away from the process that announced it: refused.
    assert_eq!(sim.say(6000, "a1", 2, 510, AWAY_5S), Err(Reject::Replay));
}

#[test]
fn a_beat_of_the_upgraded_service_ends_the_absence() {
    let mut sim = Sim::new();
    sim.beat(0, "b1", 1);
    sim.say(500, "a1", 1, 500, AWAY_5S).unwrap();
    sim.beat(3000, "b2", 1);
    sim.advance(3999);
    assert_eq!(
        sim.lines(),
        [
            line(0, "up"),
            line(500, "away"),
            line(3000, "restart"),
            line(3000, "up was Away")
        ]
    );
    assert!(sim.det.node("web-1", 3000).unwrap().away.is_none());
    // No verdict at the old deadline; judged by its silence again.
    sim.advance(10_000);
    assert_eq!(
        sim.lines()[4..],
        [line(4500, "suspect"), line(6000, "down silence")]
    );
}

#[test]
fn the_beating_sender_may_announce_and_come_back_itself() {
    let mut sim = Sim::new();
    sim.beat(0, "b1", 1);
    sim.say(100, "b1", 2, 100, AWAY_5S).unwrap();
    sim.beat(2000, "b1", 3);
    assert_eq!(
        sim.lines(),
        [line(0, "up"), line(100, "away"), line(2000, "up was Away")]
    );
}

#[test]
fn an_away_from_another_process_needs_a_fresh_clock_with_a_key() {
    let mut sim = Sim::new();
    sim.beat(0, "b1", 1);
    assert_eq!(sim.say(60_000, "a1", 1, 0, AWAY_5S), Err(Reject::Skew));
    assert_eq!(sim.state(), State::Down);
}

#[test]
fn an_unknown_node_may_announce_an_absence() {
    let mut sim = Sim::new();
    sim.say(0, "a1", 1, 0, AWAY_5S).unwrap();
    assert_eq!(sim.state(), State::Away);
    sim.advance(20_000);
    assert_eq!(
        sim.lines(),
        [line(0, "away"), line(5000, "down away-expired")]
    );
}

#[test]
fn a_new_announcement_moves_the_deadline() {
    let mut sim = Sim::new();
    sim.beat(0, "b1", 1);
    sim.say(500, "a1", 1, 500, AWAY_5S).unwrap();
    let longer = Intent::Away {
        for_ms: 20_000,
        reason: None,
    };
    sim.say(4000, "a2", 1, 4000, longer).unwrap();
    sim.advance(100_000);
    assert_eq!(
        sim.lines(),
        [
            line(0, "up"),
            line(500, "away"),
            line(4000, "away"),
            line(24_000, "down away-expired")
        ]
    );
}
