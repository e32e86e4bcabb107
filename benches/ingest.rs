//! hb-listen ingest against the physical limit, in one run: how many
//! 200-byte beats per second one listener processes, against a raw UDP
//! receive loop on the same machine with the same sender; and the memory
//! a tracked node costs. Prints figures; never fails on speed.
//!
//!   cargo bench --bench ingest                  # 100,000 nodes, 5 s per measurement
//!   HB_BENCH_SECONDS=2 HB_BENCH_NODES=10000 cargo bench --bench ingest

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, UdpSocket};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

const DATAGRAM: usize = 200;

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

/// Sends the beats round after round, as fast as one thread can, until
/// `stop`; returns how many were sent.
fn blast(
    to: SocketAddr,
    mut beats: Vec<(Vec<u8>, usize)>,
    stop: Arc<AtomicBool>,
) -> thread::JoinHandle<u64> {
    thread::spawn(move || {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        let mut sent = 0u64;
        let mut round = 1u64;
        while !stop.load(Ordering::Relaxed) {
            let seq = format!("{}", 1_000_000_000 + round);
            for (d, at) in &mut beats {
                d[*at..*at + 10].copy_from_slice(seq.as_bytes());
                if sock.send_to(d, to).is_ok() {
                    sent += 1;
                }
            }
            round += 1;
        }
        sent
    })
}

/// The limit: a plain recv_from loop counting datagrams.
fn raw(nodes: u64, seconds: u64) -> (f64, f64) {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let addr = sock.local_addr().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let counted = Arc::new(AtomicU64::new(0));
    let (c, s) = (counted.clone(), stop.clone());
    let receiver = thread::spawn(move || {
        let mut buf = [0u8; 2048];
        while !s.load(Ordering::Relaxed) {
            if sock.recv_from(&mut buf).is_ok() {
                c.fetch_add(1, Ordering::Relaxed);
            }
        }
    });
    let sender = blast(addr, beats(nodes), stop.clone());
    thread::sleep(Duration::from_secs(1)); // warm up
    let (n0, t0) = (counted.load(Ordering::Relaxed), Instant::now());
    thread::sleep(Duration::from_secs(seconds));
    let received = counted.load(Ordering::Relaxed) - n0;
    let elapsed = t0.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    let sent = sender.join().unwrap();
    receiver.join().unwrap();
    let _ = sent;
    (received as f64 / elapsed, 0.0)
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

/// hb-listen under the same load: the rate from its own `received`
/// counter (between two status lines), and RSS growth per node.
fn listener(nodes: u64, seconds: u64) -> (f64, f64, f64) {
    // One status line per measurement window: with 100,000 nodes a status
    // line is megabytes, and writing one every second would be measured too.
    let every = format!("{seconds}s");
    let mut child = Command::new(env!("CARGO_BIN_EXE_hb-listen"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--status-every",
            &every,
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
    let addr: SocketAddr = line
        .rsplit_once("listening on ")
        .unwrap()
        .1
        .trim()
        .parse()
        .unwrap();
    let rss0 = rss_kib(child.id());
    // Status lines carry every node: parse only the counter.
    let (tx, rx) = std::sync::mpsc::channel::<(Instant, u64)>();
    let out = BufReader::new(child.stdout.take().unwrap());
    thread::spawn(move || {
        for line in out.lines().map_while(Result::ok) {
            if let Some(rest) = line.split_once(r#""received":"#) {
                let n: u64 = rest
                    .1
                    .split(|c: char| !c.is_ascii_digit())
                    .next()
                    .unwrap()
                    .parse()
                    .unwrap();
                if tx.send((Instant::now(), n)).is_err() {
                    break;
                }
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
    stop.store(true, Ordering::Relaxed);
    sender.join().unwrap();
    let _ = child.kill();
    let _ = child.wait();
    let beats = (last.1 - first.1) as f64;
    let rate = beats / last.0.duration_since(first.0).as_secs_f64();
    (rate, per_node, beats / cpu)
}

fn main() {
    let nodes = env("HB_BENCH_NODES", 100_000);
    let seconds = env("HB_BENCH_SECONDS", 5);
    let (limit, _) = raw(nodes, seconds);
    let (rate, per_node, per_cpu_second) = listener(nodes, seconds);
    println!("| measurement | figure |");
    println!("|---|---|");
    println!("| raw UDP receive loop, {DATAGRAM}-byte datagrams | {limit:.0} /s |");
    println!(
        "| hb-listen, {nodes} distinct nodes | {rate:.0} beats/s ({:.0}% of raw) |",
        100.0 * rate / limit
    );
    // A short smoke run may not see a whole clock tick of CPU.
    let capacity = match per_cpu_second.is_finite() {
        true => format!("{per_cpu_second:.0}"),
        false => "n/a (run longer)".into(),
    };
    println!("| hb-listen CPU: beats per CPU-second (its capacity on one core) | {capacity} |");
    println!("| hb-listen memory per tracked node (RSS growth / nodes) | {per_node:.0} bytes |");
}
