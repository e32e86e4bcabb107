//! The flags of a job: hb-send as a dead man's switch for cron and batch
//! jobs.

use std::time::Duration;

use crate::cli::parse::{parse_interval, parse_pause};
use crate::cli::UsageError;
use crate::clock::duration_ms;
use crate::schedule::{Schedule, Zone, HORIZON_YEARS};

/// `--run -- CMD`, `--cron`, `--tz`, `--grace`, `--max-run`: hb-send as a
/// dead man's switch for a cron or batch job, which states when it is due
/// next in what it sends.
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "Jobs")]
pub struct JobArgs {
    /// Run CMD as a job: say `start`, run it, say `done` with its exit code (or signal), duration and last line of stderr; exit with its exit code (128+N for signal N). With a key, listeners believe a run only if this host's clock is within their --max-skew (30s by default)
    #[arg(long, requires = "command",
          conflicts_with_all = ["count", "once", "ack", "away", "health", "verbose", "no_leave", "checks"])]
    pub run: bool,

    /// The job's schedule, a cron expression (5 fields, or @hourly, @daily, @weekly, @monthly, @yearly): every message states when the next run is due; with --run, --once or --count
    #[arg(long, value_name = "EXPR", value_parser = crate::schedule::parse_cron)]
    pub cron: Option<croner::Cron>,

    /// The time zone --cron is read in, an IANA name (Europe/Berlin, UTC) [default: the host's]
    #[arg(long, value_name = "ZONE", value_parser = crate::schedule::parse_zone, requires = "cron")]
    pub tz: Option<chrono_tz::Tz>,

    /// How long after its due time a job may come before it is `late` (0 to 7d) [default: 1h with --cron, else the --every interval]; with --run, --once or --count
    #[arg(long, value_name = "DURATION", value_parser = parse_pause, allow_hyphen_values = true)]
    pub grace: Option<Duration>,

    /// With --run: how long a run may take before it is `running-long` (10ms to 7d) [default: until the next due time]
    #[arg(long, value_name = "DURATION", value_parser = parse_interval, requires = "run",
          allow_hyphen_values = true)]
    pub max_run: Option<Duration>,

    /// The command --run runs, and its arguments
    #[arg(last = true, value_name = "CMD", requires = "run")]
    pub command: Vec<std::ffi::OsString>,
}

/// A cron job's grace unless told: an hour, for jobs that take their time
/// to start (a busy host, a `sleep $RANDOM` to spread load).
pub const CRON_GRACE: Duration = Duration::from_secs(3600);

impl JobArgs {
    /// The job's schedule: `--cron` in its zone, or `every` when the job
    /// has one (None: a run without a schedule, never late). A `--cron`
    /// that names no time within five years of `now_ms` (wall clock) is a
    /// usage error: its job would never be due.
    pub fn schedule(
        &self,
        every: Option<Duration>,
        now_ms: u64,
    ) -> Result<Option<Schedule>, UsageError> {
        let schedule = match (&self.cron, every) {
            (Some(cron), _) => Schedule::Cron {
                cron: Box::new(cron.clone()),
                zone: self.tz.map_or(Zone::Host, Zone::Named),
            },
            (None, Some(every)) => Schedule::Every(duration_ms(every)),
            (None, None) => return Ok(None),
        };
        if let (false, Some(cron)) = (schedule.runs_soon(now_ms), &self.cron) {
            return Err(UsageError(format!(
                "--cron '{}' names no time in the next {HORIZON_YEARS} years: its job would never be due, nor late",
                cron.pattern
            )));
        }
        Ok(Some(schedule))
    }

    /// The grace given, or its default for the schedule.
    pub fn grace(&self, every: Option<Duration>) -> Duration {
        match (self.grace, &self.cron) {
            (Some(grace), _) => grace,
            (None, Some(_)) => CRON_GRACE,
            (None, None) => every.unwrap_or_default(),
        }
    }

    /// The first of --cron and --grace given: a beating sender that is a
    /// job beats once (or --count times), after its run.
    pub fn given(&self) -> Option<&'static str> {
        match (&self.cron, self.grace) {
            (Some(_), _) => Some("--cron"),
            (None, Some(_)) => Some("--grace"),
            (None, None) => None,
        }
    }
}
