//! How many probes a round keeps in flight. Ten thousand targets can share
//! one responder (one hb-ack answering for every address of a host, or a
//! relay): sent all at once, their probes overflow its socket's receive
//! buffer, and each probe dropped there costs its target a whole timeout,
//! or, on the last attempt, a false `down`. So a round sends no more than
//! [`IN_FLIGHT`] probes ahead of the replies. A full window waits for room
//! for a batch; if it has none after [`PACE_WAIT`], the probes in flight
//! are taken for lost (their replies are still accepted when they come),
//! so silent targets slow a round by [`PACE_WAIT`] for each [`IN_FLIGHT`]
//! of them, never stall it.

use std::time::{Duration, Instant};

/// Probes sent back to back, in one system call: a full window waits for
/// this much room, so that it is not refilled one probe a call.
pub const SEND_BATCH: usize = 64;

/// Probes sent and not yet answered, at most. A 512-byte probe costs a
/// receiving socket about 1,280 bytes of its buffer; at the kernel's
/// default ceiling (`net.core.rmem_max`, 212,992 bytes, doubled) a
/// responder's socket holds about 330 of them: a window of 128 fits there
/// with room for a second poller, and keeps a round's replies well inside
/// the poller's own buffer.
pub const IN_FLIGHT: usize = 128;

/// How long a full window waits for a reply before it takes the probes in
/// flight for lost: longer than a responder's scheduling hiccup on a busy
/// host, short enough that ten thousand silent targets add tenths of a
/// second to a round, not seconds.
pub const PACE_WAIT: Duration = Duration::from_millis(2);

// A window that has room for a batch once emptied.
const _: () = assert!(SEND_BATCH <= IN_FLIGHT);

/// The probes of a round in flight, counted as they are sent and answered.
#[derive(Debug)]
pub struct Window {
    in_flight: usize,
    /// Probes sent before this are no longer counted: their attempt ended,
    /// or they were taken for lost.
    since: Instant,
}

impl Window {
    pub fn new(now: Instant) -> Self {
        Window {
            in_flight: 0,
            since: now,
        }
    }

    /// How many more probes may be sent now.
    pub fn room(&self) -> usize {
        IN_FLIGHT.saturating_sub(self.in_flight)
    }

    pub fn in_flight(&self) -> usize {
        self.in_flight
    }

    /// `n` probes went out.
    pub fn sent(&mut self, n: usize) {
        self.in_flight += n;
    }

    /// A probe sent at `sent` was answered: it no longer counts, unless it
    /// already did not (sent before the count started again).
    pub fn answered(&mut self, sent: Instant) {
        if sent >= self.since {
            self.in_flight = self.in_flight.saturating_sub(1);
        }
    }

    /// Counts from `now` afresh: every probe in flight is taken for lost
    /// (a full window that got no reply for [`PACE_WAIT`]), or its attempt
    /// has waited out its timeout (a new wave).
    pub fn restart(&mut self, now: Instant) {
        *self = Window::new(now);
    }
}

/// The longest pacing can add to one attempt of `probes` probes: a wait of
/// at most [`PACE_WAIT`] before each batch after the first window's, when
/// replies trickle in too slowly to make room sooner (silent targets cost
/// half that: a wait that gives up frees a whole window).
pub fn pacing_allowance(probes: usize) -> Duration {
    let waits = probes.saturating_sub(IN_FLIGHT).div_ceil(SEND_BATCH);
    PACE_WAIT * u32::try_from(waits).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests;
