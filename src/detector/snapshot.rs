//! What the detector tells about its nodes: one node's [`NodeView`], as
//! `status` lines and the state file show it (the membership is streamed
//! by `stream`), and what metrics scrapes need of each node
//! ([`NodeSample`]), copied out for the thread that answers them.

#[cfg(test)]
use std::collections::BTreeMap;
use std::net::SocketAddr;

use serde::Serialize;

use super::event::serialize_rfc3339;
use super::table::{healthy, Node};
use super::verdict::phi_of;
use super::{Detector, JobState, JobView, Reading, Rule, State};
use crate::checks::CheckResult;
use crate::clock::Millis;
use crate::output::serialize_rfc3339_opt;

/// Who is up, suspect, down and pending, and each node's details: the
/// membership built whole in memory, which the streamed one is tested
/// against.
#[cfg(test)]
#[derive(Debug, Default, Serialize)]
pub struct Snapshot<'a> {
    /// Up and healthy: can take requests.
    pub up: Vec<&'a str>,
    /// Up, but a plugin check is not ok.
    pub degraded: Vec<&'a str>,
    pub suspect: Vec<&'a str>,
    pub down: Vec<&'a str>,
    pub pending: Vec<&'a str>,
    /// Stopped on purpose (`leave`).
    pub left: Vec<&'a str>,
    /// Announced an absence with a deadline (`away`).
    pub away: Vec<&'a str>,
    /// Jobs: last run succeeded, running, last run failed, did not run.
    pub ok: Vec<&'a str>,
    pub running: Vec<&'a str>,
    pub failed: Vec<&'a str>,
    pub late: Vec<&'a str>,
    pub nodes: BTreeMap<&'a str, NodeView<'a>>,
}

/// One node's details, as a `status` object shows it.
#[derive(Debug, Serialize)]
pub struct NodeView<'a> {
    /// Its detector state; not shown: `routing_state` is.
    #[serde(skip)]
    pub state: State,
    /// What `state` says: the list the node is in, its detector state or
    /// `degraded`, so that `state == "up"` selects who can take requests.
    #[serde(rename = "state")]
    pub routing_state: &'static str,
    pub addr: Option<SocketAddr>,
    pub every_ms: Millis,
    pub seq: Option<u64>,
    pub boot: Option<&'a str>,
    #[serde(serialize_with = "serialize_rfc3339_opt")]
    pub last_seen: Option<u64>,
    pub silent_ms: Millis,
    /// How long it has been in its detector state (a check turning bad or
    /// good moves it between `up` and `degraded` without a new state).
    pub state_ms: Millis,
    pub health: Option<&'a Reading>,
    /// With the phi detector: phi now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phi: Option<f64>,
    /// The last plugin checks it sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checks: Option<&'a [CheckResult]>,
    /// While away: its announced return and reason.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub away: Option<AwayView<'a>>,
    /// A job's deadline and last run.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub job: Option<JobView<'a>>,
}

/// An away node's announced return (receiver wall clock) and reason.
#[derive(Debug, Serialize)]
pub struct AwayView<'a> {
    #[serde(serialize_with = "serialize_rfc3339")]
    pub until: u64,
    pub until_ms: u64,
    pub reason: Option<&'a str>,
}

#[cfg(test)]
impl<'a> Snapshot<'a> {
    /// The snapshot of the nodes `views` gives, lists sorted by name.
    fn of(views: impl Iterator<Item = (&'a str, NodeView<'a>)>) -> Self {
        let mut snap = Snapshot::default();
        for (name, view) in views {
            let list = match view.routing_state {
                "pending" => &mut snap.pending,
                "degraded" => &mut snap.degraded,
                "suspect" => &mut snap.suspect,
                "down" => &mut snap.down,
                "left" => &mut snap.left,
                "away" => &mut snap.away,
                "ok" => &mut snap.ok,
                "running" => &mut snap.running,
                "failed" => &mut snap.failed,
                "late" => &mut snap.late,
                _ => &mut snap.up,
            };
            list.push(name);
            snap.nodes.insert(name, view);
        }
        for list in [
            &mut snap.up,
            &mut snap.degraded,
            &mut snap.suspect,
            &mut snap.down,
            &mut snap.pending,
            &mut snap.left,
            &mut snap.away,
            &mut snap.ok,
            &mut snap.running,
            &mut snap.failed,
            &mut snap.late,
        ] {
            list.sort_unstable();
        }
        snap
    }
}

/// One node as its metrics series show it (its name is kept in
/// [`NodeSamples`]).
#[derive(Debug, Clone, Copy)]
pub struct NodeSample {
    pub state: State,
    /// No plugin check worse than ok.
    pub healthy: bool,
    /// Receiver wall clock at the last beat.
    pub last_seen: Option<u64>,
    /// From its last health report: CPU percent and available bytes.
    pub cpu_pct: Option<f32>,
    pub mem_avail: Option<u64>,
    pub mem_total: Option<u64>,
    /// A job's state, which is then its state for export.
    pub job: Option<JobState>,
}

