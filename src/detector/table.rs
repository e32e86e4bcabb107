//! The node table: one record per node, in a vector, found by name
//! through an index of positions.

use std::collections::VecDeque;
use std::hash::{BuildHasher, RandomState};
use std::net::SocketAddr;
use std::ops::{Index, IndexMut};

use compact_str::CompactString;
use hashbrown::HashTable;

use super::{Reading, State};
use crate::checks::{worst, CheckResult, CheckStatus};
use crate::clock::Millis;
use crate::detector::phi::Arrivals;
use crate::net::pktinfo::Local;
use crate::replay::LastSeen;

/// One tracked node: what its beats said, and where it stands.
pub(super) struct Node {
    /// Stored here only (the index holds positions): names of up to 24
    /// bytes, the usual host names, need no allocation at all.
    pub(super) name: CompactString,
    pub(super) addr: Option<SocketAddr>,
    /// The listener's own address its last message was sent to: where it
    /// is asked from. A byte, which fits where the record had padding.
    pub(super) to: Local,
    /// Its boot id and highest seq: restarts, gaps and replay protection.
    pub(super) last: LastSeen,
    pub(super) every_ms: Millis,
    /// Monotonic time of the last beat; None for a pending node.
    pub(super) last_seen: Option<Millis>,
    /// Receiver wall clock at the last beat, for display: meaningful once
    /// `last_seen` is (see [`Node::last_seen_wall`]); not an `Option`, to
    /// keep 8 bytes out of every node.
    pub(super) wall_at_last_beat: u64,
    pub(super) state: State,
    /// When the node entered its current state.
    pub(super) since: Millis,
    /// Its last health report.
    pub(super) health: Option<Reading>,
    /// The deadline of this node's heap entry, if it has one. A heap entry
    /// with another deadline is stale and skipped.
    pub(super) armed_at: Option<Millis>,
    /// Silence after which the node is suspect, then down: fixed by the
    /// rule, or computed from its arrivals at each beat (phi).
    pub(super) suspect_after: Millis,
    pub(super) down_after: Millis,
    /// Inter-arrival statistics (phi only): a fixed 312 bytes, boxed so
    /// that nodes under the fixed rule pay 8 for them.
    pub(super) arrivals: Option<Box<Arrivals>>,
    /// Beats counted toward `up_after` while down.
    pub(super) recovering: u32,
    /// Time added to its deadlines: the observer stalled, or was dropping
    /// beats, while the node was silent. Cleared by its next beat.
    pub(super) grace: u32,
    /// Its last seqs, one bit each (bit 0: the last one received), and how
    /// many of those bits are known: the loss before a silence.
    pub(super) recent: u32,
    pub(super) known: u8,
    /// When the node last changed between up and down (flap detection);
    /// allocated at its first change, as most nodes never change.
    // Boxed: 8 bytes instead of 32 in every node, most of which never flap.
    #[allow(clippy::box_collection)]
    pub(super) changes: Option<Box<VecDeque<Millis>>>,
    pub(super) flapping: bool,
    /// Its beats say it answers probes: a suspicion may be asked about.
    pub(super) answers: bool,
    /// Bytes the listener may still send its address (probes): three
    /// times what came from that address, capped.
    pub(super) credit: u32,
    /// The longest silence it was heard from again after, in quarters of
    /// its interval (up to 64 intervals, far past any deadline; all of
    /// them once it was seen to pause): no evidence that it is gone (see
    /// `evidence`). A byte, the last one of what was padding.
    pub(super) survived: u8,
    /// Expected (`--expect`): never forgotten.
    pub(super) expected: bool,
    /// A job: judged by the deadline its messages state (see `job`), not
    /// by its interval.
    pub(super) job: bool,
    /// The last plugin checks it sent, and their worst status.
    pub(super) checks: Option<Box<[CheckResult]>>,
}

impl Node {
    /// A node not heard from yet, in `state` since `since`, judged by
    /// `every_ms`: its deadlines and arrivals are the detector's to set.
    pub(super) fn new(name: &str, state: State, every_ms: Millis, since: Millis) -> Self {
        Node {
            name: name.into(),
            addr: None,
            to: Local::default(),
            last: LastSeen::default(),
            every_ms,
            last_seen: None,
            wall_at_last_beat: 0,
            state,
            since,
            health: None,
            armed_at: None,
            suspect_after: 0,
            down_after: 0,
            arrivals: None,
            recovering: 0,
            grace: 0,
            recent: 0,
            known: 0,
            changes: None,
            flapping: false,
            answers: false,
            credit: 0,
            survived: 0,
            expected: false,
            job: false,
            checks: None,
        }
    }

