//! The failure detector: turns a stream of beats and the passing of time
//! into `up`, `suspect`, `down` and `restart` verdicts; and what nodes say
//! of themselves (`leave`, `away`) into `left` and `away`.
//!
//! One missed beat makes a node `suspect`, but it is declared `down` only
//! after `misses` of its own intervals of silence, because networks are
//! flaky. Each node's interval comes from its beats, so one listener
//! watches a 100 ms node and an hourly cron job side by side.
//!
//! Time is passed in ([`Millis`] on a monotonic clock), so this module is
//! pure and tested with a fake clock. Deadlines live in a min-heap with at
//! most one entry per node: a beat only moves the node's deadline, and an
//! entry that fires early re-arms itself, so a beat costs O(1) and a
//! verdict O(log n), with no periodic scan of the table.
//!
//! Here: the configuration and the [`Detector`]'s entry points. Beside it:
//! `event` (states and output lines), `table` (the node records, found by
//! name), `timers` (the deadline heap), `verdict` (what a beat or a silence
//! does to a node), `confirm` (what asking a suspect node found out),
//! `evidence` (when probes that went unanswered make a node down),
//! `lifecycle` (planned absences: leave, away and its deadline), `forget`
//! (nodes long gone leave the table), `restore` (a restart's nodes from the
//! state file), `job` (nodes that run now and then and state their next
//! deadline), `snapshot` (what the detector tells of its nodes) and
//! `stream` (the snapshot of a large fleet, serialized a slice at a time).

mod confirm;
mod event;
mod evidence;
mod faults;
mod forget;
mod job;
mod lifecycle;
mod path;
pub mod phi;
mod reading;
mod restore;
mod snapshot;
mod stream;
mod table;
mod timers;
mod verdict;

use std::net::{IpAddr, SocketAddr};

use crate::clock::{Millis, Moment};
use crate::net::pktinfo::{Local, Locals};
use crate::replay::{Claim, Freshness, LastSeen};
use crate::wire::{Beat, Message, Reject};
use phi::{Arrivals, PhiConfig};

pub use event::{Event, NoAnswer, State, KINDS};
pub use evidence::{answer_rate_after, probe_gap, Asked};
use faults::Faults;
use job::JobReport;
use job::Jobs;
pub use job::{JobState, JobView};
use lifecycle::Absences;
use lifecycle::Notice;
pub use reading::Reading;
pub use restore::{Restored, RestoredAway};
#[cfg(test)]
pub use snapshot::Snapshot;
pub use snapshot::{AwayView, NodeSample, NodeSamples, NodeView};
pub use stream::SnapshotStream;
use table::{Node, Table};
use timers::Timers;
use verdict::patience;

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

/// How a message reached the detector: when, from which address, to
/// which of this host's, and so which checks it must pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Arrival {
    pub at: Moment,
    pub from: Option<SocketAddr>,
    /// The listener's own address it was sent to, where the socket says:
    /// a suspect node is asked from there (see [`Detector::askable`]).
    pub to: Option<IpAddr>,
    pub trust: Trust,
    /// The datagram's size: what the sender spent, of which the listener
    /// may send back three times ([`Detector::spend`]); 0 for a message
    /// that did not come over the network.
    pub bytes: u32,
}

impl Arrival {
    pub fn new(at: Moment, from: Option<SocketAddr>, trust: Trust) -> Self {
        Arrival {
            at,
            from,
            to: None,
            trust,
            bytes: 0,
        }
    }

    /// The same arrival, sent to this host's address `to`.
    pub fn to(self, to: Option<IpAddr>) -> Self {
        Arrival { to, ..self }
    }

    /// The same arrival, in a datagram of `bytes` bytes.
    pub fn in_datagram(self, bytes: usize) -> Self {
        Arrival {
            bytes: u32::try_from(bytes).unwrap_or(u32::MAX),
            ..self
        }
    }
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

impl Trust {
    /// From the network without a key (a keyed listener sets a skew
    /// limit): anyone may have sent it, from any source address.
    pub fn unsigned(self) -> bool {
        self == Trust::Network { max_skew_ms: None }
    }
}

/// What makes a silence a failure.
#[derive(Debug, Clone, PartialEq)]
pub enum Rule {
    /// `down` after `misses` of the node's intervals; `suspect` once a beat
    /// is half an interval late.
    Fixed { misses: u32 },
    /// `suspect` and `down` at phi thresholds (see [`phi`]).
    Phi(PhiConfig),
}

/// A node is flapping when it changes between up and down more than
/// `changes` times within `window_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flap {
    pub changes: u32,
    pub window_ms: Millis,
}