impl NodeSample {
    /// Its state for routing and export: its detector state, or
    /// `degraded` when up with a plugin check not ok.
    pub fn routing_state(&self) -> &'static str {
        self.job
            .map_or_else(|| routing_state(self.state, self.healthy), JobState::as_str)
    }
}

/// Every node's sample, copied out of the detector for the thread that
/// answers a scrape, so that the detector is never shared and never waits
/// for it. The few values the series need, not the whole node, and the
/// names in one buffer: a scrape of a large fleet costs little memory and
/// two allocations, not one per node.
#[derive(Debug, Clone, Default)]
pub struct NodeSamples {
    names: String,
    /// Each sample, with where its name ends in `names`.
    samples: Vec<(usize, NodeSample)>,
}

impl NodeSamples {
    pub fn push(&mut self, name: &str, sample: NodeSample) {
        self.names.push_str(name);
        self.samples.push((self.names.len(), sample));
    }

    /// Each node's name and sample.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &NodeSample)> {
        let mut start = 0;
        self.samples.iter().map(move |(end, sample)| {
            let name = &self.names[start..*end];
            start = *end;
            (name, sample)
        })
    }
}

impl Detector {
    /// Membership as it stands, built whole.
    #[cfg(test)]
    pub fn snapshot(&self, now: Millis) -> Snapshot<'_> {
        Snapshot::of(
            self.nodes
                .iter()
                .map(|node| (node.name.as_str(), self.view_of(node, now))),
        )
    }

    /// Nodes tracked.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether no node is tracked.
    pub fn is_empty(&self) -> bool {
        self.nodes.len() == 0
    }

    /// Copies the samples of at most `max` nodes from position `from` on
    /// into `out`; returns the position to go on from (the table's length
    /// once every node is copied). A large table is copied a slice at a
    /// time, so the loop that owns the detector never stops for long.
    pub fn sample_nodes(&self, from: usize, max: usize, out: &mut NodeSamples) -> usize {
        let end = self.nodes.len().min(from.saturating_add(max));
        if from == 0 {
            // Room for every node at once: two allocations in all.
            let names = self.nodes.iter().map(|n| n.name.len()).sum();
            out.names.reserve_exact(names);
            out.samples.reserve_exact(self.nodes.len());
        }
        for idx in from..end {
            let node = &self.nodes[idx];
            let (cpu_pct, mem_avail, mem_total) = node
                .health
                .as_ref()
                .map_or((None, None, None), Reading::cpu_and_memory);
            let sample = NodeSample {
                state: node.state,
                healthy: healthy(node),
                last_seen: node.last_seen_wall(),
                // Shown rounded to 0.1 anyway: f32 keeps the sample small.
                cpu_pct: cpu_pct.map(|pct| pct as f32),
                mem_avail,
                mem_total,
                job: self.job_state(node),
            };
            out.push(&node.name, sample);
        }
        end.max(from)
    }

    /// One node's details, as in a snapshot.
    pub fn node(&self, name: &str, now: Millis) -> Option<NodeView<'_>> {
        let node = &self.nodes[self.nodes.find(name)?];
        Some(self.view_of(node, now))
    }

    /// Every node's name and state.
    pub fn states(&self) -> impl Iterator<Item = (&str, State)> {
        self.nodes.iter().map(|n| (&*n.name, n.state))
    }

    pub(super) fn view_of<'a>(&'a self, node: &'a Node, now: Millis) -> NodeView<'a> {
        NodeView {
            state: node.state,
            routing_state: self.state_name(node),
            addr: node.addr,
            every_ms: node.every_ms,
            seq: node.last.seq,
            boot: node.last.boot.as_deref(),
            last_seen: node.last_seen_wall(),
            silent_ms: now.saturating_sub(node.last_seen.unwrap_or(self.started)),
            state_ms: now.saturating_sub(node.since),
            health: node.health.as_ref(),
            checks: node.checks.as_deref(),
            away: self
                .absences
                .get(&node.name)
                .filter(|_| node.state == State::Away)
                .map(|a| AwayView {
                    until: a.until_wall,
                    until_ms: a.until_wall,
                    reason: a.reason.as_deref(),
                }),
            job: self.job_view(node, now),
            phi: match &self.cfg.rule {
                Rule::Phi(cfg) => {
                    let silent = now.saturating_sub(node.last_seen.unwrap_or(self.started));
                    phi_of(cfg, node, silent)
                }
                Rule::Fixed { .. } => None,
            },
        }
    }
}

impl Detector {
    /// The node's state as `status`, the state file and metrics name it:
    /// a job's state, or its state for routing.
    pub(super) fn state_name(&self, node: &Node) -> &'static str {
        self.job_state(node).map_or_else(
            || routing_state(node.state, healthy(node)),
            JobState::as_str,
        )
    }
}

/// A node's state for routing and export: `degraded` when up with a plugin
/// check not ok.
pub(super) fn routing_state(state: State, healthy: bool) -> &'static str {
    match state {
        State::Pending => "pending",
        State::Up if !healthy => "degraded",
        State::Up => "up",
        State::Suspect => "suspect",
        State::Down => "down",
        State::Left => "left",
        State::Away => "away",
    }
}