    /// Receiver wall clock at the last beat; None before the first.
    pub(super) fn last_seen_wall(&self) -> Option<u64> {
        self.last_seen.map(|_| self.wall_at_last_beat)
    }
}

/// Every node the detector tracks. A node's position is its identity for
/// the index and the timers; a node removed (forgotten) hands its position
/// to the last node, which moves there.
pub(super) struct Table {
    nodes: Vec<Node>,
    /// Positions in `nodes`, found by name: 4 bytes a node instead of a
    /// second copy of every name. Keyed with SipHash, as the names come
    /// from the network (no hash flooding).
    index: HashTable<u32>,
    hasher: RandomState,
}

impl Table {
    pub(super) fn new() -> Self {
        Table {
            nodes: Vec::new(),
            index: HashTable::new(),
            hasher: RandomState::new(),
        }
    }

    pub(super) fn len(&self) -> usize {
        self.nodes.len()
    }

    pub(super) fn iter(&self) -> impl Iterator<Item = &Node> {
        self.nodes.iter()
    }

    /// The position of the node called `name`.
    pub(super) fn find(&self, name: &str) -> Option<usize> {
        let hash = self.hasher.hash_one(name);
        let nodes = &self.nodes;
        self.index
            .find(hash, |&i| nodes[i as usize].name == name)
            .map(|&i| i as usize)
    }

    /// Adds `node`, whose name is not in the table yet; returns its
    /// position. The caller keeps the table within `u32::MAX` nodes.
    pub(super) fn insert(&mut self, node: Node) -> usize {
        let idx = self.nodes.len();
        let hash = self.hasher.hash_one(node.name.as_str());
        self.nodes.push(node);
        let position = u32::try_from(idx).expect("max_nodes fits the index");
        let nodes = &self.nodes;
        let hasher = &self.hasher;
        self.index.insert_unique(hash, position, |&i| {
            hasher.hash_one(nodes[i as usize].name.as_str())
        });
        idx
    }
}

impl Table {
    /// Removes the node at `idx`, the last node taking its place; returns
    /// the removed node. The caller re-arms the moved node's timer.
    pub(super) fn remove(&mut self, idx: usize) -> Node {
        let last = self.nodes.len() - 1;
        let hash = self.hasher.hash_one(self.nodes[idx].name.as_str());
        if let Ok(entry) = self.index.find_entry(hash, |&i| i as usize == idx) {
            entry.remove();
        }
        if idx != last {
            let hash = self.hasher.hash_one(self.nodes[last].name.as_str());
            if let Some(position) = self.index.find_mut(hash, |&i| i as usize == last) {
                *position = idx as u32;
            }
        }
        self.nodes.swap_remove(idx)
    }

    /// The node at `idx`, if there is one there.
    pub(super) fn get(&self, idx: usize) -> Option<&Node> {
        self.nodes.get(idx)
    }
}

impl Index<usize> for Table {
    type Output = Node;

    fn index(&self, idx: usize) -> &Node {
        &self.nodes[idx]
    }
}

impl IndexMut<usize> for Table {
    fn index_mut(&mut self, idx: usize) -> &mut Node {
        &mut self.nodes[idx]
    }
}

/// Bytes the listener may send an address per byte it received from it:
/// an unsigned beat with a forged source address makes the listener send
/// the victim at most this many times what the forger sent.
pub const AMPLIFICATION: u32 = 3;

/// Bytes of credit a node's address may hold at most: enough for a few
/// probes (16 of 512 bytes) however long the node beat before its
/// suspicion, so a flood of old credit cannot be spent at once.
pub const MAX_CREDIT: u32 = 16 * 512;

/// A node's credit after a datagram of `bytes` from `addr`: what it had
/// plus [`AMPLIFICATION`] times the datagram, when the address is the one
/// its credit was earned at; only the datagram's, when it moved.
pub(super) fn credit_after(node: &Node, addr: Option<SocketAddr>, bytes: u32) -> u32 {
    let earned = bytes.saturating_mul(AMPLIFICATION);
    let kept = if node.addr == addr { node.credit } else { 0 };
    kept.saturating_add(earned).min(MAX_CREDIT)
}

/// Whether no plugin check of the node is worse than ok (a node without
/// checks is healthy).
pub(super) fn healthy(node: &Node) -> bool {
    node.checks.as_deref().is_none_or(all_ok)
}

/// Whether no check of `checks` is worse than ok.
pub(super) fn all_ok(checks: &[CheckResult]) -> bool {
    worst(checks).is_none_or(|s| s == CheckStatus::Ok)
}

#[cfg(test)]
mod tests;
