//! hb-listen ingest against the physical limit, in one run: how many
//! 200-byte beats per second one listener processes, against raw UDP
//! receive loops on the same machine fed by the same sender; what a beat
//! and a tracked node cost in CPU and memory, bare and with what real
//! beats carry (health, a signature, a check result) or with the phi
//! detector; and whether its events and counters are exact.
//! Prints figures; never fails on speed, but exits 1 when a counter or
//! an event is wrong.
//!
//!   cargo bench --bench ingest     # 100,000 nodes, 5 s per measurement, 3 runs
//!   HB_BENCH_RUNS=1 HB_BENCH_SECONDS=2 HB_BENCH_NODES=10000 cargo bench --bench ingest
//!   HB_BIN=other/target/release cargo bench --bench ingest   # another build's hb-listen
//!   HB_BENCH_LOADS=health,production cargo bench --bench ingest   # some loads only

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, UdpSocket};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use hb::auth::Keys;
use hb::checks::{CheckResult, CheckStatus};
use hb::net::Outbox;
use hb::wire::{Beat, Message};

const DATAGRAM: usize = 200;
/// Datagrams per `sendmmsg(2)`: the sender must outrun any one receiver.
const SEND_BATCH: usize = 64;
/// New nodes offered a second in the first round: how fast a fleet's
/// listener learns it.
const LEARN_RATE: u64 = 50_000;

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// What each beat carries, and how the listener judges it: one row of
/// figures each.
#[derive(Clone, Copy, PartialEq)]
enum Load {
    /// 200 bytes: a name, boot, interval and seq, padded.
    Bare,
    /// What `hb-send --health` sends (a real health reading, a wall clock
    /// stamp) from nodes with 28-byte names (node-000123.example.internal,
    /// over the 24 bytes a node record holds inline).
    Health,
    /// The same, signed (`--key-file` on both sides).
    HealthSigned,
    /// The same with one `--check` result.
    HealthSignedCheck,
    /// What production runs: `--health` beats with 28-byte names, into a
    /// listener keeping `--state` and serving `--metrics` (scraped once).
    Production,
    /// Bare beats judged by `--detector phi` (with `--acceptable-pause 3s`,
    /// as recommended where beats come irregularly: here a node's beats
    /// come once per round of the sender, and the kernel drops some).
    Phi,
}

impl Load {
    const ALL: [Load; 6] = [
        Load::Bare,
        Load::Health,
        Load::Production,
        Load::HealthSigned,
        Load::HealthSignedCheck,
        Load::Phi,
    ];

    /// Its name in `HB_BENCH_LOADS`.
    fn key(self) -> &'static str {
        match self {
            Load::Bare => "bare",
            Load::Health => "health",
            Load::HealthSigned => "signed",
            Load::HealthSignedCheck => "signed-check",
            Load::Production => "production",
            Load::Phi => "phi",
        }
    }

    /// The loads `HB_BENCH_LOADS` names (comma-separated keys), or all.
    fn chosen() -> Vec<Load> {
        let Ok(names) = std::env::var("HB_BENCH_LOADS") else {
            return Load::ALL.to_vec();
        };
        let chosen: Vec<Load> = Load::ALL
            .into_iter()
            .filter(|l| names.split(',').any(|n| n.trim() == l.key()))
            .collect();
        assert!(
            !chosen.is_empty(),
            "HB_BENCH_LOADS={names}: none of bare, health, production, signed, signed-check, phi"
        );
        chosen
    }

    fn label(self) -> &'static str {
        match self {
            Load::Bare => "bare beat",
            Load::Health => "`--health`, 28-byte names",
            Load::HealthSigned => "`--health`, signed (`--key-file`)",
            Load::HealthSignedCheck => "`--health`, signed, one `--check`",
            Load::Production => "`--health`, 28-byte names, `--state` and `--metrics` on",
            Load::Phi => "bare beat, `--detector phi`",
        }
    }

    /// The least silence (ms) after which a node of this load may be
    /// suspect, and down: 1.5 and 5 intervals of 1 s under the fixed rule,
    /// the acceptable pause under phi.
    fn deadlines(self) -> (u64, u64) {
        match self {
            Load::Phi => (3000, 3000),
            _ => (1500, 5000),
        }
    }

    fn signed(self) -> bool {
        matches!(self, Load::HealthSigned | Load::HealthSignedCheck)
    }

    /// `health` events expected from `nodes` that came up: the first beat
    /// with a check reports it.
    fn health_events(self, nodes: u64) -> u64 {
        if self == Load::HealthSignedCheck {
            nodes
        } else {
            0
        }
    }
}

