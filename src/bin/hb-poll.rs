//! hb-poll: ask targets "are you alive?"; a Nagios plugin too.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::{Parser, ValueEnum};
use hb::cli::{
    self, parse_interval, parse_timeout, DetectorArgs, ExitCodes, HookArgs, KeyArgs, LimitsArgs,
    MetricsArgs, NodeArgs, NodeSeriesArgs, Signals, UsageError,
};
use hb::clock::{duration_ms, Clock};
use hb::nagios::State;
use hb::net::HostPort;
use hb::output::Sink;
use hb::pull::lines::emit_round;
use hb::pull::probe::{fitted_timeout, Prober, ReadTargets, Target};
use hb::pull::verdict::{judge, nagios_line, Limits};
use hb::pull::watch::watch;
use hb::reload::Reload;
use hb::web::Pages;
use hb::wire::DEFAULT_ACK_PORT;

/// How long each attempt waits for its reply.
const TIMEOUT: Duration = Duration::from_secs(1);

/// How many more times a silent target is probed before it is down.
const RETRIES: u32 = 2;

/// With --every, the fixed detector's --misses: a target is down after this
/// many failed rounds.
const MISSES: u32 = 3;

/// Ask targets "are you alive?" (pull-based monitoring); a Nagios plugin too.
///
/// Probes every target at once from one socket (replies are matched by
/// nonce), retries the silent ones, then prints one `poll` line per target
/// and a `summary`, and exits with the Nagios state: 0 OK, 1 WARNING,
/// 2 CRITICAL, 3 UNKNOWN. By default any target down is CRITICAL. With
/// --every it keeps polling and prints transitions (`up`, `suspect`,
/// `down`, `restart`) as hb-listen does. With --via, a target that does not
/// answer is probed again through other hb-ack relays (SWIM's indirect
/// probe): one bad link from the poller is not a down.
#[derive(Parser, Debug)]
#[command(name = "hb-poll", version, after_help = EXAMPLES)]
struct Args {
    // Help from wire's port constant, which a doc comment cannot name.
    #[arg(value_name = "TARGET", value_parser = Target::parse,
          help = format!("Targets: HOST[:PORT] running hb-ack (default port {DEFAULT_ACK_PORT}), or tcp://HOST:PORT for a TCP connect check"))]
    targets: Vec<Target>,

    /// Another target, as Nagios passes $HOSTADDRESS$ (repeatable)
    #[arg(short = 'H', long = "host", value_name = "TARGET", value_parser = Target::parse)]
    hosts: Vec<Target>,

    /// Read targets from FILE, one per line ('#' comments; '-' for stdin); with --every, read again on SIGHUP
    #[arg(short = 'f', long, value_name = "FILE")]
    file: Option<PathBuf>,

    /// Wait this long for each attempt's reply (seconds, or 500ms, 2s) [default: 1s; with --every, at most the interval shared among the attempts, so that a round ends within it]
    #[arg(short = 't', long, value_name = "DURATION", value_parser = parse_timeout,
          allow_hyphen_values = true)]
    timeout: Option<Duration>,

    /// Probe a silent target this many more times before it is down
    #[arg(long, value_name = "N", default_value_t = RETRIES,
          value_parser = clap::value_parser!(u32).range(0..=100))]
    retries: u32,

    /// Keep polling every DURATION (10ms to 7d) and print transitions
    #[arg(long, value_name = "DURATION", value_parser = parse_interval, allow_hyphen_values = true)]
    every: Option<Duration>,

    /// With --every: also print each round's `poll` and `summary` lines
    #[arg(short, long, requires = "every")]
    verbose: bool,

    /// Output: JSON lines, or one Nagios plugin line with perfdata
    #[arg(long, value_enum, default_value_t = Format::Json, conflicts_with = "every")]
    format: Format,

    #[command(flatten)]
    limits: LimitsArgs,

    /// An hb-ack to ask to probe a target that does not answer directly (repeatable); the target is down only if no path answers
    #[arg(long, value_name = "HOST:PORT",
          value_parser = |s: &str| HostPort::parse_target(s, DEFAULT_ACK_PORT))]
    via: Vec<HostPort>,

    #[command(flatten)]
    node: NodeArgs<false>,

    /// With --every: how silence (failed rounds) is judged
    #[command(flatten)]
    detector: DetectorArgs<MISSES>,

    #[command(flatten)]
    key: KeyArgs,

    /// With --every: serve Prometheus metrics
    #[command(flatten)]
    metrics: MetricsArgs,

    #[command(flatten)]
    node_series: NodeSeriesArgs,

    /// With --every: act on transitions
    #[command(flatten)]
    hooks: HookArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Json,
    Nagios,
}

const EXAMPLES: &str = "\
Ranges: 10 (outside 0..10), 10: (below 10), ~:10 (above 10), 10:20 (outside),
@10:20 (inside); endpoints are inclusive.

