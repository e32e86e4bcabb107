//! hb-send: send heartbeats, "I am alive", to one or more listeners.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use hb::ack;
use hb::cli::{
    self, parse_interval, parse_timeout, CheckArgs, ExitCodes, HookArgs, JobArgs, KeyArgs,
    NodeArgs, Signals, UsageError, BEAT_EVERY,
};
use hb::clock::{duration_ms, wall_ms};
use hb::health::Sampler;
use hb::net::{Endpoint, HostPort};
use hb::output::Sink;
use hb::push::job;
use hb::push::plan::Plan;
use hb::push::send::{Beater, Options};
use hb::reload::Reload;
use hb::wire::{check_reason, DEFAULT_ACK_PORT, DEFAULT_BEAT_PORT, MIN_AWAY_MS};

/// With --ack: a target is down after this many unacknowledged beats in a
/// row.
const MISSES: u32 = 5;

/// Send heartbeats, "I am alive", to one or more listeners.
///
/// One UDP datagram per interval to every --to target, on a fixed cadence
/// from a monotonic clock. Quiet on success (it fits cron); a target the
/// system says is unreachable (nothing listening on its port, no route) is
/// reported once on stderr and beating goes on; a name with several
/// addresses (IPv6 and IPv4) moves on to its next address then, with the
/// beat it refused, and tries the first again every few beats, back on it
/// as soon as it takes beats.
///
/// With --ack each target (hb-ack, port 26723) acknowledges every beat, so
/// both ends know the other is alive and the path works, at twice the
/// traffic. With --once or --count, the exit code says whether every beat
/// was acknowledged within --timeout.
///
/// Stopped by SIGTERM or SIGINT, it says `leave` to every target (twice, a
/// few milliseconds apart), so listeners print `left` rather than `down`
/// later; not with --ack, whose targets (hb-ack) only take beats.
/// --no-leave keeps the silence a failure.
///
/// With --run -- CMD it is a dead man's switch for a cron or batch job: it
/// says `start`, runs CMD (stdin, stdout and stderr its own), says `done`
/// with its exit code or signal, duration and last line of stderr, and
/// exits with CMD's exit code (128+N for signal N). Each message states
/// when the job is due next (--cron in --tz, or --every), so listeners
/// say `late` when it does not come. A target that cannot be told never
/// changes CMD's fate: it is said on stderr.
#[derive(Parser, Debug)]
#[command(name = "hb-send", version, after_help = EXAMPLES)]
struct Args {
    // Help from wire's port constants, which a doc comment cannot name.
    #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1",
          help = format!("Send each beat to HOST[:PORT] (repeatable; default port {DEFAULT_BEAT_PORT}, or {DEFAULT_ACK_PORT} with --ack)"),
          value_parser = |s: &str| HostPort::parse_target(s, 0))]
    to: Vec<HostPort>,

    // `true`: given twice, the last --node wins (the systemd unit sets one).
    #[command(flatten)]
    node: NodeArgs<true>,

    /// Interval between beats (10ms to 7d); listeners learn it from the beats. With --run, --cron or --grace: the job's interval, stated as its next due time [default: 1s]
    #[arg(long, value_name = "DURATION", value_parser = parse_interval, allow_hyphen_values = true)]
    every: Option<Duration>,

    /// Send N beats, then exit; without --ack, give --every or --cron, which the last beat states as when the next is due (exit 1 if a beat could not be sent: the system refused it at every address of a target)
    #[arg(long, value_name = "N", conflicts_with = "once",
          value_parser = clap::value_parser!(u64).range(1..))]
    count: Option<u64>,

    /// Send one beat and exit: --count 1
    #[arg(long)]
    once: bool,

    /// Allow --to broadcast addresses (255.255.255.255, a subnet's broadcast); multicast groups need nothing
    #[arg(long)]
    broadcast: bool,

    /// Carry health in each beat: CPU (over the interval), memory, swap, load, uptime
    #[arg(long)]
    health: bool,

    /// Print a `sent` event for every beat (and with --ack an `ack` event for every ack)
    #[arg(short, long)]
    verbose: bool,

    /// Ask each target (hb-ack) to acknowledge every beat; print `down` for a target after --misses unacknowledged beats, `up` when acks return
    #[arg(long)]
    ack: bool,

    /// With --ack: a target is down after N unacknowledged beats in a row
    #[arg(long, value_name = "N", default_value_t = MISSES, requires = "ack",
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    misses: u32,

    /// With --ack: how long an ack may take [default: the --every interval]
    #[arg(short = 't', long, value_name = "DURATION", requires = "ack", value_parser = parse_timeout,
          allow_hyphen_values = true)]
    timeout: Option<Duration>,

    /// Do not say `leave` when stopped (SIGTERM, Ctrl-C): listeners then judge the silence, `down` after their misses
    #[arg(long)]
    no_leave: bool,

    /// Announce a planned absence of DURATION (1s to 7d) to every target, then exit: listeners mute the node until then, and say `down` if it has not beaten again by then. With a key, listeners believe it only if this host's clock is within their --max-skew (30s by default)
    #[arg(long, value_name = "DURATION", value_parser = parse_away, allow_hyphen_values = true,
          conflicts_with_all = ["count", "once", "ack", "no_leave", "health", "verbose"])]
    away: Option<Duration>,

    /// With --away: why, shown in the listeners' `away` line and status (at most 200 bytes)
    #[arg(long, value_name = "TEXT", requires = "away", value_parser = parse_reason)]
    reason: Option<String>,

    #[command(flatten)]
    key: KeyArgs,

    #[command(flatten)]
    checks: CheckArgs,

    /// With --ack: act on the paths' transitions
    #[command(flatten)]
    hooks: HookArgs,

    #[command(flatten)]
    job: JobArgs,
}

