//! The observer's own faults: a listener that stopped running for a while
//! (a stall) or whose socket dropped beats for want of room (overload)
//! must not blame the nodes for the silence it caused.
//!
//! A stall extends every pending deadline by its length, so nodes are
//! judged on the time the observer was actually watching. While the
//! socket drops beats, a `suspect` or a `down` that the drops could
//! explain is held until one of the node's intervals passed without drops
//! (a held suspicion moves only itself, not the `down` after it). Either way a node
//! that really died is still declared down, later by at most the fault.

use super::{Detector, State};
use crate::clock::Millis;

/// When the observer last knew itself at fault.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Faults {
    /// When the last stall ended.
    stall_end: Option<Millis>,
    /// How long it lasted.
    stall_ms: Millis,
    /// When the socket last said it had dropped beats.
    drop_at: Option<Millis>,
    /// The shortest interval of any node tracked so far.
    shortest: Option<Millis>,
}

/// What the observer was, over a silence that began at some time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Over {
    Ok,
    Stalled,
    Overloaded,
}

impl Over {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Over::Ok => "ok",
            Over::Stalled => "stalled",
            Over::Overloaded => "overloaded",
        }
    }
}

impl Faults {
    /// What overlapped a silence that began at `since`.
    pub(super) fn over(&self, since: Millis) -> Over {
        if self.drop_at.is_some_and(|d| d >= since) {
            Over::Overloaded
        } else if self.stall_end.is_some_and(|s| s >= since) {
            Over::Stalled
        } else {
            Over::Ok
        }
    }

    /// If beats were dropped during a silence that began at `since`, when
    /// its down may be declared: one `every_ms` after the last drop.
    pub(super) fn hold_until(&self, since: Millis, every_ms: Millis) -> Option<Millis> {
        self.drop_at
            .filter(|&d| d >= since)
            .map(|d| d.saturating_add(every_ms))
    }

    /// The grace a beat that arrived at `at` leaves its node: the part of
    /// the last stall after it. A beat that waited in the socket through a
    /// stall is judged at its arrival, before the stall ended, and the
    /// silence after it overlaps the stall as much as this.
    pub(super) fn grace_after(&self, at: Millis) -> u32 {
        let Some(end) = self.stall_end.filter(|&end| end > at) else {
            return 0;
        };
        let start = end.saturating_sub(self.stall_ms);
        u32::try_from(end - start.max(at)).unwrap_or(u32::MAX)
    }

    pub(super) fn note_interval(&mut self, every_ms: Millis) {
        self.shortest = Some(self.shortest.map_or(every_ms, |s| s.min(every_ms)));
    }
}

impl Detector {
    /// The observer was not running for `stall_ms` until `now`: every
    /// pending deadline moves that much later.
    pub fn stalled(&mut self, stall_ms: Millis, now: Millis) {
        self.faults.stall_end = Some(now);
        self.faults.stall_ms = stall_ms;
        let grace = u32::try_from(stall_ms).unwrap_or(u32::MAX);
        for idx in 0..self.nodes.len() {
            let node = &mut self.nodes[idx];
            if node.state != State::Down || node.recovering > 0 {
                node.grace = node.grace.saturating_add(grace);
            }
        }
    }

    /// The observer's socket dropped beats for want of room, as it learnt
    /// at `now`.
    pub fn dropped_beats(&mut self, now: Millis) {
        self.faults.drop_at = Some(now);
    }

    /// The shortest interval of any node tracked so far (for how late the
    /// observer may wake before it counts as stalled).
    pub fn shortest_interval(&self) -> Option<Millis> {
        self.faults.shortest
    }
}

#[cfg(test)]
mod tests;