/// The beats of every node, with a 10-digit seq that the sender bumps in
/// place every round (replay protection wants it to grow), then signs
/// again when keyed.
struct Beats {
    /// Each datagram, unsigned, and where its seq's digits are.
    datagrams: Vec<(Vec<u8>, usize)>,
    keys: Option<Keys>,
}

const FIRST_SEQ: u64 = 1_000_000_000;

impl Beats {
    fn new(nodes: u64, load: Load, keys: Option<Keys>) -> Self {
        let datagrams = match load {
            Load::Bare | Load::Phi => bare(nodes),
            _ => carrying(nodes, load == Load::HealthSignedCheck),
        };
        let keys = if load.signed() { keys } else { None };
        Beats { datagrams, keys }
    }

    /// The datagrams of one round, signed when keyed.
    fn round(&mut self, round: u64, signed: &mut Vec<Vec<u8>>) {
        let seq = format!("{}", FIRST_SEQ + round);
        for (d, at) in &mut self.datagrams {
            d[*at..*at + 10].copy_from_slice(seq.as_bytes());
        }
        if let Some(keys) = &self.keys {
            signed.resize_with(self.datagrams.len(), Vec::new);
            for ((d, _), out) in self.datagrams.iter().zip(signed.iter_mut()) {
                out.clear();
                out.extend_from_slice(d);
                keys.sign(out);
            }
        }
    }

    /// Bytes of a datagram as sent.
    fn size(&self) -> usize {
        let mut d = self.datagrams[0].0.clone();
        if let Some(keys) = &self.keys {
            keys.sign(&mut d);
        }
        d.len()
    }
}

/// One beat per node, each exactly 200 bytes.
fn bare(nodes: u64) -> Vec<(Vec<u8>, usize)> {
    (0..nodes)
        .map(|i| {
            let head = format!(
                r#"{{"type":"beat","node":"node-{i:06}.bench","boot":"b","every_ms":1000,"seq":"#
            );
            let mut d = format!("{head}{FIRST_SEQ},\"pad\":\"").into_bytes();
            d.resize(DATAGRAM - 2, b'x');
            d.extend_from_slice(b"\"}");
            (d, head.len())
        })
        .collect()
}

/// One beat per node as `hb-send --health` (and `--check`) encodes it,
/// with this machine's health.
fn carrying(nodes: u64, check: bool) -> Vec<(Vec<u8>, usize)> {
    let health = hb::health::Sampler::new().unwrap().sample();
    let health = serde_json::value::to_raw_value(&health).unwrap();
    let checks = check.then(|| {
        vec![CheckResult {
            name: "disk".into(),
            status: CheckStatus::Ok,
            output: "DISK OK - free space: / 51234 MiB (62% inode=91%)".into(),
        }]
    });
    let boot = hb::wire::new_boot_id();
    let ts_ms = hb::clock::wall_ms();
    (0..nodes)
        .map(|i| {
            let beat = Beat {
                node: format!("node-{i:06}.example.internal").into(),
                seq: Some(FIRST_SEQ),
                boot: Some(boot.as_str().into()),
                every_ms: Some(1000),
                ts_ms: Some(ts_ms),
                health: Some(&health),
                ack: false,
                answers: false,
                checks: checks.clone(),
                due: None,
            };
            let mut d = Vec::new();
            hb::wire::encode(&Message::Beat(beat), &mut d).unwrap();
            let seq = format!("\"seq\":{FIRST_SEQ}");
            let at = d
                .windows(seq.len())
                .position(|w| w == seq.as_bytes())
                .unwrap();
            (d, at + seq.len() - 10)
        })
        .collect()
}