const EXAMPLES: &str = "\
Examples:
  hb-send --node web-1 --to monitor:26722              # beat every second, forever
  hb-send --node db-1 --health --every 5s --to 10.0.0.9 --to 10.0.0.10
  hb-send --node backup-job --once --every 1d --to monitor   # from cron, after a daily job
  hb-send --node web-1 --check 'http=/usr/lib/nagios/plugins/check_http -H localhost'
  hb-send --node web-1 --to 239.255.26.22:26722        # to every listener of a multicast group
  hb-send --node web-1 --ack --to peer:26723           # acked beats: up/down of the path
  hb-send --node web-1 --ack --once --to peer:26723    # did my heartbeat arrive? exit 0/1
  hb-send --node web-1 --ack --to peer:26723 --on 'down=logger -t hb \"path to $HB_NODE down\"'
  hb-send --node web-1 --away 15m --reason upgrade --to monitor   # planned maintenance
  hb-send --node backup --cron '0 3 * * *' --run -- /usr/local/bin/backup   # a watched cron job";

fn main() -> ExitCode {
    cli::main(ExitCodes::Unix, run)
}

/// `--away 15m`: a planned absence, 1s to 7 days.
fn parse_away(s: &str) -> Result<Duration, String> {
    cli::parse_duration_from(s, Duration::from_millis(MIN_AWAY_MS))
}

/// `--reason upgrade`: printable, as listeners take it.
fn parse_reason(s: &str) -> Result<String, String> {
    check_reason(s).map(|()| s.to_owned())
}

