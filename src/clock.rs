//! Monotonic time in milliseconds.
//!
//! Every deadline in hb is a [`Millis`] on a monotonic clock that starts at
//! zero when the tool starts: a wall-clock step (NTP, a VM resuming) can
//! neither fire nor postpone a failure verdict. Pure logic takes `Millis`
//! as an argument, so tests drive it with a fake clock.

use std::time::{Duration, Instant};

/// Milliseconds on a monotonic clock.
pub type Millis = u64;

/// The process's monotonic clock.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    start: Instant,
}

impl Default for Clock {
    fn default() -> Self {
        Clock::new()
    }
}

impl Clock {
    pub fn new() -> Self {
        Clock {
            start: Instant::now(),
        }
    }

    /// Milliseconds since the clock started (rounded down, so a deadline is
    /// never reported as reached early).
    pub fn now(&self) -> Millis {
        self.start.elapsed().as_millis() as Millis
    }

    /// Time since the clock started, at full precision (for round trips).
    pub fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }

    /// How long from now until `deadline`; zero when it has passed.
    pub fn until(&self, deadline: Millis) -> Duration {
        (self.start + Duration::from_millis(deadline)).saturating_duration_since(Instant::now())
    }
}

/// A duration in whole milliseconds, at least 1 (a zero interval would mean
/// "always late").
pub fn duration_ms(d: Duration) -> Millis {
    (d.as_millis() as Millis).max(1)
}

/// A cadence on the monotonic clock: slot k is due at `first + k * every`.
/// Slots are counted from the start rather than added to the last send, so
/// the cadence never drifts by the time the work takes; after a stall (a
/// suspended process, a slow round) the slots that passed are skipped, so
/// a stalled loop resumes on the grid instead of bursting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cadence {
    first: Millis,
    every: Millis,
    slot: u64,
}

impl Cadence {
    /// The first slot is due at `first`; `every` is at least 1 ms.
    pub fn new(first: Millis, every: Millis) -> Self {
        Cadence {
            first,
            every: every.max(1),
            slot: 0,
        }
    }

    /// When the current slot is due.
    pub fn due(&self) -> Millis {
        self.first
            .saturating_add(self.slot.saturating_mul(self.every))
    }

    /// Moves past the current slot and every slot already due at `now`.
    pub fn advance(&mut self, now: Millis) {
        let passed = now.saturating_sub(self.first) / self.every + 1;
        self.slot = (self.slot + 1).max(passed);
    }
}

#[cfg(test)]
mod tests;

/// Notices when the loop that owns it was not running: a stopped process
/// (SIGSTOP, a suspended VM), a starved CPU, a write that blocked. The
/// loop says before each wait how long it means to wait; if it comes back
/// later than that by more than the tolerance, the difference is a stall:
/// time the observer was not watching, which must not count against the
/// nodes it watches.
#[derive(Debug, Clone, Copy, Default)]
pub struct StallWatch {
    /// When the loop meant to be back at the latest.
    back_by: Option<Millis>,
}

/// The least lateness that counts as a stall: below it, a loaded machine's
/// scheduling noise.
pub const MIN_STALL_MS: Millis = 50;

impl StallWatch {
    /// The loop is about to wait until `now + wait_ms` at most.
    pub fn waiting(&mut self, now: Millis, wait_ms: Millis) {
        self.back_by = Some(now.saturating_add(wait_ms));
    }

    /// The loop is back at `now`: the stall, if it came back more than
    /// `tolerance` late.
    pub fn back(&mut self, now: Millis, tolerance: Millis) -> Option<Millis> {
        let late = now.saturating_sub(self.back_by.take()?);
        (late > tolerance.max(MIN_STALL_MS)).then_some(late)
    }
}
