//! The deadlines that turn silence into verdicts: a min-heap of (deadline,
//! node position) with at most one live entry per node.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use super::table::{Node, Table};
use super::State;
use crate::clock::Millis;

/// Heap entries of (deadline, node position), earliest first. An entry
/// whose node is armed at another time (`Node::armed_at`) is stale.
pub(super) struct Timers {
    heap: BinaryHeap<Reverse<(Millis, usize)>>,
}

impl Timers {
    pub(super) fn new() -> Self {
        Timers {
            heap: BinaryHeap::new(),
        }
    }

    /// The earliest entry's time: when a verdict may be due.
    pub(super) fn next(&self) -> Option<Millis> {
        self.heap.peek().map(|Reverse((at, _))| *at)
    }

    /// Drops every entry; the caller disarms the nodes.
    pub(super) fn clear(&mut self) {
        self.heap.clear();
    }

    /// Heap entries, live and stale.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.heap.len()
    }

    /// Makes sure the node has a heap entry no later than its deadline
    /// (`forget_after`: a node down that long is due to be forgotten).
    pub(super) fn arm(&mut self, table: &mut Table, idx: usize, forget_after: Option<Millis>) {
        let Some(due) = deadline(&table[idx], forget_after) else {
            return;
        };
        // An existing earlier entry will fire, see the later deadline, and
        // re-arm: no need to push another.
        if table[idx].armed_at.is_some_and(|at| at <= due) {
            return;
        }
        self.push(table, idx, due);
    }

    /// The next node whose deadline `now` has reached, its entry consumed.
    /// Stale entries on the way are dropped, and an entry whose node's
    /// deadline moved later is pushed again at the new deadline.
    pub(super) fn pop_due(
        &mut self,
        table: &mut Table,
        now: Millis,
        forget_after: Option<Millis>,
    ) -> Option<usize> {
        while let Some(&Reverse((at, idx))) = self.heap.peek() {
            if at > now {
                break;
            }
            self.heap.pop();
            // Stale: the node was re-armed since, or removed (its position
            // gone, or handed to another node armed at another time).
            if table.get(idx).is_none_or(|node| node.armed_at != Some(at)) {
                continue;
            }
            let node = &mut table[idx];
            node.armed_at = None;
            // Beats since this entry was pushed may have moved the deadline.
            match deadline(node, forget_after) {
                Some(due) if due > now => self.push(table, idx, due),
                Some(_) => return Some(idx),
                None => {}
            }
        }
        None
    }

    fn push(&mut self, table: &mut Table, idx: usize, at: Millis) {
        table[idx].armed_at = Some(at);
        self.heap.push(Reverse((at, idx)));
        // Stale entries (a node re-armed earlier) pop and vanish in time,
        // but one far in the future would stay: a sender shrinking its
        // every_ms beat after beat must not grow the heap without bound.
        if self.heap.len() > 2 * table.len() + 64 {
            self.heap.retain(|Reverse((at, idx))| {
                table
                    .get(*idx)
                    .is_some_and(|node| node.armed_at == Some(*at))
            });
        }
    }
}

/// When the node's next verdict is due, given its state; None when no
/// verdict can come without a beat. A node that never beat is pending: its
/// silence counts from when it was expected (`since`). A node down for
/// `forget_after` is due to be forgotten, unless it is expected.
fn deadline(node: &Node, forget_after: Option<Millis>) -> Option<Millis> {
    let base = node
        .last_seen
        .unwrap_or(node.since)
        .saturating_add(node.grace.into());
    let down = base.saturating_add(node.down_after);
    let suspect = base.saturating_add(node.suspect_after);
    match node.state {
        // A job's deadline is the one it stated, kept with the job (`job`).
        State::Up | State::Suspect if node.job => None,
        State::Up if suspect < down => Some(suspect),
        State::Up | State::Suspect | State::Pending => Some(down),
        // A recovering node whose beats stop again starts over.
        State::Down if node.recovering > 0 => Some(suspect),
        // Down or left for `forget_after`: due to be forgotten.
        State::Down | State::Left => forget_after
            .filter(|_| !node.expected)
            .map(|after| node.since.saturating_add(after)),
        // An away node's verdict comes at its announced return, kept with
        // its absence (`lifecycle`).
        State::Away => None,
    }
}
