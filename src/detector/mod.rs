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
use std::collections::{BTreeMap, BinaryHeap, VecDeque};
use std::hash::{BuildHasher, RandomState};
use std::net::SocketAddr;

use compact_str::CompactString;
use hashbrown::HashTable;
use serde::Serialize;
use serde_json::value::RawValue;

use crate::checks::{worst, CheckResult, CheckStatus};
use crate::clock::Millis;
use crate::output::{round, serialize_rfc3339_opt};
use crate::phi::{Arrivals, Phi, PhiConfig};
use crate::replay::{Claim, Freshness, LastSeen};
use crate::wire::{Beat, Reject};

/// How the detector judges silence.
#[derive(Debug, Clone)]
pub struct Config {
    pub rule: Rule,
    /// The interval of a node whose beats do not say theirs, and of an
    /// expected node that has never beaten.
    pub default_every_ms: Millis,
    /// Emit a `beat` event for every beat (`hb-listen --beats`).
    pub emit_beats: bool,
    /// Consecutive beats a down node needs before it is `up` again (flap
    /// damping); 1 means the first beat brings it back.
    pub up_after: u32,
    /// When to report `flapping`; None never does.
    pub flap: Option<Flap>,
    /// Nodes tracked at most: a flood of invented names cannot exhaust
    /// memory. Capped at `u32::MAX`, the index's width.
    pub max_nodes: usize,
}

/// Where a beat comes from, and so which checks it must pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trust {
    /// From the network: replay protection applies (seq must grow within
    /// a boot; with `max_skew_ms`, a new boot's clock must be that close).
    Network { max_skew_ms: Option<u64> },
    /// From a recording the operator gave us: only the node limit.
    Recording,
}

/// What makes a silence a failure.
#[derive(Debug, Clone, PartialEq)]
pub enum Rule {
    /// `down` after `misses` of the node's intervals; `suspect` once a beat
    /// is half an interval late.
    Fixed { misses: u32 },
    /// `suspect` and `down` at phi thresholds (see [`crate::phi`]).
    Phi(PhiConfig),
}

/// A node is flapping when it changes between up and down more than
/// `changes` times within `window_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flap {
    pub changes: u32,
    pub window_ms: Millis,
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
        /// With the phi detector: phi now.
        #[serde(skip_serializing_if = "Option::is_none")]
        phi: Option<f64>,
    },
    /// `misses` intervals of silence (or phi at its threshold).
    Down {
        node: String,
        addr: Option<SocketAddr>,
        silent_ms: Millis,
        missed: u64,
        /// Receiver wall clock at the last beat; null if never seen.
        #[serde(serialize_with = "serialize_rfc3339_opt")]
        last_seen: Option<u64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        phi: Option<f64>,
    },
    /// The node's worst plugin check status changed (its beats carry
    /// `checks`): alive, but healthy or not.
    Health {
        node: String,
        addr: Option<SocketAddr>,
        status: CheckStatus,
        #[serde(skip_serializing_if = "Option::is_none")]
        was: Option<CheckStatus>,
        checks: Vec<CheckResult>,
    },
    /// The node went between up and down more than `changes` times
    /// within `window_ms`; printed once, again only after it calmed down.
    Flapping {
        node: String,
        addr: Option<SocketAddr>,
        changes: usize,
        window_ms: Millis,
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
        #[serde(skip_serializing_if = "Option::is_none")]
        checks: Option<Vec<CheckResult>>,
    },
}

impl Event {
    /// The `type` of its line.
    pub fn kind(&self) -> &'static str {
        match self {
            Event::Up { .. } => "up",
            Event::Suspect { .. } => "suspect",
            Event::Down { .. } => "down",
            Event::Restart { .. } => "restart",
            Event::Beat { .. } => "beat",
            Event::Health { .. } => "health",
            Event::Flapping { .. } => "flapping",
        }
    }

    pub fn node(&self) -> &str {
        match self {
            Event::Up { node, .. }
            | Event::Suspect { node, .. }
            | Event::Down { node, .. }
            | Event::Restart { node, .. }
            | Event::Beat { node, .. }
            | Event::Health { node, .. }
            | Event::Flapping { node, .. } => node,
        }
    }
}

