//! hb-send: send heartbeats, "I am alive", to one or more listeners.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use hb::cli::{self, parse_duration, parse_node, ExitCodes};
use hb::health::Sampler;
use hb::net::HostPort;
use hb::output::Output;
use hb::send::{Beater, Target};
use hb::wire::DEFAULT_BEAT_PORT;

/// Send heartbeats, "I am alive", to one or more listeners.
///
/// One UDP datagram per interval to every --to target, on a fixed cadence
/// from a monotonic clock. Quiet on success (it fits cron); an unreachable
/// target is reported once on stderr and beating goes on.
#[derive(Parser, Debug)]
#[command(name = "hb-send", version, after_help = EXAMPLES)]
struct Args {
    /// Send each beat to HOST[:PORT] (repeatable; default port 26722)
    #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:26722",
          value_parser = |s: &str| HostPort::parse(s, DEFAULT_BEAT_PORT))]
    to: Vec<HostPort>,

    /// Name this node (default: the host name)
    #[arg(long, value_name = "NAME", value_parser = parse_node)]
    node: Option<String>,

    /// Interval between beats; listeners learn it from the beats
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = parse_duration)]
    every: Duration,

    /// Send N beats, then exit (exit 1 if any could not be sent)
    #[arg(long, value_name = "N", conflicts_with = "once",
          value_parser = clap::value_parser!(u64).range(1..))]
    count: Option<u64>,

    /// Send one beat and exit: --count 1
    #[arg(long)]
    once: bool,

    /// Carry health in each beat: CPU (over the interval), memory, swap, load, uptime
    #[arg(long)]
    health: bool,

    /// Print a `sent` event for every beat
    #[arg(short, long)]
    verbose: bool,
}

const EXAMPLES: &str = "\
Examples:
  hb-send --node web-1 --to monitor:26722              # beat every second, forever
  hb-send --node db-1 --health --every 5s --to 10.0.0.9 --to 10.0.0.10
  hb-send --node backup-job --once --to monitor        # from cron, after the job";

fn main() -> ExitCode {
    cli::main(ExitCodes::UNIX, run)
}

fn run(args: Args) -> anyhow::Result<ExitCode> {
    let stop = cli::stop_on_signals().context("installing signal handlers")?;
    let targets = args
        .to
        .iter()
        .map(|hp| {
            let addr = hp
                .resolve()
                .with_context(|| format!("resolving --to {hp}"))?;
            Ok(Target {
                name: hp.to_string(),
                addr,
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let health = if args.health {
        Some(Sampler::new().context("starting the health sampler")?)
    } else {
        None
    };
    let verbose = args.verbose.then(Output::stdout);
    let node = args.node.unwrap_or_else(cli::host_name);
    let count = if args.once { Some(1) } else { args.count };

    let mut beater =
        Beater::new(node, args.every, targets, health, verbose).context("opening a UDP socket")?;
    let report = beater.run(count, &stop)?;
    if count.is_some() && report.failed_sends > 0 {
        eprintln!(
            "hb-send: {} of {} beats could not be sent to every target",
            report.failed_sends, report.beats
        );
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}
