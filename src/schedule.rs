//! Job schedules: when a job's next run is due on the wall clock, by a
//! cron expression read in a time zone (`--cron`, `--tz`), or an interval
//! (`--every`). The job computes its own deadline and states it in what it
//! sends, so the listener keeps no schedule that could drift from the
//! job's; the zone database makes the deadline right across DST changes.
//!
//! Pure: the current time is passed in, so schedules are tested with a
//! fake clock.

use chrono::{Local, TimeZone};
use chrono_tz::Tz;
use croner::parser::{CronParser, Seconds, Year};
use croner::Cron;

use crate::clock::Millis;

/// How often a job runs.
#[derive(Debug, Clone)]
pub enum Schedule {
    /// Every so many milliseconds, counted from each run.
    Every(Millis),
    /// At the times a cron expression names, in a time zone (boxed: a
    /// parsed expression is a few hundred bytes).
    Cron { cron: Box<Cron>, zone: Zone },
}

/// How far ahead, in years, a cron expression must name a time: one that names none
/// within five years (`0 0 30 2 *`: February has no 30th) is taken for a
/// mistake, as its job would never be due, and so never `late`.
pub const HORIZON_YEARS: u64 = 5;
const HORIZON_MS: u64 = HORIZON_YEARS * 366 * 24 * 3600 * 1000;

/// The time zone a cron expression is read in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Zone {
    /// The host's own (`TZ`, else `/etc/localtime`), as cron itself reads it.
    Host,
    Named(Tz),
}

/// `--cron EXPR`: five fields (minute, hour, day of month, month, day of
/// week; an optional sixth in front for seconds), or a name such as
/// `@daily`, `@hourly`, `@weekly`, `@monthly`, `@yearly`. As in Vixie
/// cron, a day of month and a day of week both restricted match either.
pub fn parse_cron(expr: &str) -> Result<Cron, String> {
    CronParser::builder()
        .seconds(Seconds::Optional)
        .year(Year::Disallowed)
        .build()
        .parse(expr)
        .map_err(|e| format!("not a cron expression: {e}"))
}

/// `--tz ZONE`: a name of the IANA zone database, such as `Europe/Berlin`.
pub fn parse_zone(name: &str) -> Result<Tz, String> {
    name.parse()
        .map_err(|_| "not a time zone of the IANA database (such as Europe/Berlin or UTC)".into())
}

impl Schedule {
    /// When the next run is due after `wall_ms` (Unix milliseconds):
    /// strictly after it, so a run started at its time is due at the next
    /// one. None when the expression names no later time.
    pub fn next_after(&self, wall_ms: u64) -> Option<u64> {
        match self {
            Schedule::Every(every) => Some(wall_ms.saturating_add(*every)),
            Schedule::Cron { cron, zone } => match zone {
                Zone::Host => next_in(cron, &Local, wall_ms),
                Zone::Named(tz) => next_in(cron, tz, wall_ms),
            },
        }
    }
}

impl Schedule {
    /// Whether a run is due within [`HORIZON_YEARS`] after `wall_ms`.
    pub fn runs_soon(&self, wall_ms: u64) -> bool {
        self.next_after(wall_ms)
            .is_some_and(|next| next - wall_ms <= HORIZON_MS)
    }
}

/// The first time `cron` names after `wall_ms`, read in `zone`. A time
/// that a DST change skips (02:30 on the spring change in Europe) is due
/// when the change is over (03:00), as cron runs it; one it repeats is
/// due once.
fn next_in<Z: TimeZone>(cron: &Cron, zone: &Z, wall_ms: u64) -> Option<u64> {
    // From the whole second: the crate keeps a start's fraction in what
    // it finds, and a job run at 03:00:00.2 runs for 03:00:00.
    let second = i64::try_from(wall_ms / 1000).ok()?;
    let at = zone.timestamp_opt(second, 0).single()?;
    let next = cron.find_next_occurrence(&at, false).ok()?;
    u64::try_from(next.timestamp_millis()).ok()
}

#[cfg(test)]
mod tests;