struct Node {
    /// Stored here only (the index holds positions): names of up to 24
    /// bytes, the usual host names, need no allocation at all.
    name: CompactString,
    addr: Option<SocketAddr>,
    /// Its boot id and highest seq: restarts, gaps and replay protection.
    last: LastSeen,
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
    /// Silence after which the node is suspect, then down: fixed by the
    /// rule, or computed from its arrivals at each beat (phi).
    suspect_after: Millis,
    down_after: Millis,
    /// Inter-arrival times (phi only).
    arrivals: Option<Box<Arrivals>>,
    /// Beats counted toward `up_after` while down.
    recovering: u32,
    /// When the node last changed between up and down (flap detection);
    /// allocated at its first change, as most nodes never change.
    // Boxed: 8 bytes instead of 32 in every node, most of which never flap.
    #[allow(clippy::box_collection)]
    changes: Option<Box<VecDeque<Millis>>>,
    flapping: bool,
    /// The last plugin checks it sent, and their worst status.
    checks: Option<Vec<CheckResult>>,
}

/// Per-node liveness state and the deadlines that turn silence into verdicts.
pub struct Detector {
    cfg: Config,
    /// When watching started: an expected node's silence counts from here.
    started: Millis,
    /// Never shrinks: a node's position is its identity for the index
    /// and the timers.
    nodes: Vec<Node>,
    /// Positions in `nodes`, found by name: 4 bytes a node instead of a
    /// second copy of every name. Keyed with SipHash, as the names come
    /// from the network (no hash flooding).
    index: HashTable<u32>,
    hasher: RandomState,
    timers: BinaryHeap<Reverse<(Millis, usize)>>,
}

impl Detector {
    pub fn new(mut cfg: Config, now: Millis) -> Self {
        cfg.max_nodes = cfg.max_nodes.min(u32::MAX as usize);
        Detector {
            cfg,
            started: now,
            nodes: Vec::new(),
            index: HashTable::new(),
            hasher: RandomState::new(),
            timers: BinaryHeap::new(),
        }
    }

