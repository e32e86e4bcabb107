//! How many probes a round keeps in flight. Ten thousand targets can share
//! one responder (one hb-ack answering for every address of a host, or a
//! relay): sent all at once, their probes overflow its socket's receive
//! buffer, and each probe dropped there costs its target a whole timeout,
//! or, on the last attempt, a false `down`. So a round sends at most
//! [`IN_FLIGHT`] probes ahead of the replies it still awaits. When fewer
//! than [`SEND_BATCH`] more may go, it takes replies until they may; if
//! that takes longer than [`PACE_WAIT`], the probes it awaits are taken for
//! lost (their replies are still accepted when they come) and the count
//! starts again. So silent targets slow a round by [`PACE_WAIT`] for each
//! [`IN_FLIGHT`] of them, never stall it; the price is that a responder
//! that answers nothing for longer gets another [`IN_FLIGHT`] probes each
//! [`PACE_WAIT`].

use std::time::Duration;

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

/// How long a window without room for a batch waits for replies before it
/// takes the probes in flight for lost: longer than a responder's
/// scheduling hiccup on a busy host, short enough that ten thousand silent
/// targets add tenths of a second to a round, not seconds.
pub const PACE_WAIT: Duration = Duration::from_millis(2);

// A window that has room for a batch once emptied.
const _: () = assert!(SEND_BATCH <= IN_FLIGHT);

/// The probes of a round in flight, counted as they are sent and answered.
#[derive(Debug, Default)]
pub struct Window {
    in_flight: usize,
    /// How often the count started again: a probe counts only in the
    /// epoch it was sent in, so a late answer to one taken for lost (or of
    /// an attempt that waited out its timeout) frees nothing.
    epoch: u32,
}

impl Window {
    /// How many more probes may be sent now.
    pub fn room(&self) -> usize {
        IN_FLIGHT.saturating_sub(self.in_flight)
    }

    /// The epoch a probe sent now belongs to, for [`Window::answered`].
    pub fn epoch(&self) -> u32 {
        self.epoch
    }

    /// A probe went out.
    pub fn sent(&mut self) {
        self.in_flight += 1;
    }

    /// A probe sent in `epoch` was answered: it no longer counts, if it
    /// still did.
    pub fn answered(&mut self, epoch: u32) {
        if epoch == self.epoch {
            self.in_flight = self.in_flight.saturating_sub(1);
        }
    }

    /// Counts afresh: every probe in flight is taken for lost (no room for
    /// a batch after [`PACE_WAIT`]), or its attempt waited out its timeout
    /// (a new wave).
    pub fn restart(&mut self) {
        self.in_flight = 0;
        self.epoch = self.epoch.wrapping_add(1);
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
