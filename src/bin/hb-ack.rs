//! hb-ack: answer "are you alive?" probes, and acknowledge heartbeats.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use hb::cli::{
    self, parse_duration, parse_node, CheckArgs, ExitCodes, IntakeArgs, KeyArgs, MetricsArgs,
};
use hb::clock::duration_ms;
use hb::health::Background;
use hb::net::HostPort;
use hb::output::Output;
use hb::pull::respond::{Options, Responder, Verbosity};
use hb::wire::DEFAULT_ACK_PORT;

/// How often replies' health is refreshed in the background, so a reply
/// never waits on the system's counters.
const HEALTH_EVERY: Duration = Duration::from_secs(1);

/// Answer "are you alive?" probes from hb-poll, and acknowledge heartbeats.
///
/// Runs on every monitored server. Each probe gets a reply with this node's
/// name, boot id and health; each beat that asks for it ("ack": true, from
/// `hb-send --ack`) gets an ack. Prints each beat received as a JSON line
/// (with `from`), so `hb-ack | hb-listen --from -` also watches the senders.
#[derive(Parser, Debug)]
#[command(name = "hb-ack", version, after_help = EXAMPLES)]
struct Args {
    /// Address to answer on (IPv6 too: [::]:26723; port 0 picks a free one)
    #[arg(long, value_name = "ADDR", default_value = "0.0.0.0:26723",
          value_parser = |s: &str| HostPort::parse(s, DEFAULT_ACK_PORT))]
    listen: HostPort,

    /// Name this node in replies and acks (default: the host name)
    #[arg(long, value_name = "NAME", value_parser = parse_node)]
    node: Option<String>,

    /// Leave health out of replies
    #[arg(long)]
    no_health: bool,

    /// Also print a line for every probe answered
    #[arg(short, long, conflicts_with = "quiet")]
    verbose: bool,

    /// Print nothing on stdout (but --status-every and --log-rejects lines)
    #[arg(short, long)]
    quiet: bool,

    /// Print a `status` line (messages received and refused) every DURATION
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    status_every: Option<Duration>,

    #[command(flatten)]
    metrics: MetricsArgs,

    #[command(flatten)]
    key: KeyArgs,

    #[command(flatten)]
    checks: CheckArgs,

    #[command(flatten)]
    intake: IntakeArgs,
}

const EXAMPLES: &str = "\
Examples:
  hb-ack --node web-1                  # answer probes on 0.0.0.0:26723
  hb-ack --quiet --no-health           # answer, print nothing, send no health";

fn main() -> ExitCode {
    cli::main(ExitCodes::UNIX, run)
}

fn run(args: Args) -> anyhow::Result<ExitCode> {
    let stop = cli::stop_on_signals().context("installing signal handlers")?;
    let mut intake = args.intake.intake(args.key.codec()?);
    intake.metrics = args.metrics.serve("hb-ack")?;
    let socket = cli::listen_on("hb-ack", &args.listen, &[])?;
    let health = (!args.no_health).then(|| Background::spawn(HEALTH_EVERY));
    let verbosity = match (args.quiet, args.verbose) {
        (true, _) => Verbosity::Quiet,
        (_, true) => Verbosity::Verbose,
        _ => Verbosity::Beats,
    };
    let node = args.node.unwrap_or_else(cli::host_name);
    let options = Options {
        verbosity,
        health,
        checks: args.checks.start(),
        max_skew_ms: duration_ms(args.intake.max_skew),
        max_nodes: args.intake.max_nodes as usize,
        status_every: args.status_every.map(duration_ms),
    };
    Responder::new(socket, node, Output::stdout(), intake, options).run(&stop)?;
    Ok(ExitCode::SUCCESS)
}
