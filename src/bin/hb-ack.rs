//! hb-ack: answer "are you alive?" probes, and acknowledge heartbeats.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use hb::cli::{
    self, CheckArgs, ExitCodes, IntakeArgs, KeyArgs, ListenArgs, MetricsArgs, NodeArgs, Signals,
    StatusArgs,
};
use hb::clock::duration_ms;
use hb::health::Background;
use hb::metrics::Series;
use hb::net::HostPort;
use hb::output::Sink;
use hb::pull::agent::{self, MIN_WEIGHT_PCT};
use hb::pull::respond::{Options, Responder, Verbosity};
use hb::reload::Reload;
use hb::web::Pages;
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
    #[command(flatten)]
    listen: ListenArgs<DEFAULT_ACK_PORT>,

    #[command(flatten)]
    node: NodeArgs<false>,

    /// Leave health out of replies
    #[arg(long)]
    no_health: bool,

    /// Also print a line for every probe answered
    #[arg(short, long, conflicts_with = "quiet")]
    verbose: bool,

    /// Print nothing on stdout (but --status-every, --log-rejects and `reloaded` lines)
    #[arg(short, long)]
    quiet: bool,

    #[command(flatten)]
    status: StatusArgs,

    #[command(flatten)]
    metrics: MetricsArgs,

    #[command(flatten)]
    key: KeyArgs,

    #[command(flatten)]
    checks: CheckArgs,

    #[command(flatten)]
    intake: IntakeArgs,

    // Help from the port constant, which a doc comment cannot name.
    #[arg(long, value_name = "ADDR", value_parser = |s: &str| HostPort::parse(s, AGENT_PORT),
          help_heading = "Routing",
          help = format!("Answer HAProxy's agent check on TCP ADDR with this node's health: `drain` while a --check is critical, else `ready up N%`, N from the idle CPU (at least {MIN_WEIGHT_PCT}%), halved while a check warns (HOST alone: port {AGENT_PORT})"))]
    haproxy_agent: Option<HostPort>,
}

/// The port of `--haproxy-agent HOST` without one: hb's next, after the
/// metrics' 26724.
const AGENT_PORT: u16 = 26725;

const EXAMPLES: &str = "\
Examples:
  hb-ack --node web-1                  # answer probes on 0.0.0.0:26723
  hb-ack --quiet --no-health           # answer, print nothing, send no health
  hb-ack --check 'http=/usr/lib/nagios/plugins/check_http -H localhost' --haproxy-agent 0.0.0.0
                                       # HAProxy: agent-check agent-port 26725";

fn main() -> ExitCode {
    cli::main(ExitCodes::Unix, run)
}

fn run(args: Args, signals: Signals) -> anyhow::Result<ExitCode> {
    let mut intake = args.intake.intake(args.key.codec()?);
    let web = args.metrics.plan()?;
    // Its own socket before the web side's: no crowd of web clients can
    // take the descriptor it needs.
    let socket = args.listen.bind(&[])?;
    let web = web
        .map(|plan| plan.serve(Series::Counters, Pages::MetricsOnly))
        .transpose()?;
    intake.metrics = web.as_ref().map(|web| web.metrics().clone());
    cli::say_listening(&socket)?;
    let health = (!args.no_health).then(|| Background::spawn(HEALTH_EVERY));
    let verbosity = match (args.quiet, args.verbose) {
        (true, _) => Verbosity::Quiet,
        (_, true) => Verbosity::Verbose,
        _ => Verbosity::Beats,
    };
    let node = args.node.name();
    let checks = args.checks.start();
    if let Some(addr) = &args.haproxy_agent {
        let resolved = addr
            .resolve()
            .with_context(|| format!("resolving --haproxy-agent {addr}"))?;
        let bound = agent::serve(resolved, health.clone(), checks.clone())
            .with_context(|| format!("serving the haproxy agent on {resolved}"))?;
        hb::say!("haproxy agent on {bound}");
    }
    let options = Options {
        verbosity,
        health,
        checks,
        max_skew_ms: duration_ms(args.intake.max_skew),
        max_nodes: args.intake.max_nodes as usize,
        status_every: args.status.every_ms(),
        reload: Some(Reload::new(signals.reload).with_web(web.map(|web| web as _))),
    };
    Responder::new(socket, node, Sink::stdout(), intake, options).run(&signals.stop)?;
    Ok(ExitCode::SUCCESS)
}
