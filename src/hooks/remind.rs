//! Reminders (`--remind-every`): a node that stays down is printed again
//! as `still-down` at that period, so a hook or a jq filter can notify
//! again; a one-shot `down` is easy to miss.
//!
//! A job that failed or did not run (`failed`, `late`) is reminded of
//! too, until it runs again (`started`, `ok`).
//!
//! Out of the hot path: a beat never looks here. Only the lines that
//! start or end a reminder do (`down`, `late`, `failed`; `up`, `left`,
//! `forgotten`, `started`, `ok`), and the
//! loop wakes for the earliest reminder due, kept first in an ordered set.

use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;

use serde::Serialize;

use crate::clock::{Millis, Moment};
use crate::output::rfc3339;

/// The lines that start reminders: the states a node is reminded of while
/// it stays in them.
const STARTS: &[&str] = &["down", "late", "failed"];

/// The lines that end them: the node is back, gone on purpose, or
/// forgotten; a job runs again, or succeeded.
const ENDS: &[&str] = &["up", "left", "forgotten", "started", "ok"];

/// A node being reminded of.
#[derive(Debug)]
struct Reminded {
    /// The line that started it (`down`).
    state: &'static str,
    addr: Option<SocketAddr>,
    /// When it started, on the monotonic and the wall clock.
    since: Millis,
    since_wall: u64,
    /// When the next reminder is due.
    next: Millis,
    /// Reminders printed so far.
    count: u64,
}

/// A reminder's line.
#[derive(Debug, Serialize, PartialEq)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Reminder {
    /// The node is still in `state` (`down`).
    StillDown {
        node: String,
        addr: Option<SocketAddr>,
        state: &'static str,
        /// Receiver wall clock when it went `state`.
        since: String,
        since_ms: u64,
        /// How long it has been in `state`.
        down_ms: Millis,
        /// This reminder's number: 1, 2, ...
        reminder: u64,
    },
}

impl Reminder {
    /// The `type` of its line.
    pub fn kind(&self) -> &'static str {
        match self {
            Reminder::StillDown { .. } => "still-down",
        }
    }
}

/// The nodes being reminded of, and when each is due.
#[derive(Debug)]
pub struct Reminders {
    every: Millis,
    nodes: HashMap<String, Reminded>,
    /// (due, node) of every reminded node: the first is the next due.
    due: BTreeSet<(Millis, String)>,
}

impl Reminders {
    /// Reminders every `every` milliseconds (at least 1).
    pub fn new(every: Millis) -> Reminders {
        Reminders {
            every: every.max(1),
            nodes: HashMap::new(),
            due: BTreeSet::new(),
        }
    }

    /// Whether lines of type `kind` start or end reminders.
    pub fn cares(&self, kind: &str) -> bool {
        STARTS.contains(&kind) || ENDS.contains(&kind)
    }

    /// A line of type `kind` about `node` (at `addr`) was printed at `at`: a reminder starts (the first reminder
    /// one period later), or ends. A node already reminded of keeps its
    /// start.
    pub fn observe(&mut self, kind: &str, node: &str, addr: Option<SocketAddr>, at: Moment) {
        let now = at.mono;
        if let Some(&state) = STARTS.iter().find(|&&s| s == kind) {
            if self.nodes.contains_key(node) {
                return;
            }
            let next = now.saturating_add(self.every);
            self.due.insert((next, node.to_owned()));
            let reminded = Reminded {
                state,
                addr,
                since: now,
                since_wall: at.wall,
                next,
                count: 0,
            };
            self.nodes.insert(node.to_owned(), reminded);
        } else if ENDS.contains(&kind) {
            if let Some(reminded) = self.nodes.remove(node) {
                self.due.remove(&(reminded.next, node.to_owned()));
            }
        }
    }

    /// The reminders due at `now`, each node's next one a period later.
    /// After a stall, a node is reminded once, not once per period missed.
    pub fn due(&mut self, now: Millis) -> Vec<Reminder> {
        let mut lines = Vec::new();
        while let Some((at, node)) = self.due.first().cloned().filter(|(at, _)| *at <= now) {
            self.due.remove(&(at, node.clone()));
            let Some(reminded) = self.nodes.get_mut(&node) else {
                continue;
            };
            reminded.count += 1;
            let mut next = at.saturating_add(self.every);
            if next <= now {
                next = now.saturating_add(self.every);
            }
            reminded.next = next;
            self.due.insert((next, node.clone()));
            let down_ms = now.saturating_sub(reminded.since);
            lines.push(Reminder::StillDown {
                addr: reminded.addr,
                state: reminded.state,
                since: rfc3339(reminded.since_wall),
                since_ms: reminded.since_wall,
                down_ms,
                reminder: reminded.count,
                node,
            });
        }
        lines
    }

    /// When the next reminder is due.
    pub fn next_wake(&self) -> Option<Millis> {
        self.due.first().map(|(at, _)| *at)
    }
}

#[cfg(test)]
mod tests;
