//! What the detector tells about its nodes: the membership [`Snapshot`]
//! for routing decisions and `status` lines, one node's [`NodeView`], each
//! node's state for export, and nodes copied out ([`NodeRecord`]) for the
//! threads that write the state file and answer metrics scrapes.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use compact_str::CompactString;
use serde::Serialize;

use super::table::Node;
use super::verdict::phi_of;
use super::{Detector, Reading, Rule, State};
use crate::checks::{worst, CheckResult, CheckStatus};
use crate::clock::Millis;
use crate::output::serialize_rfc3339_opt;

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
    pub health: Option<&'a Reading>,
    /// With the phi detector: phi now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phi: Option<f64>,
    /// The last plugin checks it sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checks: Option<&'a [CheckResult]>,
}

impl<'a> Snapshot<'a> {
    /// The snapshot of the nodes `views` gives (name, view, whether its
    /// plugin checks are all ok), lists sorted by name.
    fn of(views: impl Iterator<Item = (&'a str, NodeView<'a>, bool)>) -> Self {
        let mut snap = Snapshot::default();
        for (name, view, healthy) in views {
            let list = match view.state {
                State::Pending => &mut snap.pending,
                State::Up if !healthy => &mut snap.degraded,
                State::Up => &mut snap.up,
                State::Suspect => &mut snap.suspect,
                State::Down => &mut snap.down,
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
        ] {
            list.sort_unstable();
        }
        snap
    }

    /// The snapshot of nodes copied out of the detector.
    pub fn of_records(records: &'a [NodeRecord]) -> Self {
        Snapshot::of(
            records
                .iter()
                .map(|r| (r.name.as_str(), r.view(), r.healthy)),
        )
    }
}

/// One node's details as owned data: what a thread other than the
/// detector's (the state file's writer, a metrics scrape) works from, so
/// that the detector is never shared and never waits for it.
#[derive(Debug, Clone)]
pub struct NodeRecord {
    pub name: CompactString,
    pub state: State,
    /// No plugin check worse than ok.
    pub healthy: bool,
    pub addr: Option<SocketAddr>,
    pub every_ms: Millis,
    pub seq: Option<u64>,
    pub boot: Option<CompactString>,
    /// Receiver wall clock at the last beat.
    pub last_seen: Option<u64>,
    pub silent_ms: Millis,
    pub health: Option<Reading>,
    pub phi: Option<f64>,
    pub checks: Option<Vec<CheckResult>>,
}

impl NodeRecord {
    /// The node as a snapshot shows it.
    pub fn view(&self) -> NodeView<'_> {
        NodeView {
            state: self.state,
            addr: self.addr,
            every_ms: self.every_ms,
            seq: self.seq,
            boot: self.boot.as_deref(),
            last_seen: self.last_seen,
            silent_ms: self.silent_ms,
            health: self.health.as_ref(),
            phi: self.phi,
            checks: self.checks.as_deref(),
        }
    }

    /// Its state for routing and export (see [`Detector::routing_state`]).
    pub fn routing_state(&self) -> &'static str {
        routing_state(self.state, self.healthy)
    }
}

impl Detector {
    /// Membership as it stands: for routing decisions and `status` lines.
    pub fn snapshot(&self, now: Millis) -> Snapshot<'_> {
        Snapshot::of(
            self.nodes
                .iter()
                .map(|node| (node.name.as_str(), self.view_of(node, now), healthy(node))),
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

    /// Copies at most `max` nodes from position `from` on into `out`, as
    /// they stand at `now`; returns the position to go on from (the
    /// table's length once every node is copied). A large table is copied
    /// a slice at a time, so the loop that owns the detector never stops
    /// for long.
    pub fn copy_nodes(
        &self,
        from: usize,
        max: usize,
        now: Millis,
        out: &mut Vec<NodeRecord>,
    ) -> usize {
        let end = self.nodes.len().min(from.saturating_add(max));
        for idx in from..end {
            let node = &self.nodes[idx];
            let view = self.view_of(node, now);
            out.push(NodeRecord {
                name: node.name.clone(),
                state: view.state,
                healthy: healthy(node),
                addr: view.addr,
                every_ms: view.every_ms,
                seq: view.seq,
                boot: node.last.boot.clone(),
                last_seen: view.last_seen,
                silent_ms: view.silent_ms,
                health: node.health.clone(),
                phi: view.phi,
                checks: node.checks.clone(),
            });
        }
        end.max(from)
    }

    /// A node's state for export: its detector state, or `degraded` when
    /// up with a plugin check not ok.
    pub fn routing_state(&self, name: &str) -> Option<&'static str> {
        let node = &self.nodes[self.nodes.find(name)?];
        Some(routing_state(node.state, healthy(node)))
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

    fn view_of<'a>(&self, node: &'a Node, now: Millis) -> NodeView<'a> {
        NodeView {
            state: node.state,
            addr: node.addr,
            every_ms: node.every_ms,
            seq: node.last.seq,
            boot: node.last.boot.as_deref(),
            last_seen: node.last_seen_wall,
            silent_ms: now.saturating_sub(node.last_seen.unwrap_or(self.started)),
            health: node.health.as_ref(),
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
}

/// A node's state for routing and export: `degraded` when up with a plugin
/// check not ok.
fn routing_state(state: State, healthy: bool) -> &'static str {
    match state {
        State::Pending => "pending",
        State::Up if !healthy => "degraded",
        State::Up => "up",
        State::Suspect => "suspect",
        State::Down => "down",
    }
}

/// Whether no plugin check of the node is worse than ok (a node without
/// checks is healthy).
fn healthy(node: &Node) -> bool {
    node.checks
        .as_deref()
        .and_then(worst)
        .is_none_or(|s| s == CheckStatus::Ok)
}