/// Per-node liveness state and the deadlines that turn silence into verdicts.
pub struct Detector {
    cfg: Config,
    /// When watching started: an expected node's silence counts from here.
    started: Millis,
    nodes: Table,
    timers: Timers,
    /// The observer's own faults, so that they are never the nodes'.
    faults: Faults,
    /// A node down this long is forgotten; None: never.
    forget_after: Option<Millis>,
    /// Positions of nodes due to be forgotten ([`Detector::forget_due`]).
    forgettable: Vec<usize>,
    /// Nodes removed so far: positions held elsewhere are stale once it
    /// changes.
    removals: u64,
    /// The deadlines of nodes that announced an absence (`away`).
    absences: Absences,
    /// What is kept of the nodes that are jobs, and their deadlines.
    jobs: Jobs,
    /// Nodes in the table that are expected.
    expected: usize,
    /// Messages taken so far ([`Detector::take`]): each one moved what is
    /// known of its sender's boot and seq, which the state file must not
    /// fall behind.
    taken: u64,
    /// This host's addresses the nodes' messages were sent to, numbered
    /// so that a node keeps a byte, not an address.
    locals: Locals,
}

impl Detector {
    pub fn new(mut cfg: Config, now: Millis) -> Self {
        cfg.max_nodes = cfg.max_nodes.min(u32::MAX as usize);
        Detector {
            cfg,
            started: now,
            nodes: Table::new(),
            timers: Timers::new(),
            faults: Faults::default(),
            forget_after: None,
            forgettable: Vec::new(),
            removals: 0,
            absences: Absences::default(),
            jobs: Jobs::default(),
            expected: 0,
            taken: 0,
            locals: Locals::default(),
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
    /// `down` after `misses` default intervals. Expected nodes have a
    /// place of their own: `max_nodes` of them at most, beside the
    /// `max_nodes` others; beyond, refused.
    pub fn expect(&mut self, name: &str) -> Result<(), Reject> {
        self.expect_from(name, self.started)
    }

    /// Declares a node that must exist from `now` on (a reload added it):
    /// its silence counts from `now`. A node no longer expected that never
    /// beat ([`Detector::unexpect`]) is expected again, from `now`.
    pub fn expect_from(&mut self, name: &str, now: Millis) -> Result<(), Reject> {
        let position = self.nodes.find(name);
        if position.is_none_or(|i| !self.nodes[i].expected) && self.expected >= self.cfg.max_nodes {
            return Err(Reject::TooManyNodes);
        }
        if let Some(idx) = position {
            let node = &mut self.nodes[idx];
            self.expected += usize::from(!node.expected);
            node.expected = true;
            if node.state == State::Pending && node.armed_at.is_none() {
                node.since = now;
                self.arm(idx);
            }
            return Ok(());
        }
        let idx = self.insert(name, State::Pending);
        self.expected += 1;
        self.nodes[idx].expected = true;
        self.nodes[idx].since = now;
        self.arm(idx);
        Ok(())
    }

    /// Whether a beat may be observed: the node limit, and for a beat from
    /// the network replay protection.
    pub fn admit(&self, beat: &Beat<'_>, wall_ms: u64, trust: Trust) -> Result<(), Reject> {
        self.check(self.nodes.find(&beat.node), beat, wall_ms, trust)
    }

    /// A message as it arrives, the one way in for what nodes
    /// say of themselves: a beat, a `leave` or an `away`, a job's `start`
    /// or `done`. Each is checked like a beat (the node limit; from the
    /// network, replay protection on its claim), then the deadlines that
    /// passed while it was on its way fire (the silence did reach it),
    /// then it is judged. Any other message is not the detector's.
    pub fn take(
        &mut self,
        message: &Message<'_>,
        came: Arrival,
        out: &mut Vec<Event>,
    ) -> Result<(), Reject> {
        let taken = if let Message::Beat(beat) = message {
            self.receive(beat, came, out)
        } else if let Some(notice) = Notice::of(message) {
            self.announce(&notice, came, out)
        } else {
            match JobReport::of(message) {
                Some(report) => self.job(&report, came, out),
                None => Err(Reject::UnexpectedType),
            }
        };
        self.taken += u64::from(taken.is_ok());
        taken
    }

    /// How many messages [`Detector::take`] accepted so far: when it has
    /// not moved, no sender's boot or seq has either.
    pub fn taken(&self) -> u64 {
        self.taken
    }

    /// Nodes the table holds at most: `max_nodes` expected ones, and as
    /// many others.
    pub fn most_nodes(&self) -> usize {
        self.cfg.max_nodes.saturating_mul(2)
    }

    /// A beat as it arrives, with one lookup of its node: the checks of
    /// [`Detector::admit`]; then the deadlines that passed while it was on
    /// its way; then [`Detector::observe`].
    fn receive(
        &mut self,
        beat: &Beat<'_>,
        came: Arrival,
        out: &mut Vec<Event>,
    ) -> Result<(), Reject> {
        let position = self.nodes.find(&beat.node);
        self.check(position, beat, came.at.wall, came.trust)?;
        self.expire(came.at.mono, out);
        let to = self.locals.number(came.to);
        self.record(position, came, to, beat, out);
        Ok(())
    }

    fn check(
        &self,
        position: Option<usize>,
        beat: &Beat<'_>,
        wall_ms: u64,
        trust: Trust,
    ) -> Result<(), Reject> {
        self.room_for(position)?;
        let known = position.map(|i| &self.nodes[i].last);
        admits(known, &claim_of(beat), wall_ms, trust)
    }

    /// Refuses a node not tracked yet (`position` None) once the table
    /// holds `max_nodes` besides the expected ones: a flood of invented
    /// names cannot exhaust memory, nor take the expected nodes' places.
    fn room_for(&self, position: Option<usize>) -> Result<(), Reject> {
        let others = self.nodes.len() - self.expected;
        match position.is_none() && others >= self.cfg.max_nodes {
            true => Err(Reject::TooManyNodes),
            false => Ok(()),
        }
    }

    /// Records a beat received at `at` from `addr`, unchecked and with no
    /// deadline fired first: a poller's answer, which the poller judges
    /// round by round.
    pub fn observe(
        &mut self,
        at: Moment,
        addr: Option<SocketAddr>,
        beat: &Beat<'_>,
        out: &mut Vec<Event>,
    ) {
        let came = Arrival::new(at, addr, Trust::Recording);
        self.record(
            self.nodes.find(&beat.node),
            came,
            Local::default(),
            beat,
            out,
        );
    }

    /// The address `name` is known by before it beats (a poller's target,
    /// as its name resolved), so that its lines say where it is even if
    /// it never answered. An address its beats gave stays.
    pub fn locate(&mut self, name: &str, addr: SocketAddr) {
        if let Some(idx) = self.nodes.find(name) {
            self.nodes[idx].addr.get_or_insert(addr);
        }
    }

    /// The earliest time [`Detector::expire`] may have something to do.
    pub fn next_deadline(&self) -> Option<Millis> {
        self.timers
            .next()
            .into_iter()
            .chain(self.absences.next())
            .chain(self.jobs.next())
            .min()
    }

    /// Turns every deadline reached by `now` into its verdict.
    pub fn expire(&mut self, now: Millis, out: &mut Vec<Event>) {
        while let Some(idx) = self.timers.pop_due(&mut self.nodes, now, self.forget_after) {
            if self.fire(idx, now, out) {
                self.arm(idx);
            }
        }
        self.expire_absences(now, out);
        self.expire_jobs(now, out);
    }

    /// Adds a node that has not beaten yet, judged by the default interval.
    fn insert(&mut self, name: &str, state: State) -> usize {
        let every_ms = self.cfg.default_every_ms.max(1);
        let mut node = Node::new(name, state, every_ms, self.started);
        if let Rule::Phi(cfg) = &self.cfg.rule {
            node.arrivals = Some(Box::new(Arrivals::new(cfg.window, every_ms)));
        }
        (node.suspect_after, node.down_after) = patience(&self.cfg.rule, &node);
        self.nodes.insert(node)
    }

    /// Makes sure the node has a heap entry no later than its deadline.
    fn arm(&mut self, idx: usize) {
        self.timers.arm(&mut self.nodes, idx, self.forget_after);
    }
}

/// Replay protection for a message from the network: its `claim` must be
/// newer than what was last seen of its sender (`known`), and with a skew
/// limit, a new boot's clock that close to ours (`wall_ms`). A recording
/// is trusted.
pub(super) fn admits(
    known: Option<&LastSeen>,
    claim: &Claim<'_>,
    wall_ms: u64,
    trust: Trust,
) -> Result<(), Reject> {
    let Trust::Network { max_skew_ms } = trust else {
        return Ok(());
    };
    let fresh = Freshness {
        now_wall_ms: wall_ms,
        max_skew_ms,
    };
    LastSeen::admits(known, claim, fresh)
}

/// What a beat says for replay protection.
fn claim_of<'a>(beat: &'a Beat<'_>) -> Claim<'a> {
    Claim {
        boot: beat.boot.as_deref(),
        seq: beat.seq,
        ts_ms: beat.ts_ms,
    }
}

#[cfg(test)]
mod tests;
