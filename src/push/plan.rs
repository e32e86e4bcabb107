//! What a job states of its schedule in every message it sends: when it
//! is due next, and the grace and the run time it allows. Read by the
//! beats' loop ([`super::send`]) and by the job runner ([`super::job`]).

use crate::clock::Millis;
use crate::schedule::Schedule;
use crate::wire::{Due, MAX_JOB_MS, MIN_EVERY_MS};

/// What a job states of its schedule in every message it sends.
#[derive(Debug, Clone)]
pub struct Plan {
    /// None: a job without a schedule, never `late`.
    pub schedule: Option<Schedule>,
    /// How long after its due time silence is still no failure.
    pub grace_ms: Millis,
    /// How long a run may take; None: until the next due time.
    pub max_run_ms: Option<Millis>,
}

impl Plan {
    /// The deadline a message sent at `wall` states: the next due time
    /// after it, and the grace.
    pub fn due_after(&self, wall: u64) -> Option<Due> {
        let due_ms = self.schedule.as_ref()?.next_after(wall)?;
        Some(Due {
            due_ms,
            grace_ms: self.grace_ms,
        })
    }

    /// How long a run started at `wall`, due next at `due`, may take.
    pub(super) fn max_run_at(&self, wall: u64, due: Option<Due>) -> Option<Millis> {
        let max = self
            .max_run_ms
            .or_else(|| due.map(|d| d.due_ms.saturating_sub(wall)))?;
        Some(max.clamp(MIN_EVERY_MS, MAX_JOB_MS))
    }
}

#[cfg(test)]
mod tests;
