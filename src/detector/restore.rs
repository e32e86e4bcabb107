//! A listener's restart forgets nothing: the nodes its last state file
//! held are tracked again, each with its last known state, interval, boot
//! and seq, its silence counted from the restart.

use std::net::SocketAddr;
use std::time::UNIX_EPOCH;

use serde::Deserialize;
use serde_json::value::RawValue;

use super::lifecycle::Absence;
use super::verdict::patience;
use super::{Detector, JobState, Reading, Rule, State};
use crate::checks::CheckResult;
use crate::clock::{Millis, Moment};
use crate::detector::phi::Arrivals;
use crate::replay::LastSeen;
use crate::wire::{self, Due, Reject, MAX_EVERY_MS, MIN_EVERY_MS};

/// A node as a state file (a `status` object's `nodes`) keeps it: the
/// fields a restart needs, the others ignored.
#[derive(Debug, Deserialize)]
pub struct Restored {
    pub state: State,
    pub every_ms: Millis,
    #[serde(default)]
    pub boot: Option<String>,
    #[serde(default)]
    pub seq: Option<u64>,
    #[serde(default)]
    pub addr: Option<SocketAddr>,
    /// Its last beat on the wall clock (RFC 3339).
    #[serde(default)]
    pub last_seen: Option<String>,
    #[serde(default)]
    pub health: Option<Box<RawValue>>,
    #[serde(default)]
    pub checks: Option<Vec<CheckResult>>,
    #[serde(default)]
    pub away: Option<RestoredAway>,
    /// A job's (see [`crate::detector::JobView`]): every job has
    /// `grace_ms`, its deadline `due_ms`, a run going on `running_ms`,
    /// its last run `exit` or `signal`.
    #[serde(default)]
    pub grace_ms: Option<u64>,
    #[serde(default)]
    pub due_ms: Option<u64>,
    #[serde(default)]
    pub running_ms: Option<u64>,
    #[serde(default)]
    pub exit: Option<u8>,
    #[serde(default)]
    pub signal: Option<u8>,
}

impl Restored {
    /// Its job state, if it is a job: the state file names it, and the
    /// detector state it reads as tells `late`; the rest tell which of the
    /// others.
    fn job_state(&self) -> Option<JobState> {
        self.grace_ms?;
        Some(
            match (self.state, self.running_ms, self.exit, self.signal) {
                (State::Down, ..) => JobState::Late,
                (_, Some(_), ..) => JobState::Running,
                (_, None, Some(0) | None, None) => JobState::Ok,
                _ => JobState::Failed,
            },
        )
    }
}

/// An away node's announced return, as the state file keeps it.
#[derive(Debug, Deserialize)]
pub struct RestoredAway {
    pub until_ms: u64,
    #[serde(default)]
    pub reason: Option<String>,
}

impl Detector {
    /// Tracks `name` again as `node` says it stood, at `at`: up or suspect, it is judged by its interval from
    /// now on, and a beat keeps it up without a new `up`; down or left, it
    /// stays so (and is forgotten in time); away, until its announced
    /// return. A node already tracked is left as it is; a pending one is
    /// not restored (expected nodes come from the flags).
    ///
    /// # Errors
    ///
    /// A name or interval a beat could not carry, or the node limit.
    pub fn restore(&mut self, name: &str, node: &Restored, at: Moment) -> Result<(), Reject> {
        let now = at.mono;
        wire::check_node(name)?;
        if !(MIN_EVERY_MS..=MAX_EVERY_MS).contains(&node.every_ms) {
            return Err(Reject::BadField);
        }
        if node.state == State::Pending || self.nodes.find(name).is_some() {
            return Ok(());
        }
        self.room_for(None)?;
        let idx = self.insert(name, node.state);
        let rule = &self.cfg.rule;
        let kept = &mut self.nodes[idx];
        kept.every_ms = node.every_ms;
        if let Rule::Phi(cfg) = rule {
            kept.arrivals = Some(Box::new(Arrivals::new(cfg.window, node.every_ms)));
        }
        kept.last = LastSeen {
            boot: node.boot.as_deref().map(Into::into),
            seq: node.seq,
        };
        kept.addr = node.addr;
        // Its silence counts from the restart: what happened while no one
        // listened is unknown.
        kept.last_seen = Some(now);
        kept.wall_at_last_beat = node
            .last_seen
            .as_deref()
            .and_then(|t| humantime::parse_rfc3339(t).ok())
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(at.wall, |d| d.as_millis() as u64);
        kept.since = now;
        if let Some(health) = &node.health {
            Reading::store(&mut kept.health, health);
        }
        kept.checks = node.checks.as_deref().map(Into::into);
        (kept.suspect_after, kept.down_after) = patience(rule, kept);
        if let (State::Away, Some(away)) = (node.state, &node.away) {
            // Its return as announced; one already past expires at once.
            let left = away.until_ms.saturating_sub(at.wall);
            let until = now.saturating_add(left);
            let absence = Absence::restored(until, away.until_ms, away.reason.as_deref());
            self.absences.insert(name, absence);
        } else if node.state == State::Away {
            self.nodes[idx].state = State::Up;
        }
        if let Some(state) = node.job_state() {
            let due = node.due_ms.map(|due_ms| Due {
                due_ms,
                grace_ms: node.grace_ms.unwrap_or(0),
            });
            self.restore_job(idx, state, due, at);
        }
        self.arm(idx);
        Ok(())
    }
}

#[cfg(test)]
mod tests;
