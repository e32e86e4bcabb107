//! What the detector tells about its nodes: the membership [`Snapshot`]
//! for routing decisions and `status` lines, one node's [`NodeView`], and
//! each node's state for export.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use serde::Serialize;
use serde_json::value::RawValue;

use super::table::Node;
use super::verdict::phi_of;
use super::{Detector, Rule, State};
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
    pub health: Option<&'a RawValue>,
    /// With the phi detector: phi now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phi: Option<f64>,
    /// The last plugin checks it sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checks: Option<&'a [CheckResult]>,
}

impl Detector {
    /// Membership as it stands: for routing decisions and `status` lines.
    pub fn snapshot(&self, now: Millis) -> Snapshot<'_> {
        let mut snap = Snapshot::default();
        for node in self.nodes.iter() {
            let list = match node.state {
                State::Pending => &mut snap.pending,
                State::Up if !healthy(node) => &mut snap.degraded,
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
        let node = &self.nodes[self.nodes.find(name)?];
        Some(match node.state {
            State::Pending => "pending",
            State::Up if !healthy(node) => "degraded",
            State::Up => "up",
            State::Suspect => "suspect",
            State::Down => "down",
        })
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
}

/// Whether no plugin check of the node is worse than ok (a node without
/// checks is healthy).
fn healthy(node: &Node) -> bool {
    node.checks
        .as_deref()
        .and_then(worst)
        .is_none_or(|s| s == CheckStatus::Ok)
}
