//! Acting on verdicts: commands run on events (`--on EVENTS=CMD`) and
//! reminders of nodes that stay down (`--remind-every`), for `hb-listen`,
//! `hb-poll --every` and `hb-send --ack` alike.
//!
//! A hook is `sh -c CMD` with the event's line on its standard input and
//! `HB_EVENT`, `HB_NODE`, `HB_ADDR` and `HB_TS_MS` in its environment. The
//! detector's loop never waits for one: it hands the line to a bounded
//! queue and goes on judging. `--on-jobs` worker threads run the hooks,
//! one at a time per node, so a node's events reach its hooks in the
//! order they happened while other nodes' hooks proceed; a hook still
//! running after `--on-timeout` is killed with its whole process group.
//! What went wrong is printed, never silent: a `hook` line per failed hook,
//! a `hook-overflow` line when the queue was full and events were dropped,
//! naming whose. Lines about expected nodes are kept ahead of the others,
//! so a flood of invented names cannot crowd out a real node's `down`.
//!
//! - [`runner`]: the queue, the workers and their reports;
//! - [`remind`]: the `still-down` reminders.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use serde::Deserialize;

use crate::clock::{Millis, Moment};
use crate::output::{Line, Said, Subscriber};
use remind::Reminders;

pub mod remind;
pub mod runner;

pub use runner::{Hooks, QUEUE};

/// The events a hook can be run on beside the detector's
/// ([`crate::detector::KINDS`]): a group's verdicts, a sender's acks and
/// the reminders.
const OTHER_EVENTS: [&str; 4] = ["no-quorum", "quorum", "ack", "still-down"];

/// Every event a hook can be run on: every verdict line of the three
/// tools, and the reminders.
pub fn known_events() -> impl Iterator<Item = &'static str> {
    crate::detector::KINDS.into_iter().chain(OTHER_EVENTS)
}

/// One `--on EVENTS=CMD`: a shell command and the events it runs on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookSpec {
    /// The event types, or None for every one (`*`).
    events: Option<Vec<String>>,
    command: String,
}

impl HookSpec {
    /// Parses `down,up=notify.sh` or `*=logger -t hb`. An event name that
    /// no tool prints is refused with the list of those that exist.
    pub fn parse(s: &str) -> Result<HookSpec, String> {
        let Some((events, command)) = s.split_once('=') else {
            return Err("expected EVENTS=CMD, as in down,up=notify.sh".into());
        };
        if command.trim().is_empty() {
            return Err("the command after '=' is empty".into());
        }
        let command = command.to_owned();
        if events.trim() == "*" {
            return Ok(HookSpec {
                events: None,
                command,
            });
        }
        let mut names = Vec::new();
        for name in events.split(',').map(str::trim) {
            if !known_events().any(|known| known == name) {
                return Err(format!(
                    "unknown event {name:?} (known: {}, or * for all)",
                    known_events().collect::<Vec<_>>().join(", ")
                ));
            }
            names.push(name.to_owned());
        }
        Ok(HookSpec {
            events: Some(names),
            command,
        })
    }

    /// Whether this hook runs on events of type `kind`.
    pub fn wants(&self, kind: &str) -> bool {
        self.events
            .as_ref()
            .is_none_or(|names| names.iter().any(|n| n == kind))
    }

    pub fn command(&self) -> &str {
        &self.command
    }
}

/// What a tool does about its lines besides printing them: the hooks that
/// run on them, and the reminders of nodes that stay down.
#[derive(Default)]
pub struct Actions {
    hooks: Option<Hooks>,
    reminders: Option<Reminders>,
    /// The time of the last [`Actions::tick`], from which the next wake
    /// is counted.
    last_tick: Millis,
}

/// Who a line is about, as its fields say: `node`, or `target` (a path of
/// `hb-send --ack`), and `addr`.
#[derive(Deserialize, Default)]
pub struct About {
    #[serde(default)]
    node: Option<String>,
    #[serde(default)]
    target: Option<String>,
    #[serde(default)]
    addr: Option<SocketAddr>,
}