    /// The position of the node called `name`.
    fn find(&self, name: &str) -> Option<usize> {
        let hash = self.hasher.hash_one(name);
        let nodes = &self.nodes;
        self.index
            .find(hash, |&i| nodes[i as usize].name == name)
            .map(|&i| i as usize)
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
    /// `down` after `misses` default intervals. Beyond `max_nodes`, refused.
    pub fn expect(&mut self, name: &str) -> Result<(), Reject> {
        if self.find(name).is_some() {
            return Ok(());
        }
        if self.nodes.len() >= self.cfg.max_nodes {
            return Err(Reject::TooManyNodes);
        }
        let idx = self.insert(name, State::Pending);
        self.arm(idx);
        Ok(())
    }

    /// Whether a beat may be observed: the node limit, and for a beat from
    /// the network replay protection.
    pub fn admit(&self, beat: &Beat<'_>, wall_ms: u64, trust: Trust) -> Result<(), Reject> {
        self.check(self.find(&beat.node), beat, wall_ms, trust)
    }

    /// A beat as it arrives, with one lookup of its node: the checks of
    /// [`Detector::admit`]; then the deadlines that passed while it was on
    /// its way (the silence did reach it); then [`Detector::observe`].
    pub fn receive(
        &mut self,
        now: Millis,
        wall_ms: u64,
        addr: Option<SocketAddr>,
        beat: &Beat<'_>,
        trust: Trust,
        out: &mut Vec<Event>,
    ) -> Result<(), Reject> {
        let position = self.find(&beat.node);
        self.check(position, beat, wall_ms, trust)?;
        self.expire(now, out);
        self.record(position, now, wall_ms, addr, beat, out);
        Ok(())
    }

    fn check(
        &self,
        position: Option<usize>,
        beat: &Beat<'_>,
        wall_ms: u64,
        trust: Trust,
    ) -> Result<(), Reject> {
        let known = position.map(|i| &self.nodes[i]);
        if known.is_none() && self.nodes.len() >= self.cfg.max_nodes {
            return Err(Reject::TooManyNodes);
        }
        let Trust::Network { max_skew_ms } = trust else {
            return Ok(());
        };
        let fresh = Freshness {
            now_wall_ms: wall_ms,
            max_skew_ms,
        };
        LastSeen::admits(known.map(|n| &n.last), &claim_of(beat), fresh)
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
        self.record(self.find(&beat.node), now, wall_ms, addr, beat, out);
    }

    /// [`Detector::observe`] for a node whose position is already known
    /// (None: a new node).
    fn record(
        &mut self,
        position: Option<usize>,
        now: Millis,
        wall_ms: u64,
        addr: Option<SocketAddr>,
        beat: &Beat<'_>,
        out: &mut Vec<Event>,
    ) {
        let idx = match position {
            Some(idx) => idx,
            None => self.insert(&beat.node, State::Pending),
        };
        let emit_beats = self.cfg.emit_beats;
        let default_every = self.cfg.default_every_ms;
        let node = &mut self.nodes[idx];

        let mut gap = 0;
        match (&node.last.boot, beat.boot.as_deref()) {
            (Some(old), Some(new)) if **old != *new => {
                out.push(Event::Restart {
                    node: node.name.to_string(),
                    addr,
                    old_boot: old.to_string(),
                    new_boot: new.to_owned(),
                });
            }
            _ => {
                if let (Some(last), Some(seq)) = (node.last.seq, beat.seq) {
                    gap = seq.saturating_sub(last).saturating_sub(1);
                }
            }
        }

        let silent_ms = node.last_seen.map(|t| now.saturating_sub(t));
        // An outage is not a sample of the node's cadence: learning it
        // would make phi lax for a long while after every failure.
        if let (Some(arrivals), Some(silent), false) =
            (&mut node.arrivals, silent_ms, node.state == State::Down)
        {
            arrivals.push(silent.min(u64::from(u32::MAX)) as u32);
        }
        if node.state == State::Down {
            node.recovering += 1;
        }
        let back = match node.state {
            State::Up => false,
            State::Pending => {
                out.push(Event::Up {
                    node: node.name.to_string(),
                    addr,
                    was: None,
                    silent_ms: None,
                    down_ms: None,
                });
                true
            }
            // Flap damping: a down node stays down until enough beats.
            State::Down if node.recovering < self.cfg.up_after => false,
            was @ (State::Suspect | State::Down) => {
                out.push(Event::Up {
                    node: node.name.to_string(),
                    addr,
                    was: Some(was),
                    silent_ms,
                    down_ms: (was == State::Down).then(|| now.saturating_sub(node.since)),
                });
                if was == State::Down {
                    note_change(node, now, self.cfg.flap, out);
                }
                true
            }
        };
        if back {
            node.state = State::Up;
            node.since = now;
            node.recovering = 0;
        }

        node.last.remember(&claim_of(beat));
        let every_ms = beat.every_ms.unwrap_or(default_every).max(1);
        if let (Rule::Phi(cfg), true) = (&self.cfg.rule, every_ms != node.every_ms) {
            // Phi's prior comes from the declared interval: a node that
            // beats every 4 s is not judged by a 1 s guess (nor by what it
            // did under an interval it no longer declares).
            node.arrivals = Some(Box::new(Arrivals::new(cfg.window, every_ms)));
        }
        node.every_ms = every_ms;
        (node.suspect_after, node.down_after) = patience(&self.cfg.rule, node);
        node.addr = addr;
        node.last_seen = Some(now);
        node.last_seen_wall = Some(wall_ms);
        if let Some(health) = beat.health {
            node.health = Some(health.to_owned());
        }
        if let Some(checks) = &beat.checks {
            let was = node.checks.as_deref().and_then(worst);
            let status = worst(checks).unwrap_or(CheckStatus::Ok);
            if was != Some(status) {
                out.push(Event::Health {
                    node: node.name.to_string(),
                    addr,
                    status,
                    was,
                    checks: checks.clone(),
                });
            }
            node.checks = Some(checks.clone());
        }
        if emit_beats {
            out.push(Event::Beat {
                node: node.name.to_string(),
                addr,
                seq: beat.seq,
                gap,
                boot: node.last.boot.as_deref().map(str::to_owned),
                every_ms: node.every_ms,
                health: beat.health.map(ToOwned::to_owned),
                checks: beat.checks.clone(),
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
            let healthy = node
                .checks
                .as_deref()
                .and_then(worst)
                .is_none_or(|s| s == CheckStatus::Ok);
            let list = match node.state {
                State::Pending => &mut snap.pending,
                State::Up if !healthy => &mut snap.degraded,
                State::Up => &mut snap.up,
                State::Suspect => &mut snap.suspect,
                State::Down => &mut snap.down,
            };
            list.push(&node.name);
            snap.nodes.insert(&node.name, self.view_of(node, now));
        }
        for list in [
            &mut snap.up,
            &mut snap.degraded,
            &mut snap.suspect,
            &mut snap.down,
            &mut snap.pending,
        ] {
            list.sort_unstable();
        }
        snap
    }

    /// A node's state for export: its detector state, or `degraded` when
    /// up with a plugin check not ok.
    pub fn routing_state(&self, name: &str) -> Option<&'static str> {
        let node = &self.nodes[self.find(name)?];
        let healthy = node
            .checks
            .as_deref()
            .and_then(worst)
            .is_none_or(|s| s == CheckStatus::Ok);
        Some(match node.state {
            State::Pending => "pending",
            State::Up if !healthy => "degraded",
            State::Up => "up",
            State::Suspect => "suspect",
            State::Down => "down",
        })
    }

    /// One node's details, as in a snapshot.
    pub fn node(&self, name: &str, now: Millis) -> Option<NodeView<'_>> {
        let node = &self.nodes[self.find(name)?];
        Some(self.view_of(node, now))
    }

    /// Every node's name and state.
    pub fn states(&self) -> impl Iterator<Item = (&str, State)> {
        self.nodes.iter().map(|n| (&*n.name, n.state))
    }

    fn view_of<'a>(&self, node: &'a Node, now: Millis) -> NodeView<'a> {
        NodeView {
            state: node.state,
            addr: node.addr,
            every_ms: node.every_ms,
            seq: node.last.seq,
            boot: node.last.boot.as_deref(),
            last_seen: node.last_seen_wall,
            silent_ms: now.saturating_sub(node.last_seen.unwrap_or(self.started)),
            health: node.health.as_deref(),
            checks: node.checks.as_deref(),
            phi: match &self.cfg.rule {
                Rule::Phi(cfg) => {
                    let silent = now.saturating_sub(node.last_seen.unwrap_or(self.started));
                    phi_of(cfg, node, silent)
                }
                Rule::Fixed { .. } => None,
            },
        }
    }

    fn insert(&mut self, name: &str, state: State) -> usize {
        let idx = self.nodes.len();
        let every_ms = self.cfg.default_every_ms.max(1);
        self.nodes.push(Node {
            name: name.into(),
            addr: None,
            last: LastSeen::default(),
            every_ms,
            last_seen: None,
            last_seen_wall: None,
            state,
            since: self.started,
            health: None,
            armed_at: None,
            suspect_after: 0,
            down_after: 0,
            arrivals: match &self.cfg.rule {
                Rule::Phi(cfg) => Some(Box::new(Arrivals::new(cfg.window, every_ms))),
                Rule::Fixed { .. } => None,
            },
            recovering: 0,
            changes: None,
            flapping: false,
            checks: None,
        });
        let node = &mut self.nodes[idx];
        (node.suspect_after, node.down_after) = patience(&self.cfg.rule, node);
        let position = u32::try_from(idx).expect("max_nodes fits the index");
        let nodes = &self.nodes;
        let hasher = &self.hasher;
        self.index
            .insert_unique(hasher.hash_one(name), position, |&i| {
                hasher.hash_one(nodes[i as usize].name.as_str())
            });
        idx
    }

    /// When the node's next verdict is due, given its state; None when no
    /// verdict can come without a beat.
    fn deadline(&self, idx: usize) -> Option<Millis> {
        let node = &self.nodes[idx];
        let base = node.last_seen.unwrap_or(self.started);
        let down = base.saturating_add(node.down_after);
        let suspect = base.saturating_add(node.suspect_after);
        match node.state {
            State::Up if suspect < down => Some(suspect),
            State::Up | State::Suspect | State::Pending => Some(down),
            // A recovering node whose beats stop again starts over.
            State::Down if node.recovering > 0 => Some(suspect),
            State::Down => None,
        }
    }

    fn fire(&mut self, idx: usize, now: Millis, out: &mut Vec<Event>) {
        let started = self.started;
        let phi_cfg = match &self.cfg.rule {
            Rule::Phi(cfg) => Some(cfg),
            Rule::Fixed { .. } => None,
        };
        let node = &mut self.nodes[idx];
        let silent_ms = now.saturating_sub(node.last_seen.unwrap_or(started));
        let phi = phi_cfg.and_then(|cfg| phi_of(cfg, node, silent_ms));
        match node.state {
            State::Down => {
                node.recovering = 0;
                return;
            }
            State::Up if silent_ms < node.down_after => {
                node.state = State::Suspect;
                out.push(Event::Suspect {
                    node: node.name.to_string(),
                    addr: node.addr,
                    silent_ms,
                    phi,
                });
            }
            _ => {
                let was_up = node.state != State::Pending;
                node.state = State::Down;
                out.push(Event::Down {
                    node: node.name.to_string(),
                    addr: node.addr,
                    silent_ms,
                    missed: silent_ms / node.every_ms,
                    last_seen: node.last_seen_wall,
                    phi,
                });
                if was_up {
                    note_change(node, now, self.cfg.flap, out);
                }
            }
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
        // Stale entries (a node re-armed earlier) pop and vanish in time,
        // but one far in the future would stay: a sender shrinking its
        // every_ms beat after beat must not grow the heap without bound.
        if self.timers.len() > 2 * self.nodes.len() + 64 {
            let nodes = &self.nodes;
            self.timers
                .retain(|Reverse((at, idx))| nodes[*idx].armed_at == Some(*at));
        }
    }
}

