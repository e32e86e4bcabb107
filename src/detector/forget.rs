//! Forgetting: nodes down or left for `--forget-after` (and nodes no
//! longer expected that never beat) leave the table, so a fleet whose
//! nodes come and go under new names does not grow the table for ever.
//! Removal moves the last node into the freed position, so it is done
//! only when no copy of the table is under way ([`Detector::forget_due`]).

use super::{Detector, Event, State};
use crate::clock::Millis;

impl Detector {
    /// Forgets a node that has been down or left for `after` (see
    /// [`Detector::forget_due`]); expected nodes are never forgotten.
    pub fn forget_after(&mut self, after: Millis) {
        self.forget_after = Some(after);
        for idx in 0..self.nodes.len() {
            self.arm(idx);
        }
    }

    /// Removes the nodes whose time to be forgotten came (they are still
    /// down or left, and still not expected) and the nodes no longer
    /// expected that never beat, each with a `forgotten` event: gone
    /// from the table, its memory freed. Called when no copy of the table
    /// is under way, as it moves nodes.
    pub fn forget_due(&mut self, now: Millis, out: &mut Vec<Event>) {
        let mut due = std::mem::take(&mut self.forgettable);
        // From the last position down: a removal moves the last node into
        // the freed place, never one still to be looked at.
        due.sort_unstable_by(|a, b| b.cmp(a));
        due.dedup();
        for idx in due {
            let Some(node) = self.nodes.get(idx) else {
                continue;
            };
            let forget = !node.expected
                && match node.state {
                    // Expected no more, and never heard from.
                    State::Pending => true,
                    State::Down | State::Left => self
                        .forget_after
                        .is_some_and(|after| now >= node.since.saturating_add(after)),
                    State::Up | State::Suspect | State::Away => false,
                };
            if !forget {
                // Back, or expected since: judged as any node again.
                self.arm(idx);
                continue;
            }
            self.remove(idx, now, out);
        }
    }

    /// Removes the node called `name` at once, whatever its state and
    /// even if expected, with a `forgotten` event; false if there is no
    /// such node. For a tool whose list of nodes is the whole truth (a
    /// poller's targets): one taken out of it is gone. Called when no copy
    /// of the table is under way, as it moves a node.
    pub fn forget(&mut self, name: &str, now: Millis, out: &mut Vec<Event>) -> bool {
        let Some(idx) = self.nodes.find(name) else {
            return false;
        };
        self.forgettable.retain(|&queued| queued != idx);
        self.remove(idx, now, out);
        true
    }

    /// Removes the node at `idx` with its `forgotten` event. The last node
    /// moves into its place: its heap entries name its old place, so it is
    /// armed again there, or, if it waits to be forgotten, waits there.
    fn remove(&mut self, idx: usize, now: Millis, out: &mut Vec<Event>) {
        let last = self.nodes.len() - 1;
        let node = self.nodes.remove(idx);
        self.expected -= usize::from(node.expected);
        self.absences.forget(&node.name);
        self.jobs.forget(&node.name);
        self.removals += 1;
        out.push(Event::Forgotten {
            node: node.name.to_string(),
            addr: node.addr,
            silent_ms: now.saturating_sub(node.last_seen.unwrap_or(self.started)),
            last_seen: node.last_seen_wall(),
        });
        if idx == last {
            return;
        }
        self.nodes[idx].armed_at = None;
        let mut queued = false;
        for position in self.forgettable.iter_mut().filter(|p| **p == last) {
            *position = idx;
            queued = true;
        }
        if !queued {
            self.arm(idx);
        }
    }

    /// Whether nodes are waiting to be forgotten.
    pub fn has_forgettable(&self) -> bool {
        !self.forgettable.is_empty()
    }

    /// Nodes removed so far: a position taken before it changed may now
    /// name another node.
    pub fn removals(&self) -> u64 {
        self.removals
    }

    /// Stops expecting a node (a reload removed it). One that never beat
    /// was kept only by its expectation: it loses its deadline, so it is
    /// never reported `down`, and is forgotten ([`Detector::forget_due`]).
    /// One that beat is a node like any other: it stays tracked and
    /// judged, and may be forgotten once down.
    pub fn unexpect(&mut self, name: &str) {
        let Some(idx) = self.nodes.find(name) else {
            return;
        };
        let node = &mut self.nodes[idx];
        self.expected -= usize::from(node.expected);
        node.expected = false;
        if node.state == State::Pending {
            // Its heap entry is stale from now on, and skipped.
            node.armed_at = None;
            self.forgettable.push(idx);
        } else {
            self.arm(idx);
        }
    }
}

#[cfg(test)]
mod tests;
