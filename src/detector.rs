//! The failure detector: turns a stream of beats and the passing of time
//! into `up`, `suspect`, `down` and `restart` verdicts.
//!
//! The rule is the seed's: one missed beat makes a node `suspect`, but it is
//! declared `down` only after `misses` of its own intervals of silence,
//! because networks are flaky. Each node's interval comes from its beats, so
//! one listener watches a 100 ms node and an hourly cron job side by side.
//!
//! Time is passed in ([`Millis`] on a monotonic clock), so this module is
//! pure and tested with a fake clock. Deadlines live in a min-heap with at
//! most one entry per node: a beat only moves the node's deadline, and an
//! entry that fires early re-arms itself, so a beat costs O(1) and a
//! verdict O(log n), with no periodic scan of the table.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap};
use std::net::SocketAddr;

use serde::Serialize;
use serde_json::value::RawValue;

use crate::clock::Millis;
use crate::output::serialize_rfc3339_opt;
use crate::wire::Beat;

/// How the detector judges silence.
#[derive(Debug, Clone)]
pub struct Config {
    /// Intervals of silence before `down`.
    pub misses: u32,
    /// The interval of a node whose beats do not say theirs, and of an
    /// expected node that has never beaten.
    pub default_every_ms: Millis,
    /// Emit a `beat` event for every beat (`hb-listen --beats`).
    pub emit_beats: bool,
}

/// Where a node stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// Expected (`--expect`) but not heard from yet.
    Pending,
    Up,
    /// At least one beat is overdue; not yet `down`.
    Suspect,
    Down,
}

/// A verdict or observation, serialized as an output line.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Event {
    /// First beat, or back from `suspect` or `down`.
    Up {
        node: String,
        addr: Option<SocketAddr>,
        #[serde(skip_serializing_if = "Option::is_none")]
        was: Option<State>,
        /// Silence that just ended (absent on a first beat).
        #[serde(skip_serializing_if = "Option::is_none")]
        silent_ms: Option<Millis>,
        /// How long the node was declared down.
        #[serde(skip_serializing_if = "Option::is_none")]
        down_ms: Option<Millis>,
    },
    /// The first beat is overdue.
    Suspect {
        node: String,
        addr: Option<SocketAddr>,
        silent_ms: Millis,
    },
    /// `misses` intervals of silence.
    Down {
        node: String,
        addr: Option<SocketAddr>,
        silent_ms: Millis,
        missed: u64,
        /// Receiver wall clock at the last beat; null if never seen.
        #[serde(serialize_with = "serialize_rfc3339_opt")]
        last_seen: Option<u64>,
    },
    /// The node's boot id changed: it restarted, however quickly.
    Restart {
        node: String,
        addr: Option<SocketAddr>,
        old_boot: String,
        new_boot: String,
    },
    /// One beat (only with [`Config::emit_beats`]).
    Beat {
        node: String,
        addr: Option<SocketAddr>,
        #[serde(skip_serializing_if = "Option::is_none")]
        seq: Option<u64>,
        /// Beats lost since the previous one of the same boot.
        gap: u64,
        #[serde(skip_serializing_if = "Option::is_none")]
        boot: Option<String>,
        every_ms: Millis,
        #[serde(skip_serializing_if = "Option::is_none")]
        health: Option<Box<RawValue>>,
    },
}

struct Node {
    name: String,
    addr: Option<SocketAddr>,
    boot: Option<String>,
    seq: Option<u64>,
    every_ms: Millis,
    /// Monotonic time of the last beat; None for a pending node.
    last_seen: Option<Millis>,
    /// Receiver wall clock at the last beat, for display.
    last_seen_wall: Option<u64>,
    state: State,
    /// When the node entered its current state.
    since: Millis,
    health: Option<Box<RawValue>>,
    /// The deadline of this node's heap entry, if it has one. A heap entry
    /// with another deadline is stale and skipped.
    armed_at: Option<Millis>,
}

/// Per-node liveness state and the deadlines that turn silence into verdicts.
pub struct Detector {
    cfg: Config,
    /// When watching started: an expected node's silence counts from here.
    started: Millis,
    nodes: Vec<Node>,
    index: HashMap<String, usize>,
    timers: BinaryHeap<Reverse<(Millis, usize)>>,
}

impl Detector {
    pub fn new(cfg: Config, now: Millis) -> Self {
        Detector {
            cfg,
            started: now,
            nodes: Vec::new(),
            index: HashMap::new(),
            timers: BinaryHeap::new(),
        }
    }

    /// Moves the start of watching to `now`, for a replay whose clock is
    /// known only at its first line; expected nodes' deadlines move with it.
    pub fn set_start(&mut self, now: Millis) {
        self.started = now;
        self.timers.clear();
        for idx in 0..self.nodes.len() {
            self.nodes[idx].since = now;
            self.nodes[idx].armed_at = None;
            self.arm(idx);
        }
    }