/// What a beat says for replay protection.
fn claim_of<'a>(beat: &'a Beat<'_>) -> Claim<'a> {
    Claim {
        boot: beat.boot.as_deref(),
        seq: beat.seq,
        ts_ms: beat.ts_ms,
    }
}

/// The silences after which `node` is suspect and down under `rule`.
fn patience(rule: &Rule, node: &Node) -> (Millis, Millis) {
    let every = node.every_ms;
    match rule {
        Rule::Fixed { misses } => (
            // A beat counts as missed once it is half an interval late:
            // jitter of a few milliseconds must not make nodes flap.
            every.saturating_add(every / 2),
            every.saturating_mul((*misses).into()),
        ),
        Rule::Phi(cfg) => {
            let arrivals = node.arrivals.as_deref().expect("phi nodes keep arrivals");
            let phi = Phi { cfg, arrivals };
            (phi.silence_for(cfg.suspect), phi.silence_for(cfg.threshold))
        }
    }
}

/// phi after `silent_ms`, rounded to 2 decimals for display.
fn phi_of(cfg: &PhiConfig, node: &Node, silent_ms: Millis) -> Option<f64> {
    let arrivals = node.arrivals.as_deref()?;
    let phi = Phi { cfg, arrivals }.at(silent_ms as f64);
    Some(round(phi, 2))
}