/// Sends the beats round after round, as fast as one thread can (batched
/// with `sendmmsg`), until `stop`; returns how many the kernel took.
/// `rounds` counts the rounds sent.
/// How fast the sender goes: beats a second, 0 for as fast as it can.
#[derive(Default, Clone)]
struct Pacing {
    /// The first round's pace: how fast new nodes are offered.
    first_round: u64,
    /// The pace after it, read at every batch, so it can change while the
    /// sender runs.
    later: Arc<AtomicU64>,
    /// When the first round was sent: every node offered.
    first_sent: Arc<OnceLock<Instant>>,
}

fn blast(
    to: SocketAddr,
    mut beats: Beats,
    stop: Arc<AtomicBool>,
    rounds: Arc<AtomicU64>,
    pacing: Pacing,
) -> thread::JoinHandle<u64> {
    thread::spawn(move || {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        sock.connect(to).unwrap();
        let mut sent = 0u64;
        // Since when, and from which count, the current pace holds.
        let mut paced = (0, Instant::now(), 0);
        let mut round = 1u64;
        let mut signed = Vec::new();
        let mut outbox = Outbox::default();
        while !stop.load(Ordering::Relaxed) {
            beats.round(round, &mut signed);
            let datagrams: Vec<&[u8]> = match signed.is_empty() {
                true => beats.datagrams.iter().map(|(d, _)| d.as_slice()).collect(),
                false => signed.iter().map(Vec::as_slice).collect(),
            };
            for chunk in datagrams.chunks(SEND_BATCH) {
                for d in chunk {
                    outbox.push(d, to);
                }
                let refused = outbox.send(&sock).len();
                sent += (chunk.len() - refused) as u64;
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let rate = match round {
                    1 => pacing.first_round,
                    _ => pacing.later.load(Ordering::Relaxed),
                };
                if rate != paced.0 {
                    paced = (rate, Instant::now(), sent);
                }
                if rate > 0 {
                    let due =
                        paced.1 + Duration::from_secs_f64((sent - paced.2) as f64 / rate as f64);
                    thread::sleep(due.saturating_duration_since(Instant::now()));
                }
            }
            rounds.store(round, Ordering::Relaxed);
            if round == 1 {
                let _ = pacing.first_sent.set(Instant::now());
            }
            round += 1;
        }
        sent
    })
}

/// A limit: a loop that only counts datagrams, taking one per blocking
/// `recvfrom`, or spinning on `recvmmsg` batches (hb's own receiver,
/// `hb::net::Receiver`, never waiting). The spinning loop never sleeps,
/// so the sender never pays for waking it: the most this machine delivers.
fn raw(nodes: u64, seconds: u64, batched: bool) -> f64 {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = sock.local_addr().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let counted = Arc::new(AtomicU64::new(0));
    let (c, s) = (counted.clone(), stop.clone());
    let receiver = thread::spawn(move || {
        let mut buf = [0u8; 2048];
        let mut batches = hb::net::Receiver::default();
        sock.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        while !s.load(Ordering::Relaxed) {
            let n = match batched {
                true => batches.recv(&sock, Duration::ZERO).unwrap().count(),
                false => usize::from(sock.recv_from(&mut buf).is_ok()),
            };
            c.fetch_add(n as u64, Ordering::Relaxed);
        }
    });
    let rounds = Arc::new(AtomicU64::new(0));
    let sender = blast(
        addr,
        Beats::new(nodes, Load::Bare, None),
        stop.clone(),
        rounds,
        Pacing::default(),
    );
    thread::sleep(Duration::from_secs(1)); // warm up
    let (n0, t0) = (counted.load(Ordering::Relaxed), Instant::now());
    thread::sleep(Duration::from_secs(seconds));
    let received = counted.load(Ordering::Relaxed) - n0;
    let elapsed = t0.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    sender.join().unwrap();
    receiver.join().unwrap();
    received as f64 / elapsed
}

