//! The observer watching itself: when the loop that judges silence was
//! not running (a stall) or its socket dropped beats for want of room
//! (overload), it says so, with `observer` lines, in `status`, and in
//! metrics, and tells the detector, so that its own faults are never the
//! nodes' failures. It says too when its node table is full (`full`):
//! new nodes are refused then.

use serde::Serialize;

use crate::clock::{Millis, StallWatch};

/// An `observer` line.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(tag = "type", rename = "observer")]
pub struct SelfWatchLine {
    /// `stalled`, `overloaded`, `ok` once an overload is over, or `full`.
    pub state: &'static str,
    /// With `stalled`: how long the observer was not running.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stall_ms: Option<Millis>,
    /// With `overloaded` and `ok`: datagrams the kernel dropped in this
    /// overload so far.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dropped: Option<u64>,
    /// With `full`: new names refused since the last `full` line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refused: Option<u64>,
}

/// The observer's own record, as `status` shows it.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct SelfWatchStatus {
    /// `ok` or `overloaded`.
    pub state: &'static str,
    pub stalls: u64,
    pub stalled_ms: Millis,
    /// Datagrams the kernel dropped since the start.
    pub dropped: u64,
}

/// How long without new drops an overload is over.
const CALM_MS: Millis = 1000;

/// At most one `stalled` line per this long: a machine that keeps
/// stalling says so once a second, not once a turn.
const STALL_LINE_EVERY_MS: Millis = 1000;

/// At most one `full` line per this long: a flood of new names against a
/// full table is said once a minute, with how many were refused.
const FULL_LINE_EVERY_MS: Millis = 60_000;

/// The observer's watch over itself.
#[derive(Debug, Default)]
pub struct SelfWatch {
    /// New names refused since the last `full` line, and when that was.
    refused: u64,
    last_full_line: Option<Millis>,
    stalls: StallWatch,
    count: u64,
    stalled_ms: Millis,
    last_stall_line: Option<Millis>,
    /// The kernel's drop count when last read.
    drop_count: u32,
    dropped: u64,
    /// Drops in the overload under way, and when the last one was seen.
    overload: Option<(u64, Millis)>,
}

impl SelfWatch {
    /// The loop is done with its work and about to wait `wait_ms` at most
    /// from `now`: the stall, if it was not running while at work.
    pub fn waiting(
        &mut self,
        now: Millis,
        wait_ms: Millis,
        tolerance: Millis,
        out: &mut Vec<SelfWatchLine>,
    ) -> Option<Millis> {
        let stall = self.stalls.waiting(now, wait_ms, tolerance)?;
        self.note_stall(now, stall, out);
        Some(stall)
    }

    /// The loop is back at `now`: the stall, if it came back later than
    /// `tolerance` allows (a line for it goes to `out`, at most one a
    /// second).
    pub fn back(
        &mut self,
        now: Millis,
        tolerance: Millis,
        out: &mut Vec<SelfWatchLine>,
    ) -> Option<Millis> {
        let stall = self.stalls.back(now, tolerance)?;
        self.note_stall(now, stall, out);
        Some(stall)
    }

    fn note_stall(&mut self, now: Millis, stall: Millis, out: &mut Vec<SelfWatchLine>) {
        self.count += 1;
        self.stalled_ms = self.stalled_ms.saturating_add(stall);
        if self
            .last_stall_line
            .is_none_or(|t| now.saturating_sub(t) >= STALL_LINE_EVERY_MS)
        {
            self.last_stall_line = Some(now);
            out.push(SelfWatchLine {
                state: "stalled",
                stall_ms: Some(stall),
                ..SelfWatchLine::default()
            });
        }
    }

    /// The socket's drop count as the kernel last said it; true when it
    /// grew (beats were lost at the observer, not on the way).
    pub fn drops(&mut self, now: Millis, count: Option<u32>, out: &mut Vec<SelfWatchLine>) -> bool {
        let Some(count) = count else {
            return false;
        };
        let new = u64::from(count.wrapping_sub(self.drop_count));
        self.drop_count = count;
        if new == 0 {
            return false;
        }
        self.dropped += new;
        let so_far = self.overload.map_or(0, |(n, _)| n) + new;
        if self.overload.is_none() {
            out.push(SelfWatchLine {
                state: "overloaded",
                dropped: Some(so_far),
                ..SelfWatchLine::default()
            });
        }
        self.overload = Some((so_far, now));
        true
    }

    /// A new name was refused at `now`: the node table is full. Said on
    /// a `full` line and on stderr at most once a minute, with the names
    /// refused since the last time: known and expected nodes go on being
    /// judged, but a real node new to this listener would be refused too.
    pub fn table_full(&mut self, now: Millis, out: &mut Vec<SelfWatchLine>) {
        self.refused += 1;
        if self
            .last_full_line
            .is_some_and(|t| now.saturating_sub(t) < FULL_LINE_EVERY_MS)
        {
            return;
        }
        self.last_full_line = Some(now);
        let refused = std::mem::take(&mut self.refused);
        crate::say!(
            "warning: the node table is full (--max-nodes): {refused} new names refused; known and expected nodes are still judged"
        );
        out.push(SelfWatchLine {
            state: "full",
            refused: Some(refused),
            ..SelfWatchLine::default()
        });
    }

    /// Time passes: an overload without new drops for a while is over.
    pub fn tick(&mut self, now: Millis, out: &mut Vec<SelfWatchLine>) {
        if let Some((dropped, last)) = self.overload {
            if now.saturating_sub(last) >= CALM_MS {
                self.overload = None;
                out.push(SelfWatchLine {
                    state: "ok",
                    dropped: Some(dropped),
                    ..SelfWatchLine::default()
                });
            }
        }
    }

    /// When [`SelfWatch::tick`] may have something to say.
    pub fn next_wake(&self) -> Option<Millis> {
        self.overload.map(|(_, last)| last.saturating_add(CALM_MS))
    }

    pub fn status(&self) -> SelfWatchStatus {
        SelfWatchStatus {
            state: if self.overload.is_some() {
                "overloaded"
            } else {
                "ok"
            },
            stalls: self.count,
            stalled_ms: self.stalled_ms,
            dropped: self.dropped,
        }
    }
}

/// How late a loop may wake before it counts as stalled: a quarter of the
/// shortest interval it watches (a late wake shorter than that cannot
/// make a beat look missed), never less than [`crate::clock::MIN_STALL_MS`].
pub fn stall_tolerance(shortest_interval: Option<Millis>) -> Millis {
    shortest_interval.map_or(crate::clock::MIN_STALL_MS, |every| every / 4)
}

#[cfg(test)]
mod tests;