impl About {
    /// The name of what the line is about: a path's target, or the node
    /// ("" for a line about no node, such as `no-quorum`).
    pub fn name(&self) -> &str {
        self.target
            .as_deref()
            .or(self.node.as_deref())
            .unwrap_or("")
    }

    pub fn addr(&self) -> Option<SocketAddr> {
        self.addr
    }
}

/// What a `reloaded` line says of the expected nodes.
#[derive(Deserialize, Default)]
struct Reexpected {
    #[serde(default)]
    expected_added: Vec<String>,
    #[serde(default)]
    expected_removed: Vec<String>,
}

impl Actions {
    /// Hooks (none when `specs` is empty) and reminders every `remind_every`.
    pub fn new(
        specs: Vec<HookSpec>,
        jobs: usize,
        timeout: Duration,
        remind_every: Option<Millis>,
    ) -> io::Result<Actions> {
        let hooks = match specs.is_empty() {
            true => None,
            false => Some(Hooks::start(specs, jobs, timeout)?),
        };
        Ok(Actions {
            hooks,
            reminders: remind_every.map(Reminders::new),
            last_tick: 0,
        })
    }

    /// The nodes expected (hb-listen's `--expect`, `--expect-file`): their
    /// lines are kept ahead of others' in the hooks' queue. A `reloaded`
    /// line changes them as it says.
    pub fn expect(&mut self, nodes: &[String]) {
        if let Some(h) = &mut self.hooks {
            for node in nodes {
                h.expect(node, true);
            }
        }
    }

    /// The expected nodes a reload added and removed.
    fn reexpect(&mut self, line: &Line<'_>) {
        let Some(h) = &mut self.hooks else {
            return;
        };
        let change: Reexpected = serde_json::from_slice(line.json).unwrap_or_default();
        for node in &change.expected_removed {
            h.expect(node, false);
        }
        for node in &change.expected_added {
            h.expect(node, true);
        }
    }
}

impl Subscriber for Actions {
    /// The hooks that want the line get it, and reminders start or stop;
    /// a `reloaded` line changes the expected nodes. Nothing is parsed for
    /// a line nobody wants.
    fn take(&mut self, line: &Line<'_>) {
        let kind = line.kind;
        if kind == "reloaded" {
            return self.reexpect(line);
        }
        // Only the lines a hook can be run on: not the hooks' own reports
        // (a failing hook on `*` would feed itself), nor the tool's lines
        // about itself (`observer`, `rejected`, `reloaded`).
        let hooked = self.hooks.as_ref().is_some_and(|h| h.wants(kind))
            && known_events().any(|known| known == kind);
        let reminded = self.reminders.as_ref().is_some_and(|r| r.cares(kind));
        if !hooked && !reminded {
            return;
        }
        let about: About = serde_json::from_slice(line.json).unwrap_or_default();
        if let Some(r) = self.reminders.as_mut().filter(|_| reminded) {
            r.observe(kind, about.name(), about.addr(), line.at);
        }
        if let Some(h) = self.hooks.as_mut().filter(|_| hooked) {
            h.offer(kind, &about, line.at.wall, line.json.to_vec());
        }
    }

    /// The reminders due at `at` (handed to hooks too, as printed), and
    /// the reports of hooks that failed or were dropped.
    fn tick(&mut self, at: Moment, said: &mut Vec<Said>) {
        self.last_tick = at.mono;
        if let Some(r) = &mut self.reminders {
            said.extend(r.due(at.mono).iter().filter_map(|r| Said::new(r).ok()));
        }
        if let Some(h) = &mut self.hooks {
            h.report(at.mono, said);
        }
    }

    /// A reminder due, or a look at the hooks while some run or wait.
    fn next_wake(&self) -> Option<Millis> {
        let reminder = self.reminders.as_ref().and_then(Reminders::next_wake);
        let hooks = self
            .hooks
            .as_ref()
            .and_then(|h| h.next_wake(self.last_tick));
        reminder.into_iter().chain(hooks).min()
    }
}
#[cfg(test)]
mod tests;