    /// Declares a node that must exist: if it never beats, it is reported
    /// `down` after `misses` default intervals.
    pub fn expect(&mut self, name: &str) {
        if self.index.contains_key(name) {
            return;
        }
        let idx = self.insert(name, State::Pending);
        self.arm(idx);
    }

    /// Records a beat received at `now` (wall clock `wall_ms`) from `addr`.
    pub fn observe(
        &mut self,
        now: Millis,
        wall_ms: u64,
        addr: Option<SocketAddr>,
        beat: &Beat<'_>,
        out: &mut Vec<Event>,
    ) {
        let idx = match self.index.get(beat.node.as_ref()) {
            Some(&idx) => idx,
            None => self.insert(&beat.node, State::Pending),
        };
        let emit_beats = self.cfg.emit_beats;
        let default_every = self.cfg.default_every_ms;
        let node = &mut self.nodes[idx];

        let mut gap = 0;
        match (&node.boot, beat.boot.as_deref()) {
            (Some(old), Some(new)) if old != new => {
                out.push(Event::Restart {
                    node: node.name.clone(),
                    addr,
                    old_boot: old.clone(),
                    new_boot: new.to_owned(),
                });
                node.seq = None;
            }
            _ => {
                if let (Some(last), Some(seq)) = (node.seq, beat.seq) {
                    gap = seq.saturating_sub(last).saturating_sub(1);
                }
            }
        }

        let silent_ms = node.last_seen.map(|t| now.saturating_sub(t));
        match node.state {
            State::Up => {}
            State::Pending => out.push(Event::Up {
                node: node.name.clone(),
                addr,
                was: None,
                silent_ms: None,
                down_ms: None,
            }),
            was @ (State::Suspect | State::Down) => out.push(Event::Up {
                node: node.name.clone(),
                addr,
                was: Some(was),
                silent_ms,
                down_ms: (was == State::Down).then(|| now.saturating_sub(node.since)),
            }),
        }
        if node.state != State::Up {
            node.state = State::Up;
            node.since = now;
        }

        if let Some(boot) = beat.boot.as_deref() {
            if node.boot.as_deref() != Some(boot) {
                node.boot = Some(boot.to_owned());
            }
        }
        // A reordered or duplicated beat still proves life but must not move
        // the sequence backwards (that would count phantom gaps later).
        if let Some(seq) = beat.seq {
            node.seq = Some(node.seq.map_or(seq, |last| last.max(seq)));
        }
        node.every_ms = beat.every_ms.unwrap_or(default_every).max(1);
        node.addr = addr;
        node.last_seen = Some(now);
        node.last_seen_wall = Some(wall_ms);
        if let Some(health) = beat.health {
            node.health = Some(health.to_owned());
        }
        if emit_beats {
            out.push(Event::Beat {
                node: node.name.clone(),
                addr,
                seq: beat.seq,
                gap,
                boot: node.boot.clone(),
                every_ms: node.every_ms,
                health: beat.health.map(ToOwned::to_owned),
            });
        }
        self.arm(idx);
    }

    /// The earliest time [`Detector::expire`] may have something to do.
    pub fn next_deadline(&self) -> Option<Millis> {
        self.timers.peek().map(|Reverse((at, _))| *at)
    }

    /// Turns every deadline reached by `now` into its verdict.
    pub fn expire(&mut self, now: Millis, out: &mut Vec<Event>) {
        while let Some(&Reverse((at, idx))) = self.timers.peek() {
            if at > now {
                break;
            }
            self.timers.pop();
            let node = &mut self.nodes[idx];
            if node.armed_at != Some(at) {
                continue; // stale: the node was re-armed since
            }
            node.armed_at = None;
            // Beats since this entry was pushed may have moved the deadline.
            match self.deadline(idx) {
                Some(due) if due > now => self.push_timer(idx, due),
                Some(_) => {
                    self.fire(idx, now, out);
                    self.arm(idx);
                }
                None => {}
            }
        }
    }