/// CPU seconds (user + system) the process has used.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command name (which may hold spaces): state is 3rd,
    // utime and stime the 14th and 15th of the whole line.
    let rest = stat.rsplit_once(')').unwrap().1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap();
    ticks / 100.0
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap()
}

/// Datagrams the kernel dropped for the IPv4 UDP socket bound to `port`
/// (its receive buffer was full): the `drops` column of /proc/net/udp.
fn socket_drops(port: u16) -> u64 {
    let table = std::fs::read_to_string("/proc/net/udp").unwrap();
    let local = format!(":{port:04X}");
    table
        .lines()
        .skip(1)
        .find(|l| {
            l.split_whitespace()
                .nth(1)
                .is_some_and(|a| a.ends_with(&local))
        })
        .and_then(|l| l.split_whitespace().last()?.parse().ok())
        .unwrap_or(0)
}

/// Packets the kernel dropped before any socket (a full backlog queue),
/// summed over CPUs: the second column of /proc/net/softnet_stat, in hex.
fn backlog_drops() -> u64 {
    let stat = std::fs::read_to_string("/proc/net/softnet_stat").unwrap_or_default();
    stat.lines()
        .filter_map(|l| u64::from_str_radix(l.split_whitespace().nth(1)?, 16).ok())
        .sum()
}

/// The events hb-listen printed, by kind. A node whose beats the kernel
/// dropped (a full receive buffer) may rightly turn suspect and come back,
/// and on a machine too busy to run the listener even go down: never
/// before its silence reached the deadline, though; and each node comes up
/// once.
#[derive(Default)]
struct Printed {
    first_ups: AtomicU64,
    suspects: AtomicU64,
    downs: AtomicU64,
    /// Suspects and downs before their deadline.
    early: AtomicU64,
    health: AtomicU64,
    others: AtomicU64,
    rejected: AtomicU64,
    /// The longest stall the listener said it had, in ms.
    worst_stall: AtomicU64,
}

/// The hb-listen under test: this build's, or `$HB_BIN/hb-listen`.
fn hb_listen() -> PathBuf {
    match std::env::var_os("HB_BIN") {
        Some(dir) => PathBuf::from(dir).join("hb-listen"),
        None => PathBuf::from(env!("CARGO_BIN_EXE_hb-listen")),
    }
}

/// hb-listen for `load`, its address, and its metrics address if it
/// serves metrics.
fn spawn_listener(load: Load, key_file: &std::path::Path) -> (Child, SocketAddr, Option<String>) {
    let mut command = Command::new(hb_listen());
    command.args([
        "--listen",
        "127.0.0.1:0",
        "--status-every",
        &format!("{}s", env("HB_BENCH_SECONDS", 5)),
        "--max-nodes",
        "1000000",
        "--flap-changes",
        "0",
    ]);
    if load.signed() {
        command.arg("--key-file").arg(key_file);
    }
    if load == Load::Phi {
        command.args(["--detector", "phi", "--acceptable-pause", "3s"]);
    }
    if load == Load::Production {
        // Each run is a first start: the last run's file would be read
        // back (a restart forgets nothing).
        let _ = std::fs::remove_file(state_file());
        command.arg("--state").arg(state_file());
        command.args(["--metrics", "127.0.0.1:0"]);
    }
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut metrics = None;
    loop {
        let mut line = String::new();
        err.read_line(&mut line).unwrap();
        if let Some((_, at)) = line.rsplit_once("metrics on http://") {
            metrics = Some(at.trim().trim_end_matches("/metrics").to_owned());
            continue;
        }
        // Its other lines (the status page's address) come before.
        let Some((_, addr)) = line.rsplit_once("listening on ") else {
            assert!(!line.is_empty(), "hb-listen did not start");
            continue;
        };
        return (child, addr.trim().parse().unwrap(), metrics);
    }
}

