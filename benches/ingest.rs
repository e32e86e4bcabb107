//! hb-listen ingest against the physical limit, in one run: how many
//! 200-byte beats per second one listener processes, against raw UDP
//! receive loops on the same machine fed by the same sender; whether its
//! events and counters are exact; and the memory a tracked node costs.
//! Prints figures; never fails on speed.
//!
//!   cargo bench --bench ingest     # 100,000 nodes, 5 s per measurement, 3 runs
//!   HB_BENCH_RUNS=1 HB_BENCH_SECONDS=2 HB_BENCH_NODES=10000 cargo bench --bench ingest

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, IoSlice};
use std::net::{SocketAddr, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use rustix::net::{sendmmsg, MMsgHdr, SendAncillaryBuffer, SendFlags};

const DATAGRAM: usize = 200;
/// Datagrams per `sendmmsg(2)`: the sender must outrun any one receiver.
const SEND_BATCH: usize = 64;

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// One beat per node, each exactly 200 bytes, with a 10-digit seq that
/// the sender bumps in place every round (replay protection wants it to
/// grow).
fn beats(nodes: u64) -> Vec<(Vec<u8>, usize)> {
    (0..nodes)
        .map(|i| {
            let head = format!(
                r#"{{"type":"beat","node":"node-{i:06}.bench","boot":"b","every_ms":1000,"seq":"#
            );
            let mut d = format!("{head}1000000000,\"pad\":\"").into_bytes();
            d.resize(DATAGRAM - 2, b'x');
            d.extend_from_slice(b"\"}");
            (d, head.len())
        })
        .collect()
}

/// Sends the beats round after round, as fast as one thread can (batched
/// with `sendmmsg`), until `stop`; returns how many the kernel took.
fn blast(
    to: SocketAddr,
    mut beats: Vec<(Vec<u8>, usize)>,
    stop: Arc<AtomicBool>,
) -> thread::JoinHandle<u64> {
    thread::spawn(move || {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        sock.connect(to).unwrap();
        let mut sent = 0u64;
        let mut round = 1u64;
        while !stop.load(Ordering::Relaxed) {
            let seq = format!("{}", 1_000_000_000 + round);
            for (d, at) in &mut beats {
                d[*at..*at + 10].copy_from_slice(seq.as_bytes());
            }
            let iovecs: Vec<IoSlice> = beats.iter().map(|(d, _)| IoSlice::new(d)).collect();
            for chunk in iovecs.chunks(SEND_BATCH) {
                let mut controls: Vec<SendAncillaryBuffer> = chunk
                    .iter()
                    .map(|_| SendAncillaryBuffer::default())
                    .collect();
                let mut messages: Vec<MMsgHdr> = chunk
                    .iter()
                    .zip(&mut controls)
                    .map(|(iov, control)| MMsgHdr::new(std::slice::from_ref(iov), control))
                    .collect();
                let mut done = 0;
                while done < messages.len() {
                    match sendmmsg(&sock, &mut messages[done..], SendFlags::empty()) {
                        Ok(n) => done += n,
                        Err(_) => break,
                    }
                }
                sent += done as u64;
                if stop.load(Ordering::Relaxed) {
                    break;
                }
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
    let sender = blast(addr, beats(nodes), stop.clone());
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
/// dropped (a full receive buffer) may rightly turn suspect and come back;
/// nothing may go down, and each node comes up once.
#[derive(Default)]
struct Printed {
    first_ups: AtomicU64,
    suspects: AtomicU64,
    others: AtomicU64,
    rejected: AtomicU64,
}

fn spawn_listener() -> (Child, SocketAddr) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_hb-listen"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--status-every",
            &format!("{}s", env("HB_BENCH_SECONDS", 5)),
            "--max-nodes",
            "1000000",
            "--flap-changes",
            "0",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    err.read_line(&mut line).unwrap();
    let addr = line
        .rsplit_once("listening on ")
        .unwrap()
        .1
        .trim()
        .parse()
        .unwrap();
    (child, addr)
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
    per_cpu_second: f64,
    per_node: f64,
    sent: u64,
    received: u64,
    dropped: u64,
    ups: u64,
    suspects: u64,
    others: u64,
    rejected: u64,
}

/// hb-listen under the same load: the rate from its own `received`
/// counter (between two status lines), RSS growth per node, and at the end
/// its counters against what was sent.
fn listener(nodes: u64) -> Ingest {
    let (mut child, addr) = spawn_listener();
    let rss0 = rss_kib(child.id());
    let backlog0 = backlog_drops();
    // Status lines carry every node: only the counters are parsed.
    let (tx, rx) = mpsc::channel::<(Instant, u64, u64)>();
    let printed = Arc::new(Printed::default());
    let seen = printed.clone();
    let out = BufReader::new(child.stdout.take().unwrap());
    thread::spawn(move || {
        for line in out.lines().map_while(Result::ok) {
            let kind = line.split('"').nth(3).unwrap_or_default();
            match kind {
                "status" => {
                    let received = field(&line, "received").unwrap();
                    // Status lines end with rejections by reason.
                    let rejected = line
                        .rsplit_once(r#""rejected":"#)
                        .and_then(|(_, r)| r.strip_suffix('}'))
                        .and_then(|r| serde_json::from_str::<BTreeMap<String, u64>>(r).ok())
                        .map_or(0, |by_reason| by_reason.values().sum());
                    if tx.send((Instant::now(), received, rejected)).is_err() {
                        break;
                    }
                }
                "up" if !line.contains(r#""was":"#) => {
                    _ = seen.first_ups.fetch_add(1, Ordering::Relaxed)
                }
                "up" => {}
                "suspect" => _ = seen.suspects.fetch_add(1, Ordering::Relaxed),
                "rejected" => _ = seen.rejected.fetch_add(1, Ordering::Relaxed),
                _ => _ = seen.others.fetch_add(1, Ordering::Relaxed),
            }
        }
    });
    let stop = Arc::new(AtomicBool::new(false));
    let sender = blast(addr, beats(nodes), stop.clone());
    // Memory once every node is tracked (a round takes well under 2 s),
    // before the first status line, whose megabytes of JSON would count.
    thread::sleep(Duration::from_secs(2));
    let per_node = (rss_kib(child.id()) - rss0) as f64 * 1024.0 / nodes as f64;
    let mut first = rx.recv().unwrap();
    assert!(first.1 >= nodes, "not every node was seen in 2 s");
    while first.1 < nodes {
        first = rx.recv().unwrap();
    }
    let cpu0 = cpu_seconds(child.id());
    let last = rx.recv().unwrap();
    let cpu = cpu_seconds(child.id()) - cpu0;
    // Events until the beats stop: afterwards every node turns suspect.
    let (ups, suspects, others) = (
        printed.first_ups.load(Ordering::Relaxed),
        printed.suspects.load(Ordering::Relaxed),
        printed.others.load(Ordering::Relaxed),
    );
    stop.store(true, Ordering::Relaxed);
    let sent = sender.join().unwrap();
    // The next status line comes after the queue has drained.
    let end = rx.recv().unwrap();
    let dropped = socket_drops(addr.port()) + backlog_drops() - backlog0;
    let _ = child.kill();
    let _ = child.wait();
    let beats = (last.1 - first.1) as f64;
    Ingest {
        rate: beats / last.0.duration_since(first.0).as_secs_f64(),
        per_cpu_second: beats / cpu,
        per_node,
        sent,
        received: end.1,
        dropped,
        ups,
        suspects,
        others,
        rejected: end.2 + printed.rejected.load(Ordering::Relaxed),
    }
}

fn median(mut figures: Vec<f64>) -> f64 {
    figures.sort_by(f64::total_cmp);
    figures[figures.len() / 2]
}

fn main() {
    let nodes = env("HB_BENCH_NODES", 100_000);
    let seconds = env("HB_BENCH_SECONDS", 5);
    // Rates on a shared (virtual) machine vary from run to run: the three
    // loops take turns, RUNS times, and each figure is the median.
    let runs = env("HB_BENCH_RUNS", 3).max(1);
    let (mut single, mut limit, mut hb) = (vec![], vec![], vec![]);
    for _ in 0..runs {
        single.push(raw(nodes, seconds, false));
        limit.push(raw(nodes, seconds, true));
        hb.push(listener(nodes));
    }
    let share: Vec<f64> = hb.iter().zip(&limit).map(|(h, l)| h.rate / l).collect();
    let shares = share
        .iter()
        .map(|s| format!("{:.0}%", 100.0 * s))
        .collect::<Vec<_>>();
    println!("| measurement (median of {runs} runs) | figure |");
    println!("|---|---|");
    println!(
        "| raw UDP receive loop, one `recvfrom` per {DATAGRAM}-byte datagram | {:.0} /s |",
        median(single)
    );
    println!(
        "| raw UDP receive loop, spinning on `recvmmsg` batches (the limit) | {:.0} /s |",
        median(limit)
    );
    println!(
        "| hb-listen, {nodes} distinct nodes | {:.0} beats/s, {:.0}% of the limit (runs: {}) |",
        median(hb.iter().map(|h| h.rate).collect()),
        100.0 * median(share.clone()),
        shares.join(", ")
    );
    // A short smoke run may not see a whole clock tick of CPU.
    let capacity = median(hb.iter().map(|h| h.per_cpu_second).collect());
    let capacity = match capacity.is_finite() {
        true => format!("{capacity:.0}"),
        false => "n/a (run longer)".into(),
    };
    println!("| hb-listen CPU: beats per CPU-second (its capacity on one core) | {capacity} |");
    println!(
        "| hb-listen memory per tracked node (RSS growth / nodes) | {:.0} bytes |",
        median(hb.iter().map(|h| h.per_node).collect())
    );
    for (run, h) in hb.iter().enumerate() {
        let exact = h.sent == h.received + h.dropped;
        let right = h.ups == nodes && h.others == 0 && h.rejected == 0;
        println!(
            "| run {}: sent = received + dropped by the kernel | {} = {} + {} ({}) |",
            run + 1,
            h.sent,
            h.received,
            h.dropped,
            if exact { "exact" } else { "MISMATCH" }
        );
        println!(
            "| run {}: events (one first `up` per node, no down, nothing rejected) | {} up, {} suspect on kernel drops, {} other, {} rejected ({}) |",
            run + 1,
            h.ups,
            h.suspects,
            h.others,
            h.rejected,
            if right { "right" } else { "WRONG" }
        );
    }
}
