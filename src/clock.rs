//! Time: monotonic milliseconds for deadlines, the wall clock for display.
//!
//! Every deadline in hb is a [`Millis`] on a monotonic clock that starts at
//! zero when the tool starts: a wall-clock step (NTP, a VM resuming) can
//! neither fire nor postpone a failure verdict. The wall clock stamps the
//! lines printed and drives what is wall-clock by nature (a job's cron
//! schedule). Pure logic takes the time as an argument (a [`Moment`]: the
//! same instant on both clocks), so tests drive it with a fake clock.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Milliseconds on a monotonic clock.
pub type Millis = u64;

/// One instant on both clocks, read together: `mono` for deadlines,
/// `wall` for the timestamps of what happened at it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Moment {
    /// Milliseconds on the tool's monotonic clock ([`Clock`]).
    pub mono: Millis,
    /// Milliseconds since the Unix epoch on the wall clock.
    pub wall: u64,
}

impl Moment {
    pub fn new(mono: Millis, wall: u64) -> Self {
        Moment { mono, wall }
    }

    /// The same instant `ms` later on both clocks.
    pub fn later(self, ms: Millis) -> Self {
        Moment {
            mono: self.mono.saturating_add(ms),
            wall: self.wall.saturating_add(ms),
        }
    }

    /// The same instant `ms` earlier on both clocks.
    pub fn earlier(self, ms: Millis) -> Self {
        Moment {
            mono: self.mono.saturating_sub(ms),
            wall: self.wall.saturating_sub(ms),
        }
    }
}

/// The wall clock now, in milliseconds since the Unix epoch. For display
/// and wall-clock schedules only: deadlines use the monotonic clock.
pub fn wall_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

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

    /// Now on both clocks.
    pub fn moment(&self) -> Moment {
        Moment::new(self.now(), wall_ms())
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
    /// When the loop came back, on the clock and in CPU time of its thread:
    /// work takes CPU time, a stop or a starved CPU does not.
    busy_since: Option<(Millis, Duration)>,
}

/// The least lateness that counts as a stall: below it, a loaded machine's
/// scheduling noise.
pub const MIN_STALL_MS: Millis = 50;

impl StallWatch {
    /// The loop is done with its work and about to wait until `now +
    /// wait_ms` at most: the stall, if the work since it came back took
    /// more than `tolerance` of time it did not spend running (stopped,
    /// starved, blocked on its output).
    pub fn waiting(&mut self, now: Millis, wait_ms: Millis, tolerance: Millis) -> Option<Millis> {
        self.back_by = Some(now.saturating_add(wait_ms));
        let (since, cpu_since) = self.busy_since.take()?;
        let ran = duration_ms_floor(thread_cpu().saturating_sub(cpu_since));
        let idle = now.saturating_sub(since).saturating_sub(ran);
        (idle > tolerance.max(MIN_STALL_MS)).then_some(idle)
    }

    /// The loop is back at `now`: the stall, if it came back more than
    /// `tolerance` late.
    pub fn back(&mut self, now: Millis, tolerance: Millis) -> Option<Millis> {
        self.busy_since = Some((now, thread_cpu()));
        let late = now.saturating_sub(self.back_by.take()?);
        (late > tolerance.max(MIN_STALL_MS)).then_some(late)
    }
}

/// Whole milliseconds of `d`, rounded down.
fn duration_ms_floor(d: Duration) -> Millis {
    d.as_millis() as Millis
}

/// CPU time the calling thread has used.
fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec, which `ts` is.
    let ok = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) } == 0;
    if !ok {
        return Duration::ZERO;
    }
    Duration::new(
        u64::try_from(ts.tv_sec).unwrap_or(0),
        u32::try_from(ts.tv_nsec).unwrap_or(0),
    )
}
