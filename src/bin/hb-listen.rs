//! hb-listen: receive heartbeats and report which nodes are up, suspect or down.

use std::io::BufRead;
use std::net::{IpAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::Parser;
use hb::cli::{
    self, parse_interval, parse_multicast, parse_node, parse_pause, ConfirmArgs, DetectorArgs,
    ExitCodes, HookArgs, IntakeArgs, KeyArgs, ListenArgs, MetricsArgs, NodeSeriesArgs, Signals,
    StatusArgs, UsageError, BEAT_EVERY,
};
use hb::clock::{duration_ms, Clock};
use hb::detector::Detector;
use hb::net::HostPort;
use hb::output::Sink;
use hb::push::listen::{self, ConfirmOptions, Listener, ReadExpected};
use hb::quorum::link::PEER_TIMEOUT_VIEWS;
use hb::quorum::Membership;
use hb::reload::Reload;
use hb::web::Pages;
use hb::wire::{self, DEFAULT_BEAT_PORT};

/// The fixed detector's --misses: a node is down after this many of its
/// intervals of silence.
const MISSES: u32 = 5;

/// With --state: how often at most the state file is rewritten.
const STATE_EVERY: &str = "1s";

/// How long a node stays down (or left) before it is forgotten.
const FORGET_AFTER: &str = "24h";

/// With --peer: how often this observer sends its view to its peers.
const VIEW_EVERY: &str = "1s";

/// Receive heartbeats and report which nodes are up, suspect or down.
///
/// Prints one JSON event per line: `up` at a node's first beat (and when it
/// comes back), `suspect` at its first missed beat, `restart` when its boot
/// id changes, and `down`: at once when a suspect node whose beats say it
/// answers is asked whether it is alive and its port is closed (a crashed
/// process), else after --misses of its own intervals of silence, never on
/// a single miss. Each node's interval is learned from its beats.
///
/// With --peer, this listener is one observer of a quorum group: observers
/// share their views, and a node is declared down (or up) only when
/// --quorum of them agree, so one observer's bad link is no false alarm.
#[derive(Parser, Debug)]
#[command(name = "hb-listen", version, after_help = EXAMPLES)]
struct Args {
    #[command(flatten)]
    listen: ListenArgs<DEFAULT_BEAT_PORT>,

    /// Interval assumed for beats that do not state theirs, and for expected nodes (10ms to 7d)
    #[arg(long, value_name = "DURATION", default_value = BEAT_EVERY, value_parser = parse_interval,
          allow_hyphen_values = true)]
    every: Duration,

    /// A node that must exist: reported down if it never beats (repeatable)
    #[arg(long, value_name = "NODE", value_parser = parse_node)]
    expect: Vec<String>,

    /// Read expected nodes from FILE, one per line ('#' comments; '-' for stdin); read again on SIGHUP
    #[arg(long, value_name = "FILE")]
    expect_file: Option<PathBuf>,

    /// Also print a `beat` event for every heartbeat received
    #[arg(long)]
    beats: bool,

    #[command(flatten)]
    status: StatusArgs,

    /// Keep FILE (mode 0600) holding the membership snapshot (a `status` object), rewritten atomically when a node's state or checks changed (at most once per --state-every) or beats came (once their seqs are 10s old), and at stop; read back at start (a regular file only), so a restart forgets no node and takes no beat twice
    #[arg(long, value_name = "FILE")]
    state: Option<PathBuf>,

    /// With --state: rewrite FILE at most this often, so a change (and a beat's seq, which a restart after a crash would otherwise accept again) is on disk within DURATION and learning a fleet costs a few writes
    #[arg(long, value_name = "DURATION", default_value = STATE_EVERY, requires = "state",
          value_parser = parse_interval, allow_hyphen_values = true)]
    state_every: Duration,

    /// Forget a node down for DURATION: a `forgotten` line, and it is gone from status, the state file and metrics (0: never; expected nodes never are)
    #[arg(long, value_name = "DURATION", default_value = FORGET_AFTER, value_parser = parse_pause,
          allow_hyphen_values = true)]
    forget_after: Duration,

    /// Read beats as NDJSON lines from FILE ('-' for stdin) instead of a socket: what hb-ack and --beats print, or any recording
    #[arg(long, value_name = "FILE", conflicts_with = "listen")]
    from: Option<PathBuf>,

    /// Join multicast GROUP (IPv4 or IPv6; repeatable) to receive beats senders address to the group
    #[arg(long, value_name = "GROUP", conflicts_with = "from", value_parser = parse_multicast)]
    join: Vec<IpAddr>,

    /// Another observer of a quorum group (its hb-listen address; repeatable): up and down become group verdicts
    #[arg(long, value_name = "HOST:PORT", conflicts_with = "from",
          value_parser = |s: &str| HostPort::parse(s, DEFAULT_BEAT_PORT))]
    peer: Vec<HostPort>,

    /// With --peer: this observer's name in views and votes (default: the host name)
    #[arg(long, value_name = "NAME", requires = "peer", value_parser = parse_node)]
    observer: Option<String>,

    /// With --peer: observers (self included) that must agree on up or down [default: a majority]
    #[arg(long, value_name = "K", requires = "peer",
          value_parser = clap::value_parser!(u64).range(1..))]
    quorum: Option<u64>,

    #[arg(long, value_name = "DURATION", default_value = VIEW_EVERY, requires = "peer",
          value_parser = parse_interval, allow_hyphen_values = true, help = view_every_help())]
    view_every: Duration,

    /// With --from: judge on the lines' own ts_ms clock, so a recording replays in milliseconds with the events it would have given live
    #[arg(long, requires = "from")]
    replay: bool,

    #[command(flatten)]
    detector: DetectorArgs<MISSES>,

    #[command(flatten)]
    confirm: ConfirmArgs,

    #[command(flatten)]
    key: KeyArgs,

    #[command(flatten)]
    intake: IntakeArgs,

    #[command(flatten)]
    metrics: MetricsArgs,

    #[command(flatten)]
    node_series: NodeSeriesArgs,

    #[command(flatten)]
    hooks: HookArgs,
}