    /// Membership as it stands: for routing decisions and `status` lines.
    pub fn snapshot(&self, now: Millis) -> Snapshot<'_> {
        let mut snap = Snapshot::default();
        for node in &self.nodes {
            let list = match node.state {
                State::Pending => &mut snap.pending,
                State::Up => &mut snap.up,
                State::Suspect => &mut snap.suspect,
                State::Down => &mut snap.down,
            };
            list.push(&node.name);
            snap.nodes.insert(&node.name, self.view_of(node, now));
        }
        for list in [
            &mut snap.up,
            &mut snap.suspect,
            &mut snap.down,
            &mut snap.pending,
        ] {
            list.sort_unstable();
        }
        snap
    }

    /// One node's details, as in a snapshot.
    pub fn node(&self, name: &str, now: Millis) -> Option<NodeView<'_>> {
        let node = &self.nodes[*self.index.get(name)?];
        Some(self.view_of(node, now))
    }

    /// Every node's name and state.
    pub fn states(&self) -> impl Iterator<Item = (&str, State)> {
        self.nodes.iter().map(|n| (n.name.as_str(), n.state))
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    fn view_of<'a>(&self, node: &'a Node, now: Millis) -> NodeView<'a> {
        NodeView {
            state: node.state,
            addr: node.addr,
            every_ms: node.every_ms,
            seq: node.seq,
            boot: node.boot.as_deref(),
            last_seen: node.last_seen_wall,
            silent_ms: now.saturating_sub(node.last_seen.unwrap_or(self.started)),
            health: node.health.as_deref(),
        }
    }

    fn insert(&mut self, name: &str, state: State) -> usize {
        let idx = self.nodes.len();
        self.nodes.push(Node {
            name: name.to_owned(),
            addr: None,
            boot: None,
            seq: None,
            every_ms: self.cfg.default_every_ms.max(1),
            last_seen: None,
            last_seen_wall: None,
            state,
            since: self.started,
            health: None,
            armed_at: None,
        });
        self.index.insert(name.to_owned(), idx);
        idx
    }

    /// When the node's next verdict is due, given its state; None when no
    /// verdict can come without a beat.
    fn deadline(&self, idx: usize) -> Option<Millis> {
        let node = &self.nodes[idx];
        let base = node.last_seen.unwrap_or(self.started);
        let every = node.every_ms;
        let down = base.saturating_add(every.saturating_mul(self.cfg.misses.into()));
        // A beat counts as missed once it is half an interval late: jitter
        // of a few milliseconds must not make every node flap to suspect.
        let suspect = base.saturating_add(every).saturating_add(every / 2);
        match node.state {
            State::Up if suspect < down => Some(suspect),
            State::Up | State::Suspect | State::Pending => Some(down),
            State::Down => None,
        }
    }

    fn fire(&mut self, idx: usize, now: Millis, out: &mut Vec<Event>) {
        let misses = self.cfg.misses;
        let started = self.started;
        let node = &mut self.nodes[idx];
        let silent_ms = now.saturating_sub(node.last_seen.unwrap_or(started));
        let down_at = node.every_ms.saturating_mul(misses.into());
        if node.state == State::Up && silent_ms < down_at {
            node.state = State::Suspect;
            out.push(Event::Suspect {
                node: node.name.clone(),
                addr: node.addr,
                silent_ms,
            });
        } else {
            node.state = State::Down;
            out.push(Event::Down {
                node: node.name.clone(),
                addr: node.addr,
                silent_ms,
                missed: silent_ms / node.every_ms,
                last_seen: node.last_seen_wall,
            });
        }
        node.since = now;
    }

    /// Makes sure the node has a heap entry no later than its deadline.
    fn arm(&mut self, idx: usize) {
        let Some(due) = self.deadline(idx) else {
            return;
        };
        // An existing earlier entry will fire, see the later deadline, and
        // re-arm: no need to push another.
        if self.nodes[idx].armed_at.is_some_and(|at| at <= due) {
            return;
        }
        self.push_timer(idx, due);
    }

    fn push_timer(&mut self, idx: usize, at: Millis) {
        self.nodes[idx].armed_at = Some(at);
        self.timers.push(Reverse((at, idx)));
    }
}

/// Who is up, suspect, down and pending, and each node's details.
#[derive(Debug, Default, Serialize)]
pub struct Snapshot<'a> {
    pub up: Vec<&'a str>,
    pub suspect: Vec<&'a str>,
    pub down: Vec<&'a str>,
    pub pending: Vec<&'a str>,
    pub nodes: BTreeMap<&'a str, NodeView<'a>>,
}

