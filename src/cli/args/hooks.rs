//! The flags of acting on verdicts: hooks and reminders, shared by the
//! three tools that judge nodes.

use std::time::Duration;

use anyhow::Context;

use crate::cli::parse::{parse_interval, parse_timeout};
use crate::clock::duration_ms;

/// Hooks run at once at most, by default.
const ON_JOBS: &str = "4";
/// How long a hook may run before it is killed, by default.
const ON_TIMEOUT: &str = "30s";

/// `--on EVENTS=CMD` and its companions: what the tools that judge nodes
/// (hb-listen, `hb-poll --every`, `hb-send --ack`) do about their verdicts.
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "Hooks")]
pub struct HookArgs {
    /// Run CMD (with sh -c) on events of the comma list EVENTS (down,up,left,... or *): the event's line on its stdin, HB_EVENT, HB_NODE, HB_ADDR, HB_TS_MS in its environment; in the background, a node's events in order (repeatable)
    #[arg(long = "on", value_name = "EVENTS=CMD", value_parser = crate::hooks::HookSpec::parse)]
    pub on: Vec<crate::hooks::HookSpec>,

    #[arg(long, value_name = "N", default_value = ON_JOBS, help = format!(
              "Hooks running at once at most; more wait in a queue ({} events, expected nodes' ahead of others'; beyond, events are dropped and a `hook-overflow` line says how many and whose)",
              crate::hooks::QUEUE),
          value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub on_jobs: u16,

    /// Kill a hook (and its process group) still running after DURATION, and report it in a `hook` line
    #[arg(long, value_name = "DURATION", default_value = ON_TIMEOUT, value_parser = parse_timeout,
          allow_hyphen_values = true)]
    pub on_timeout: Duration,

    /// Print a node that stays down again as `still-down` every DURATION (10ms to 7d), until it is up, left or forgotten; a job that stays failed or late, until it starts again
    #[arg(long, value_name = "DURATION", value_parser = parse_interval, allow_hyphen_values = true)]
    pub remind_every: Option<Duration>,
}

impl HookArgs {
    /// The first of --on and --remind-every given, for a tool to refuse
    /// them where it prints no transitions.
    pub fn given(&self) -> Option<&'static str> {
        if !self.on.is_empty() {
            return Some("--on");
        }
        self.remind_every.map(|_| "--remind-every")
    }

    /// The hooks' workers started, and the reminders.
    pub fn actions(&self) -> anyhow::Result<crate::hooks::Actions> {
        crate::hooks::Actions::new(
            self.on.clone(),
            usize::from(self.on_jobs),
            self.on_timeout,
            self.remind_every.map(duration_ms),
        )
        .context("starting the hooks' workers")
    }
}