const EXAMPLES: &str = "\
Examples:
  hb-listen                                  # watch every node that beats to port 26722
  hb-listen --expect web-1 --expect web-2    # also report nodes that never show up
  hb-listen | jq -c 'select(.type == \"down\")'
  hb-listen --status-every 10s | jq -c 'select(.type == \"status\") | .up'
  hb-ack | hb-listen --from -                # judge the senders of acked beats
  hb-listen --from recorded.ndjson --replay  # what would the detector have said?
  hb-listen --observer o1 --peer o2:26722 --peer o3:26722   # one of three observers
  hb-listen --join 239.255.26.22             # beats sent to a multicast group
  hb-listen --remind-every 1m --on 'down,still-down,up,left=contrib/hooks/alertmanager am:9093'";

/// --view-every's help, with how many views a silent peer may miss.
fn view_every_help() -> String {
    format!(
        "With --peer: send this observer's view to its peers every DURATION (and at once on a change); a peer silent for {PEER_TIMEOUT_VIEWS} of them is unreachable"
    )
}

fn main() -> ExitCode {
    cli::main(ExitCodes::Unix, run)
}

/// The quorum group from --peer, --observer, --quorum and --view-every.
fn membership(args: &Args) -> anyhow::Result<Membership> {
    let peers = args
        .peer
        .iter()
        .map(|p| p.resolve().with_context(|| format!("resolving --peer {p}")))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let observer = args.observer.clone().unwrap_or_else(cli::host_name);
    let max_votes = args.intake.max_nodes as usize;
    Membership::new(
        observer,
        peers,
        args.quorum,
        duration_ms(args.view_every),
        max_votes,
    )
    .map_err(|e| UsageError(e.to_string()).into())
}

/// The expected nodes: those of --expect, then those of --expect-file.
fn read_expected(expect: &[String], file: Option<&Path>) -> anyhow::Result<Vec<String>> {
    let mut expected = expect.to_vec();
    if let Some(path) = file {
        for (line, node) in cli::read_list(path)?.entries() {
            if wire::check_node(node).is_err() {
                bail!(
                    "{}:{line}: {node:?} is not a valid node name",
                    path.display()
                );
            }
            expected.push(node.to_owned());
        }
    }
    Ok(expected)
}