/// One node in a [`Snapshot`].
#[derive(Debug, Serialize)]
pub struct NodeView<'a> {
    pub state: State,
    pub addr: Option<SocketAddr>,
    pub every_ms: Millis,
    pub seq: Option<u64>,
    pub boot: Option<&'a str>,
    #[serde(serialize_with = "serialize_rfc3339_opt")]
    pub last_seen: Option<u64>,
    pub silent_ms: Millis,
    pub health: Option<&'a RawValue>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn cfg(misses: u32) -> Config {
        Config {
            misses,
            default_every_ms: 1000,
            emit_beats: false,
        }
    }

    fn beat<'a>(node: &'a str, seq: u64, boot: &'a str, every_ms: u64) -> Beat<'a> {
        Beat {
            node: node.into(),
            seq: Some(seq),
            boot: Some(boot.into()),
            every_ms: Some(every_ms),
            ts_ms: None,
            health: None,
            ack: false,
        }
    }

    /// A detector driven by a fake clock, recording (time, type, node).
    struct Sim {
        det: Detector,
        now: Millis,
        log: Vec<(Millis, &'static str, String)>,
        last: Vec<Event>,
    }

    impl Sim {
        fn new(misses: u32) -> Self {
            Sim {
                det: Detector::new(cfg(misses), 0),
                now: 0,
                log: Vec::new(),
                last: Vec::new(),
            }
        }

        /// Advances the clock to `t`, firing each deadline at its own time,
        /// as the real loop does when it sleeps until the next deadline.
        fn advance(&mut self, t: Millis) {
            while let Some(due) = self.det.next_deadline().filter(|&d| d <= t) {
                self.now = self.now.max(due);
                let mut out = Vec::new();
                self.det.expire(self.now, &mut out);
                self.record(out);
            }
            self.now = t;
        }

        fn beat(&mut self, t: Millis, b: Beat<'_>) {
            self.advance(t);
            let mut out = Vec::new();
            self.det.observe(t, t, None, &b, &mut out);
            self.record(out);
        }

        fn record(&mut self, out: Vec<Event>) {
            for e in &out {
                let (kind, node) = match e {
                    Event::Up { node, .. } => ("up", node),
                    Event::Suspect { node, .. } => ("suspect", node),
                    Event::Down { node, .. } => ("down", node),
                    Event::Restart { node, .. } => ("restart", node),
                    Event::Beat { node, .. } => ("beat", node),
                };
                self.log.push((self.now, kind, node.clone()));
            }
            self.last = out;
        }

        fn kinds(&self) -> Vec<(Millis, &str)> {
            self.log.iter().map(|(t, k, _)| (*t, *k)).collect()
        }
    }

    #[test]
    fn seed_scenario_suspect_then_down_after_exactly_n_intervals() {
        let mut sim = Sim::new(5);
        for i in 0..3 {
            sim.beat(i * 1000, beat("a", i + 1, "b1", 1000));
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
        sim.beat(0, beat("a", 1, "b", 1000));
        sim.beat(1000, beat("a", 2, "b", 1000));
        // seq 3 lost
        sim.beat(3000, beat("a", 4, "b", 1000));
        let Event::Up { was, silent_ms, .. } = &sim.last[0] else {
            panic!()
        };
        assert_eq!((*was, *silent_ms), (Some(State::Suspect), Some(2000)));
        sim.beat(4000, beat("a", 5, "b", 1000));
        sim.advance(4999);
        assert_eq!(
            sim.kinds(),
            vec![(0, "up"), (2500, "suspect"), (3000, "up")]
        );
    }

    #[test]
    fn back_up_after_down_reports_down_time() {
        let mut sim = Sim::new(3);
        sim.beat(0, beat("a", 1, "b", 100));
        sim.beat(1000, beat("a", 2, "b", 100));
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
        sim.beat(0, beat("a", 41, "old", 1000));
        sim.beat(1000, beat("a", 1, "new", 1000));
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
        sim.beat(0, beat("a", 9, "old", 100));
        sim.beat(5000, beat("a", 1, "new", 100));
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
        sim.det.expect("ghost");
        sim.det.expect("ghost");
        sim.advance(60_000);
        assert_eq!(sim.kinds(), vec![(4000, "down")]);
        let Event::Down {
            last_seen, addr, ..
        } = &sim.last[0]
        else {
            panic!()
        };
        assert_eq!((*last_seen, *addr), (None, None));
        assert_eq!(sim.det.len(), 1);
    }

    #[test]
    fn expected_node_that_beats_is_simply_up() {
        let mut sim = Sim::new(4);
        sim.det.expect("web");
        sim.beat(500, beat("web", 1, "b", 1000));
        let Event::Up { was, .. } = &sim.last[0] else {
            panic!()
        };
        assert_eq!(*was, None);
        assert_eq!(sim.det.snapshot(600).up, vec!["web"]);
    }

    #[test]
    fn each_node_is_judged_by_its_own_interval() {
        let mut sim = Sim::new(3);
        sim.beat(0, beat("fast", 1, "b", 100));
        sim.beat(0, beat("slow", 1, "b", 1000));
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
        sim.beat(0, beat("a", 1, "b", 100));
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
            det.observe(t, t, None, &beat("a", seq, "b", 1000), &mut out);
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
        let mut b = beat("b-node", 1, "x", 1000);
        b.health = Some(&health);
        let mut out = Vec::new();
        det.observe(0, 1_000, None, &b, &mut out);
        det.observe(0, 1_000, None, &beat("a-node", 1, "x", 100), &mut out);
        det.expect("c-node");
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
                sim.beat(t, beat("a", i as u64, "b", every));
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
}