/// Records a change between up and down at `now`; reports `flapping` when
/// there were too many within the window (once, until it calms down).
fn note_change(node: &mut Node, now: Millis, flap: Option<Flap>, out: &mut Vec<Event>) {
    let Some(flap) = flap else {
        return;
    };
    let changes = node.changes.get_or_insert_with(Default::default);
    changes.push_back(now);
    while changes
        .front()
        .is_some_and(|&t| now.saturating_sub(t) > flap.window_ms)
    {
        changes.pop_front();
    }
    // Only the last changes + 1 matter: memory stays bounded.
    while changes.len() > flap.changes as usize + 1 {
        changes.pop_front();
    }
    let count = changes.len();
    let too_many = count > flap.changes as usize;
    if too_many && !node.flapping {
        out.push(Event::Flapping {
            node: node.name.to_string(),
            addr: node.addr,
            changes: count,
            window_ms: flap.window_ms,
        });
    }
    node.flapping = too_many;
}

/// Who is up, suspect, down and pending, and each node's details.
#[derive(Debug, Default, Serialize)]
pub struct Snapshot<'a> {
    /// Up and healthy: can take requests.
    pub up: Vec<&'a str>,
    /// Up, but a plugin check is not ok.
    pub degraded: Vec<&'a str>,
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
    /// With the phi detector: phi now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phi: Option<f64>,
    /// The last plugin checks it sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checks: Option<&'a [CheckResult]>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn cfg(misses: u32) -> Config {
        Config {
            rule: Rule::Fixed { misses },
            default_every_ms: 1000,
            emit_beats: false,
            up_after: 1,
            flap: None,
            max_nodes: 1000,
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
            checks: None,
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
    fn expected_node_that_beats_is_simply_up() {
        let mut sim = Sim::new(4);
        sim.det.expect("web").unwrap();
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
            sim.beat(i * 1000, beat("a", i + 1, "b", 1000));
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
            sim.beat(t, beat("jittery", i + 1, "b", 1000));
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
        sim.beat(0, beat("a", 1, "b", 100));
        sim.advance(1000); // down at 200
        sim.beat(1000, beat("a", 2, "b", 100));
        sim.beat(1100, beat("a", 3, "b", 100));
        // A gap of more than 1.5 intervals starts the count over.
        sim.beat(1400, beat("a", 4, "b", 100));
        sim.beat(1500, beat("a", 5, "b", 100));
        sim.beat(1600, beat("a", 6, "b", 100));
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
            sim.beat(cycle * 300, beat("a", cycle + 1, "b", 100));
        }
        let Event::Flapping { changes, .. } = &sim.last[1] else {
            panic!("{:?}", sim.last)
        };
        assert_eq!(*changes, 4);
        // Still flapping: not reported again.
        sim.beat(900, beat("a", 4, "b", 100));
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
        det.observe(0, 0, None, &beat("a", 5, "b1", 1000), &mut out);
        assert_eq!(
            det.admit(&beat("a", 5, "b1", 1000), 0, NETWORK),
            Err(Reject::Replay)
        );
        assert_eq!(
            det.admit(&beat("a", 4, "b1", 1000), 0, NETWORK),
            Err(Reject::Replay)
        );
        assert_eq!(det.admit(&beat("a", 6, "b1", 1000), 0, NETWORK), Ok(()));
        assert_eq!(
            det.admit(&beat("a", 1, "b2", 1000), 0, NETWORK),
            Ok(()),
            "a restart"
        );
        det.expect("x").unwrap();
        assert_eq!(
            det.admit(&beat("new", 1, "b", 1000), 0, NETWORK),
            Err(Reject::TooManyNodes)
        );
        assert_eq!(det.expect("y"), Err(Reject::TooManyNodes));
        assert_eq!(
            det.admit(&beat("x", 1, "b", 1000), 0, NETWORK),
            Ok(()),
            "known nodes still beat"
        );
    }

    /// A sender that shrinks its every_ms at each beat moves its deadline
    /// earlier each time, so each beat pushes a heap entry and leaves the
    /// previous one stale, far in the future where it would never pop.
    /// The heap is compacted past 2 x nodes + 64 entries, keeping the live
    /// entries: verdicts still come on time.
    #[test]
    fn a_shrinking_interval_does_not_grow_the_timer_heap() {
        let mut sim = Sim::new(5);
        sim.beat(0, beat("steady", 1, "b", 1000));
        let bound = 2 * 2 + 64;
        let mut most = 0;
        let (mut t, mut every) = (0, 1_000_000);
        for seq in 1..=1000 {
            // Deadline t + 1.5 every: 149 ms earlier at each beat.
            sim.beat(t, beat("shrinking", seq, "b", every));
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