fn run(args: Args, signals: Signals) -> anyhow::Result<ExitCode> {
    if let (false, Some(flag)) = (args.ack, args.hooks.given()) {
        let msg = format!("{flag} needs --ack (only acked beats have transitions)");
        return Err(UsageError(msg).into());
    }
    let beats_once = args.once || args.count.is_some();
    if let (false, false, Some(flag)) = (args.job.run, beats_once, args.job.given()) {
        let msg = format!("{flag} needs --run, --once or --count (a job says when it ran)");
        return Err(UsageError(msg).into());
    }
    // A finite run's last beat still tells listeners when the next is due;
    // left at the default interval, that would be a promise nobody keeps.
    if let (true, false, None, None) = (beats_once, args.ack, args.every, &args.job.cron) {
        let flag = if args.once { "--once" } else { "--count" };
        let msg = format!(
            "{flag} needs --every or --cron: each beat tells listeners when the next is due \
             (--every 1d after a daily job)"
        );
        return Err(UsageError(msg).into());
    }
    let is_job = args.job.run || args.job.given().is_some();
    let plan = match is_job {
        true => Some(Plan {
            schedule: args.job.schedule(args.every, wall_ms())?,
            grace_ms: duration_ms(args.job.grace(args.every)),
            max_run_ms: args.job.max_run.map(duration_ms),
        }),
        false => None,
    };
    let every = match args.every {
        Some(every) => every,
        None => parse_interval(BEAT_EVERY).map_err(anyhow::Error::msg)?,
    };
    if let (true, Some(plan)) = (args.job.run, &plan) {
        return Ok(run_job(&args, every, plan.clone(), &signals));
    }
    // hb-listen takes plain beats, hb-ack the ones that ask for acks.
    let default_port = if args.ack {
        DEFAULT_ACK_PORT
    } else {
        DEFAULT_BEAT_PORT
    };
    let targets = args
        .to
        .into_iter()
        .map(|mut hp| {
            if hp.port == 0 {
                hp.port = default_port;
            }
            let addrs = hp
                .resolve_all()
                .with_context(|| format!("resolving --to {hp}"))?;
            Ok(Endpoint::new(hp.to_string(), addrs))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    if let Some(away) = args.away {
        let options = Options::notices_only(every, args.broadcast, args.key.codec()?);
        return say_away(args.node.name(), targets, options, away, args.reason);
    }
    let health = if args.health {
        Some(Sampler::new().context("starting the health sampler")?)
    } else {
        None
    };
    let node = args.node.name();
    let count = if args.once { Some(1) } else { args.count };
    let timeout = args.timeout.unwrap_or(every);
    let options = Options {
        every,
        count,
        health,
        verbose: args.verbose,
        broadcast: args.broadcast,
        codec: args.key.codec()?,
        checks: args.checks.start(),
        ack: match args.ack {
            true => Some(ack::Config {
                judging: ack::tracker::Config {
                    misses: args.misses,
                    timeout,
                },
                actions: args.hooks.actions()?,
            }),
            false => None,
        },
        leave: !args.no_leave && !args.ack,
        reload: Some(Reload::new(signals.reload)),
        job: plan,
    };
    let names: Vec<String> = targets.iter().map(|t| t.name.clone()).collect();
    if count.is_none() {
        // Like hb-listen's "listening on": a run that goes on says it has
        // started (a cron run, --once or --count, stays quiet).
        let beats = if args.ack { "acked beats" } else { "beats" };
        let every = humantime::format_duration(every);
        hb::say!("{node} {beats} every {every} to {}", names.join(", "));
    }
    let mut beater =
        Beater::new(node, targets, options, Sink::stdout()).context("opening a UDP socket")?;
    let report = beater.run(&signals.stop)?;
    if count.is_none() {
        return Ok(ExitCode::SUCCESS);
    }
    let mut ok = true;
    if report.failed_sends > 0 {
        hb::say!(
            "{} of {} beats could not be sent to every target",
            report.failed_sends,
            report.beats
        );
        ok = false;
    }
    for (name, unacked) in names.iter().zip(&report.unacked) {
        if *unacked > 0 {
            let within = humantime::format_duration(timeout);
            hb::say!(
                "no ack from {name} for {unacked} of {} beats within {within}",
                report.beats
            );
            ok = false;
        }
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// `--away`: one notice (sent twice) to every target, then exit: 1 if a
/// target could not be sent any copy.
fn say_away(
    node: String,
    targets: Vec<Endpoint>,
    options: Options,
    away: Duration,
    reason: Option<String>,
) -> anyhow::Result<ExitCode> {
    let mut beater =
        Beater::new(node, targets, options, Sink::stdout()).context("opening a UDP socket")?;
    let for_ms = u64::try_from(away.as_millis()).unwrap_or(u64::MAX);
    let unreached = beater.say_away(for_ms, reason.as_deref())?;
    if unreached > 0 {
        hb::say!("the away notice could not be sent to {unreached} target(s)");
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

/// `--run -- CMD`: the command run as a job, its start and end told to
/// every target; hb-send's exit code is the command's. Nothing on the way
/// to the targets (a name that does not resolve, a key that cannot be
/// read, a socket) stops the command from running: each is said on
/// stderr, and the command runs, told to the targets that can be reached.
fn run_job(args: &Args, every: Duration, plan: Plan, signals: &Signals) -> ExitCode {
    let targets = args
        .to
        .iter()
        .filter_map(|hp| {
            let mut hp = hp.clone();
            if hp.port == 0 {
                hp.port = DEFAULT_BEAT_PORT;
            }
            match hp.resolve_all() {
                Ok(addrs) => Some(Endpoint::new(hp.to_string(), addrs)),
                Err(e) => {
                    hb::say!("warning: resolving --to {hp}: {e}; the run is not told there");
                    None
                }
            }
        })
        .collect();
    let beater = args.key.codec().and_then(|codec| {
        let options = Options::notices_only(every, args.broadcast, codec);
        Beater::new(args.node.name(), targets, options, Sink::stdout())
            .context("opening a UDP socket")
    });
    let beater = beater.inspect_err(|e| {
        hb::say!("warning: {e:#}; the command runs untold");
    });
    ExitCode::from(job::run(
        beater.ok().as_mut(),
        &plan,
        &args.job.command,
        &signals.stop,
    ))
}