/// Where the production row's listener keeps its state file.
fn state_file() -> PathBuf {
    std::env::temp_dir().join(format!("hb-bench-state-{}.json", std::process::id()))
}

/// How long a `GET /metrics` takes, whole.
fn scrape(addr: &str) -> Duration {
    use std::io::{Read, Write};
    let started = Instant::now();
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(s, "GET /metrics HTTP/1.0\r\n\r\n").unwrap();
    let mut body = Vec::new();
    s.read_to_end(&mut body).unwrap();
    assert!(body.starts_with(b"HTTP/1.0 200"), "scrape failed");
    started.elapsed()
}

/// The number after `"key":` in a line.
fn field(line: &str, key: &str) -> Option<u64> {
    let rest = line.split_once(&format!("\"{key}\":"))?.1;
    rest.split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

struct Ingest {
    rate: f64,
    /// CPU (user + system) per beat, in microseconds.
    cpu_us: f64,
    per_node: f64,
    /// The same later, after a status line of every node and (with
    /// `--metrics`) a scrape: what those leave behind.
    per_node_later: f64,
    /// Rounds the sender had sent when memory was measured: beats a node.
    rounds: u64,
    sent: u64,
    received: u64,
    dropped: u64,
    ups: u64,
    suspects: u64,
    downs: u64,
    early: u64,
    health: u64,
    others: u64,
    rejected: u64,
    /// From the last new node sent (the end of the first round) until
    /// every node was up; None if not every node came up within 5 s.
    learned: Option<Duration>,
    /// With `--metrics`: a scrape's time, and the beats the socket dropped
    /// meanwhile, at full ingest.
    scraped: Option<(Duration, u64)>,
    /// The same with the sender held to half the rate the listener kept:
    /// the pace, the scrape's time, the drops during it, and the drops in
    /// as long again without a scrape.
    calm_scrape: Option<(u64, Duration, u64, u64)>,
    worst_stall: u64,
}

impl Ingest {
    /// Every beat sent was received or dropped by the kernel, counted.
    fn exact(&self) -> bool {
        self.sent == self.received + self.dropped
    }

    /// One first `up` per node (but for a node all of whose beats the
    /// kernel dropped), the expected `health` events, suspects and downs
    /// only once their deadline has passed (a listener starved of CPU sees
    /// silences the sender did not make), nothing else, nothing rejected.
    fn right(&self, load: Load, nodes: u64) -> bool {
        (self.ups == nodes || (self.ups < nodes && self.dropped > 0))
            && self.health == load.health_events(self.ups)
            && self.early == 0
            && self.others == 0
            && self.rejected == 0
    }
}

/// hb-listen under `load`: the rate from its own `received` counter
/// (between two status lines), CPU per beat, RSS growth per node, and at
/// the end its counters against what was sent.
fn listener(nodes: u64, load: Load, beats: Beats, key_file: &std::path::Path) -> Ingest {
    let (mut child, addr, metrics) = spawn_listener(load, key_file);
    let rss0 = rss_kib(child.id());
    let backlog0 = backlog_drops();
    // Status lines carry every node: only the counters are parsed.
    let (tx, rx) = mpsc::channel::<(Instant, u64, u64)>();
    let printed = Arc::new(Printed::default());
    let seen = printed.clone();
    let out = BufReader::new(child.stdout.take().unwrap());
    let (suspect_after, down_after) = load.deadlines();
    thread::spawn(move || {
        for line in out.lines().map_while(Result::ok) {
            let kind = line.split('"').nth(3).unwrap_or_default();
            match kind {
                "status" => {
                    let received = field(&line, "received").unwrap();
                    // Status lines end with rejections by reason.
                    let rejected = line
                        .rsplit_once(r#""rejected":"#)
                        .and_then(|(_, r)| r.split_once('}'))
                        .and_then(|(r, _)| {
                            serde_json::from_str::<BTreeMap<String, u64>>(&format!("{r}}}")).ok()
                        })
                        .map_or(0, |by_reason| by_reason.values().sum());
                    if tx.send((Instant::now(), received, rejected)).is_err() {
                        break;
                    }
                }
                "up" if !line.contains(r#""was":"#) => {
                    _ = seen.first_ups.fetch_add(1, Ordering::Relaxed)
                }
                "up" => {}
                "suspect" | "down" => {
                    let (count, deadline) = match kind {
                        "suspect" => (&seen.suspects, suspect_after),
                        _ => (&seen.downs, down_after),
                    };
                    count.fetch_add(1, Ordering::Relaxed);
                    if field(&line, "silent_ms").is_none_or(|silent| silent < deadline) {
                        seen.early.fetch_add(1, Ordering::Relaxed);
                    }
                }
                "health" => _ = seen.health.fetch_add(1, Ordering::Relaxed),
                // The listener's own faults: its stalls and its socket's
                // drops (which the sent = received + dropped check counts).
                "observer" => {
                    let stall = field(&line, "stall_ms").unwrap_or(0);
                    seen.worst_stall.fetch_max(stall, Ordering::Relaxed);
                }
                "rejected" => _ = seen.rejected.fetch_add(1, Ordering::Relaxed),
                _ => _ = seen.others.fetch_add(1, Ordering::Relaxed),
            }
        }
    });
    let stop = Arc::new(AtomicBool::new(false));
    let rounds = Arc::new(AtomicU64::new(0));
    // New nodes are offered at LEARN_RATE a second; then as fast as the
    // sender goes.
    let pacing = Pacing {
        first_round: LEARN_RATE,
        ..Pacing::default()
    };
    let sender = blast(addr, beats, stop.clone(), rounds.clone(), pacing.clone());
    // Memory once every node is tracked (its first `up` printed), and
    // again after status lines and scrapes (what they leave behind). On a
    // busy machine the listener may not have met every node by then: the
    // growth is divided by the nodes it has.
    let start = Instant::now();
    let mut all_up = None;
    while all_up.is_none() && start.elapsed().as_secs() < 5 {
        if printed.first_ups.load(Ordering::Relaxed) >= nodes {
            all_up = Some(Instant::now());
        }
        thread::sleep(Duration::from_millis(1));
    }
    // From the last new node sent (the first round's end) to every node up.
    let learned = all_up
        .zip(pacing.first_sent.get())
        .map(|(up, sent)| up.saturating_duration_since(*sent));
    let tracked = printed.first_ups.load(Ordering::Relaxed).max(1);
    let per_node = rss_kib(child.id()).saturating_sub(rss0) as f64 * 1024.0 / tracked as f64;
    let rounds = rounds.load(Ordering::Relaxed);
    let mut first = rx.recv().unwrap();
    while first.1 < nodes {
        first = rx.recv().expect("hb-listen sees every node");
    }
    let cpu0 = cpu_seconds(child.id());
    // One scrape in the middle of the measurement, at full ingest; the
    // socket's drops during it are the scrape's cost.
    let scraped = metrics.as_ref().map(|at| {
        let drops = socket_drops(addr.port());
        let took = scrape(at);
        (took, socket_drops(addr.port()) - drops)
    });
    let last = rx.recv().unwrap();
    let cpu = cpu_seconds(child.id()) - cpu0;
    let rate = (last.1 - first.1) as f64 / last.0.duration_since(first.0).as_secs_f64();
    let per_node_later = rss_kib(child.id()).saturating_sub(rss0) as f64 * 1024.0 / nodes as f64;
    // A scrape with the listener not overloaded: drops then are its own.
    let calm_scrape = metrics.as_ref().map(|at| {
        let calm = (rate / 2.0) as u64;
        pacing.later.store(calm, Ordering::Relaxed);
        thread::sleep(Duration::from_secs(2));
        let before = socket_drops(addr.port());
        let took = scrape(at);
        let during = socket_drops(addr.port());
        thread::sleep(took);
        let after = socket_drops(addr.port());
        pacing.later.store(0, Ordering::Relaxed);
        (calm, took, during - before, after - during)
    });
    // Events until the beats stop: afterwards every node turns suspect.
    let [ups, suspects, downs, early, health, others] = [
        &printed.first_ups,
        &printed.suspects,
        &printed.downs,
        &printed.early,
        &printed.health,
        &printed.others,
    ]
    .map(|count| count.load(Ordering::Relaxed));
    stop.store(true, Ordering::Relaxed);
    let sent = sender.join().unwrap();
    // Status lines printed while the sender still sent (during the calm
    // scrape) are stale: the first one after this comes once the queue
    // has drained (a status period is far longer than the queue takes);
    // one more is awaited if the counters are short, in case it came
    // early.
    while rx.try_recv().is_ok() {}
    let mut end = rx.recv().unwrap();
    let mut dropped = socket_drops(addr.port()) + backlog_drops() - backlog0;
    if end.1 + dropped < sent {
        end = rx.recv().unwrap();
        dropped = socket_drops(addr.port()) + backlog_drops() - backlog0;
    }
    let _ = child.kill();
    let _ = child.wait();
    let beats = (last.1 - first.1) as f64;
    Ingest {
        rate: beats / last.0.duration_since(first.0).as_secs_f64(),
        cpu_us: cpu * 1e6 / beats,
        per_node,
        per_node_later,
        rounds,
        sent,
        received: end.1,
        dropped,
        ups,
        suspects,
        downs,
        early,
        health,
        others,
        rejected: end.2 + printed.rejected.load(Ordering::Relaxed),
        learned,
        scraped,
        calm_scrape,
        worst_stall: printed.worst_stall.load(Ordering::Relaxed),
    }
}

fn median(mut figures: Vec<f64>) -> f64 {
    figures.sort_by(f64::total_cmp);
    figures[figures.len() / 2]
}

fn worst(figures: impl Iterator<Item = f64>) -> f64 {
    figures.fold(f64::NAN, f64::max)
}

/// A key file for the signed loads, readable by its owner only.
fn key_file() -> PathBuf {
    let path = std::env::temp_dir().join(format!("hb-bench-ingest-{}.key", std::process::id()));
    std::fs::write(&path, "bench-ingest-key-0123456789abcdef\n").unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path
}

fn main() -> ExitCode {
    let nodes = env("HB_BENCH_NODES", 100_000);
    let seconds = env("HB_BENCH_SECONDS", 5);
    // Rates on a shared (virtual) machine vary from run to run: the
    // loops take turns, RUNS times, and each figure is the median (with
    // the worst run beside it).
    let runs = env("HB_BENCH_RUNS", 3).max(1);
    let key_path = key_file();
    let keys = Keys::load(&key_path).unwrap();
    let (mut single, mut limit) = (vec![], vec![]);
    let mut hb: Vec<(Load, Vec<Ingest>)> =
        Load::chosen().into_iter().map(|l| (l, vec![])).collect();
    let mut sizes = BTreeMap::new();
    for _ in 0..runs {
        single.push(raw(nodes, seconds, false));
        limit.push(raw(nodes, seconds, true));
        for (load, results) in &mut hb {
            let beats = Beats::new(nodes, *load, Some(keys.clone()));
            sizes.insert(load.label(), beats.size());
            results.push(listener(nodes, *load, beats, &key_path));
        }
    }
    let _ = std::fs::remove_file(&key_path);
    let _ = std::fs::remove_file(state_file());
    println!("| measurement (median of {runs} runs, worst run) | figure |");
    println!("|---|---|");
    println!(
        "| raw UDP receive loop, one `recvfrom` per {DATAGRAM}-byte datagram | {:.0} /s (worst {:.0}) |",
        median(single.clone()),
        single.iter().copied().fold(f64::INFINITY, f64::min)
    );
    let limit_median = median(limit.clone());
    println!(
        "| raw UDP receive loop, spinning on `recvmmsg` batches (the limit) | {limit_median:.0} /s (worst {:.0}) |",
        limit.iter().copied().fold(f64::INFINITY, f64::min)
    );
    println!();
    println!("hb-listen, {nodes} distinct nodes (median of {runs} runs; worst run in brackets):");
    println!();
    println!("| beats | bytes | beats/s | share of the limit, each run | CPU per beat | memory per node | beats a node when measured |");
    println!("|---|---|---|---|---|---|---|");
    for (load, results) in &hb {
        let shares = results
            .iter()
            .zip(&limit)
            .map(|(h, l)| format!("{:.0}%", 100.0 * h.rate / l))
            .collect::<Vec<_>>();
        // A short smoke run may not see a whole clock tick of CPU.
        let cpu = median(results.iter().map(|h| h.cpu_us).collect());
        let cpu = match cpu.is_finite() && cpu > 0.0 {
            true => format!(
                "{cpu:.2} us ({:.2} us)",
                worst(results.iter().map(|h| h.cpu_us))
            ),
            false => "n/a (run longer)".into(),
        };
        println!(
            "| {} | {} | {:.0} ({:.0}) | {} | {cpu} | {:.0} bytes ({:.0}) | {} |",
            load.label(),
            sizes[load.label()],
            median(results.iter().map(|h| h.rate).collect()),
            results.iter().map(|h| h.rate).fold(f64::INFINITY, f64::min),
            shares.join(", "),
            median(results.iter().map(|h| h.per_node).collect()),
            worst(results.iter().map(|h| h.per_node)),
            median(results.iter().map(|h| h.rounds as f64).collect()),
        );
    }
    println!();
    println!("| beats | every node up after the last new one was sent ({LEARN_RATE} new a second) | a scrape of /metrics at full ingest (drops meanwhile) | a scrape at half the rate the listener kept: time, drops during it (in as long again without one) | the listener's worst stall | memory per node after status lines and a scrape |");
    println!("|---|---|---|---|---|---|");
    for (load, results) in &hb {
        let learned: Vec<String> = results
            .iter()
            .map(|h| {
                h.learned
                    .map_or("not within 5 s".into(), |d| format!("{} ms", d.as_millis()))
            })
            .collect();
        let scraped: Vec<String> = results
            .iter()
            .filter_map(|h| h.scraped)
            .map(|(d, drops)| format!("{} ms ({drops})", d.as_millis()))
            .collect();
        let stalls: Vec<String> = results
            .iter()
            .map(|h| format!("{} ms", h.worst_stall))
            .collect();
        let calm: Vec<String> = results
            .iter()
            .filter_map(|h| h.calm_scrape)
            .map(|(pace, took, during, without)| {
                format!("{pace}/s: {} ms, {during} ({without})", took.as_millis())
            })
            .collect();
        let later: Vec<String> = results
            .iter()
            .map(|h| format!("{:.0} bytes", h.per_node_later))
            .collect();
        let or_dash = |figures: Vec<String>| match figures.is_empty() {
            true => "-".to_owned(),
            false => figures.join(", "),
        };
        println!(
            "| {} | {} | {} | {} | {} | {} |",
            load.label(),
            learned.join(", "),
            or_dash(scraped),
            or_dash(calm),
            stalls.join(", "),
            later.join(", ")
        );
    }
    println!();
    let mut wrong = 0;
    for (load, results) in &hb {
        for (run, h) in results.iter().enumerate() {
            let (exact, right) = (h.exact(), h.right(*load, nodes));
            wrong += usize::from(!exact) + usize::from(!right);
            println!(
                "{}, run {}: sent = received + dropped by the kernel: {} = {} + {} ({}); events: {} first up, {} health, {} suspect and {} down on kernel drops ({} before the deadline), {} other, {} rejected ({})",
                load.label(),
                run + 1,
                h.sent,
                h.received,
                h.dropped,
                if exact { "exact" } else { "MISMATCH" },
                h.ups,
                h.health,
                h.suspects,
                h.downs,
                h.early,
                h.others,
                h.rejected,
                if right { "right" } else { "WRONG" }
            );
        }
    }
    if wrong > 0 {
        eprintln!("ingest: {wrong} wrong results (MISMATCH or WRONG above)");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
