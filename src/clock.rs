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
