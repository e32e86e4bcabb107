//! The membership snapshot of a large fleet, serialized a slice at a time.
//!
//! A `status` line and the `--state` file hold the membership, and a
//! fleet's is tens of megabytes: built whole, as a map of nodes and then
//! its JSON, it would cost several times the node table itself. Instead
//! it is written a piece at a time, straight to stdout, or a thousand
//! nodes' share per turn of the loop handed to the thread that writes the
//! file; the memory a snapshot takes is a few bytes a node for its order,
//! whatever the fleet's size.

use super::{Detector, State};
use crate::clock::Millis;

/// The lists of a snapshot, in the order a `status` object prints them,
/// with the state a node in each has.
const LISTS: [(&str, State); 11] = [
    ("up", State::Up),
    ("degraded", State::Up),
    ("suspect", State::Suspect),
    ("down", State::Down),
    ("pending", State::Pending),
    ("left", State::Left),
    ("away", State::Away),
    ("ok", State::Up),
    ("running", State::Up),
    ("failed", State::Up),
    ("late", State::Down),
];

/// A snapshot being serialized, and what is kept between snapshots.
#[derive(Debug, Default)]
pub struct SnapshotStream {
    /// Every node's position, sorted by name. Kept between snapshots: nodes
    /// are only ever added, so each snapshot sorts only the nodes new
    /// since the last and merges them in.
    by_name: Vec<u32>,
    /// The same positions grouped by list (by name within a list).
    by_list: Vec<u32>,
    /// Each node's list when the snapshot started: a node is in exactly
    /// one list, and its entry in `nodes` tells the same state, however
    /// it changes while the snapshot is written.
    lists: Vec<u8>,
    /// Where each list ends in `by_list`.
    list_ends: [usize; LISTS.len()],
    /// The detector's removals when `by_name` was last brought up to date:
    /// a removal moves nodes, so the order is made afresh.
    removals: u64,
    part: Part,
}

/// How far the snapshot being serialized has come.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
enum Part {
    /// Nothing started, or the last snapshot finished.
    #[default]
    Done,
    /// The lists: the next position in `by_list`.
    Lists(usize),
    /// The `nodes` object: the next position in `by_name`.
    Nodes(usize),
}

impl SnapshotStream {
    /// Starts a snapshot of `detector` as it is now: orders the nodes and
    /// fixes each one's list. Costs a pass over the table and a sort of
    /// the nodes new since the last snapshot.
    pub fn start(&mut self, detector: &Detector) {
        let nodes = &detector.nodes;
        if detector.removals() != self.removals {
            self.by_name.clear();
            self.removals = detector.removals();
        }
        let sorted = self.by_name.len();
        let len = u32::try_from(nodes.len()).expect("the table holds u32::MAX nodes at most");
        self.by_name.extend(sorted as u32..len);
        self.by_name[sorted..]
            .sort_unstable_by(|&a, &b| nodes[a as usize].name.cmp(&nodes[b as usize].name));
        // Two sorted runs: the stable sort merges them in linear time.
        self.by_name
            .sort_by(|&a, &b| nodes[a as usize].name.cmp(&nodes[b as usize].name));

        self.lists.clear();
        self.lists.extend(nodes.iter().map(|node| {
            let state = detector.state_name(node);
            LISTS
                .iter()
                .position(|&(list, _)| list == state)
                .unwrap_or(0) as u8
        }));
        let mut counts = [0usize; LISTS.len()];
        for &list in &self.lists {
            counts[usize::from(list)] += 1;
        }
        let mut starts = [0usize; LISTS.len()];
        let mut end = 0;
        for (list, count) in counts.iter().enumerate() {
            starts[list] = end;
            end += count;
            self.list_ends[list] = end;
        }
        self.by_list.clear();
        self.by_list.resize(self.by_name.len(), 0);
        for &idx in &self.by_name {
            let list = usize::from(self.lists[idx as usize]);
            self.by_list[starts[list]] = idx;
            starts[list] += 1;
        }
        self.part = Part::Lists(0);
    }

    /// Whether a snapshot is being written.
    pub fn is_writing(&self) -> bool {
        self.part != Part::Done
    }

    /// Appends the next share of the snapshot's members to `out`, at most
    /// `max` nodes' worth, each node as it stands at `now` (in the list it
    /// was in at the start). Together the shares are the membership fields
    /// of a `status` object, to follow other fields of it:
    /// `,"up":[...],...,"nodes":{...}`. Returns whether the snapshot is
    /// complete.
    pub fn write(
        &mut self,
        detector: &Detector,
        now: Millis,
        max: usize,
        out: &mut Vec<u8>,
    ) -> bool {
        let mut budget = max.max(1);
        while budget > 0 {
            match self.part {
                Part::Done => return true,
                Part::Lists(pos) => {
                    self.write_list_entry(detector, pos, out);
                    self.part = match pos + 1 {
                        next if next > self.by_list.len() => Part::Nodes(0),
                        next => Part::Lists(next),
                    };
                }
                Part::Nodes(pos) => {
                    if pos == self.by_name.len() {
                        out.push(b'}');
                        // Kept only while a snapshot is written.
                        self.lists = Vec::new();
                        self.by_list = Vec::new();
                        self.part = Part::Done;
                        return true;
                    }
                    self.write_node(detector, pos, now, out);
                    self.part = Part::Nodes(pos + 1);
                }
            }
            budget -= 1;
        }
        false
    }

    /// At `pos` in `by_list`: the list headers and closings that fall
    /// there, then the name at `pos`, if any (`pos` past the end closes
    /// the last list and opens `nodes`).
    fn write_list_entry(&self, detector: &Detector, pos: usize, out: &mut Vec<u8>) {
        for (list, (name, _)) in LISTS.iter().enumerate() {
            let start = if list == 0 {
                0
            } else {
                self.list_ends[list - 1]
            };
            if start == pos {
                match list {
                    0 => out.push(b','),
                    _ => out.extend_from_slice(b"],"),
                }
                out.push(b'"');
                out.extend_from_slice(name.as_bytes());
                out.extend_from_slice(b"\":[");
            }
        }
        let Some(&idx) = self.by_list.get(pos) else {
            out.extend_from_slice(b"],\"nodes\":{");
            return;
        };
        let list = usize::from(self.lists[idx as usize]);
        let first_of_list = list == 0 && pos == 0 || list > 0 && pos == self.list_ends[list - 1];
        if !first_of_list {
            out.push(b',');
        }
        json(out, detector.nodes[idx as usize].name.as_str());
    }

    /// The `nodes` entry of the node at `pos` in `by_name`.
    fn write_node(&self, detector: &Detector, pos: usize, now: Millis, out: &mut Vec<u8>) {
        let idx = self.by_name[pos] as usize;
        let node = &detector.nodes[idx];
        let mut view = detector.view_of(node, now);
        let list = LISTS[usize::from(self.lists[idx])];
        (view.routing_state, view.state) = list;
        if pos > 0 {
            out.push(b',');
        }
        json(out, node.name.as_str());
        out.push(b':');
        json(out, &view);
    }
}

/// Appends `value` as JSON. Serializing to memory fails only for a map
/// whose keys are not strings, which a snapshot has none of; `null` in its
/// place would keep the file valid all the same.
fn json<T: serde::Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) {
    let len = out.len();
    if serde_json::to_writer(&mut *out, value).is_err() {
        out.truncate(len);
        out.extend_from_slice(b"null");
    }
}

#[cfg(test)]
mod tests;