/// Where the beats come from: the socket, or a recording (--from).
enum Source {
    Socket(UdpSocket),
    Replay(Box<dyn BufRead + Send>),
    Lines(Box<dyn BufRead + Send>),
}

fn run(args: Args, signals: Signals) -> anyhow::Result<ExitCode> {
    let stop = signals.stop;
    let stdin = |path: &Option<PathBuf>| path.as_ref().is_some_and(|p| p.as_os_str() == "-");
    if stdin(&args.from) && stdin(&args.expect_file) {
        let msg =
            "--from - and --expect-file - would both read standard input: name a file for one";
        return Err(UsageError(msg.into()).into());
    }
    let clock = Clock::new();
    let max_nodes = args.intake.max_nodes as usize;
    let config = args
        .detector
        .config(duration_ms(args.every), args.beats, max_nodes)?;
    let mut detector = Detector::new(config, clock.now());
    if !args.forget_after.is_zero() {
        detector.forget_after(duration_ms(args.forget_after));
    }
    // A restart forgets nothing; a replay judges its recording alone.
    if let (Some(path), false) = (&args.state, args.replay) {
        listen::restore_state(path, &mut detector, clock.moment());
    }
    let expected = read_expected(&args.expect, args.expect_file.as_deref())?;
    for node in &expected {
        if detector.expect(node).is_err() {
            let msg = format!("more expected nodes than --max-nodes {max_nodes}");
            return Err(UsageError(msg).into());
        }
    }
    let codec = args.key.codec()?;
    let intake = args.intake.intake(codec);
    let max_skew = duration_ms(args.intake.max_skew);
    let status_every = args.status.every_ms();
    let start = clock.now();
    let mut listener = Listener::new(
        detector,
        Sink::stdout(),
        intake,
        max_skew,
        status_every,
        start,
    );
    if let Some(path) = args.state.clone() {
        listener
            .keep_state_file(path, duration_ms(args.state_every))
            .context("starting the state file's writer")?;
    }
    let mut actions = args.hooks.actions()?;
    let web = args.metrics.plan()?;
    // The listener's own sockets come before the web side's, so that no
    // crowd of web clients can take the descriptors they need.
    let source = match &args.from {
        Some(path) if args.replay => Source::Replay(cli::open_input(path)?),
        Some(path) => Source::Lines(cli::open_input(path)?),
        None => {
            if !args.peer.is_empty() {
                listener.join_group(membership(&args)?, start);
            }
            // Probes are the socket's: a recording has no one to ask.
            if args.confirm.enabled() {
                listener.confirm_suspicions(ConfirmOptions {
                    name: args.observer.clone().unwrap_or_else(cli::host_name),
                    trust_unreachable: args.confirm.trust_unreachable,
                    false_down_chance: args.confirm.false_down_chance,
                })?;
            }
            Source::Socket(args.listen.bind(&args.join)?)
        }
    };
    let web = web
        .map(|plan| plan.serve(args.node_series.series(), Pages::Membership))
        .transpose()?;
    if let Some(web) = &web {
        listener
            .serve_web(web)
            .context("starting the web side's status writer")?;
    }
    actions.expect(&expected);
    listener.act(actions);
    // Standard input is read once: an --expect-file - is not read again.
    let expect_file = args.expect_file.clone().filter(|p| p.as_os_str() != "-");
    let reread = expect_file.map(|path| {
        let expect = args.expect.clone();
        let read: ReadExpected = Box::new(move || read_expected(&expect, Some(&path)));
        (read, expected)
    });
    listener.reload_on(
        Reload::new(signals.reload).with_web(web.map(|web| web as _)),
        reread,
    );
    match source {
        Source::Socket(socket) => {
            cli::say_listening(&socket)?;
            listener.run_socket(&socket, &clock, &stop)?
        }
        Source::Replay(input) => listener.replay(input, &stop)?,
        Source::Lines(input) => {
            let lines = listen::spawn_line_reader(input);
            listener.run_lines(&lines, &clock, &stop)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