Examples:
  hb-poll web-1 web-2 web-3                  # one round, JSON lines
  hb-poll -f fleet.txt -w 0 -c 2             # WARNING if 1 or 2 down, CRITICAL above
  hb-poll -H 10.0.0.5 --format nagios --rtt-warning 0.5 --cpu-critical 95
  hb-poll tcp://db-1:5432                    # a TCP connect check
  hb-poll -f fleet.txt --every 10s           # transitions, like hb-listen
  hb-poll web-3 --via web-1 --via web-2      # down only if no path reaches web-3
  hb-poll -f fleet.txt --every 10s --on 'down=logger -t hb \"target $HB_NODE is down\"'";

fn main() -> ExitCode {
    cli::main(ExitCodes::Nagios, run)
}

/// The targets: those named on the command line, then those of `file`.
fn read_targets(named: &[Target], file: Option<&Path>) -> anyhow::Result<Vec<Target>> {
    let mut targets = named.to_vec();
    if let Some(path) = file {
        for (line, entry) in cli::read_list(path)?.entries() {
            let target = Target::parse(entry)
                .map_err(|e| UsageError(format!("{}:{line}: bad target: {e}", path.display())))?;
            targets.push(target);
        }
    }
    if targets.is_empty() {
        bail!("no targets: give HOST[:PORT], -H TARGET or -f FILE");
    }
    Ok(targets)
}

fn run(args: Args, signals: Signals) -> anyhow::Result<ExitCode> {
    let stop = signals.stop;
    let mut named = args.targets;
    named.extend(args.hosts);
    let targets = read_targets(&named, args.file.as_deref())?;
    if args.metrics.metrics.is_some() && args.every.is_none() {
        return Err(
            UsageError("--metrics needs --every (a single round exits at once)".into()).into(),
        );
    }
    if let (None, Some(flag)) = (args.every, args.hooks.given()) {
        let msg = format!("{flag} needs --every (a single round has no transitions)");
        return Err(UsageError(msg).into());
    }
    let limits = Limits {
        down: args.limits.down(),
        rtt: args.limits.rtt(),
        cpu: args.limits.cpu(),
        mem: args.limits.mem(),
    };
    let relays = args
        .via
        .iter()
        .map(|hp| {
            let addr = hp
                .resolve()
                .with_context(|| format!("resolving --via {hp}"))?;
            Ok((hp.to_string(), addr))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let node = args.node.name();
    let codec = args.key.codec()?;
    let timeout = match args.timeout {
        Some(timeout) => timeout,
        None => fitted_timeout(TIMEOUT, args.retries, !relays.is_empty(), args.every),
    };
    let mut prober = Prober::new(node, targets, relays, timeout, args.retries, codec)
        .context("opening a UDP socket")?;
    let mut out = Sink::stdout();
    prober.stop_on(Arc::clone(&stop));

    if let Some(every) = args.every {
        // A single round leaves SIGHUP unread: it is ignored. Standard
        // input is read once: a -f - is not read again.
        let file = args.file.clone().filter(|p| p.as_os_str() != "-");
        let reread =
            file.map(|path| -> ReadTargets { Box::new(move || read_targets(&named, Some(&path))) });
        let web = args
            .metrics
            .serve(args.node_series.series(), Pages::MetricsOnly)?;
        prober.reload_on(
            Reload::new(signals.reload).with_web(web.clone().map(|web| web as _)),
            reread,
        );
        let round_lines = args.verbose.then_some(&limits);
        let detector = args
            .detector
            .config(duration_ms(every), false, usize::MAX)?;
        let metrics = web.as_ref().map(|web| web.metrics().clone());
        let exported = metrics.as_ref();
        if let Some(m) = &metrics {
            out.subscribe(Box::new(m.clone()));
        }
        out.subscribe(Box::new(args.hooks.actions()?));
        watch(
            &mut prober,
            detector,
            round_lines,
            exported,
            &mut out,
            &stop,
        )?;
        return Ok(ExitCode::SUCCESS);
    }

    let outcomes = prober.round()?;
    if prober.stopped() {
        // Interrupted: no verdict, which Nagios calls UNKNOWN.
        if args.format == Format::Nagios {
            writeln!(io::stdout().lock(), "HB UNKNOWN - interrupted")?;
        }
        return Ok(ExitCode::from(State::Unknown.code()));
    }
    let verdict = judge(&outcomes, &limits);
    match args.format {
        Format::Json => {
            // The round's lines together: a write for them all (one per
            // 64 KiB), not a write and a wakeup of the reader per target,
            // which cost a large round more than its probes.
            out.hold_lines();
            emit_round(&mut out, Clock::new().moment(), &outcomes, &verdict)?;
            out.flush()?;
        }
        Format::Nagios => writeln!(io::stdout().lock(), "{}", nagios_line(&verdict, &limits))?,
    }
    // The process ends here and its memory goes back whole: freeing every
    // target's strings one at a time first was a fifteenth of a large
    // round.
    std::mem::forget((prober, outcomes));
    Ok(ExitCode::from(verdict.state.code()))
}
