//! The observer's own faults are never the nodes' failures: a listener
//! that was stopped for a while, with every live node's beats waiting in
//! its socket, declares none of them down, and says it stalled.

use std::process::Command;
use std::time::{Duration, Instant};

use crate::harness::{kernel_drops, Running};

fn signal(pid: u32, sig: &str) {
    let ok = Command::new("kill")
        .args([format!("-{sig}"), pid.to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
}

/// 20 senders at 100 ms; the listener is stopped for 2 s (SIGSTOP), then
/// continued: no live node is `down`, and one `observer` line says it
/// stalled; a sender killed just before the stop is still declared down,
/// within its deadline plus the stall.
#[test]
fn a_stopped_listener_blames_no_live_node() {
    // Judged by silence alone: the deadline moved by the stall is checked.
    let (mut l, addr) = Running::listener(&["--no-confirm"]);
    let to = addr.to_string();
    let mut senders: Vec<_> = (0..20)
        .map(|i| {
            let node = format!("node-{i:02}");
            Running::spawn(
                "hb-send",
                &["--to", &to, "--node", &node, "--every", "100ms"],
            )
        })
        .collect();
    let mut up = std::collections::BTreeSet::new();
    while up.len() < 20 {
        let v = l.expect("up", |_| true);
        up.insert(v["node"].as_str().unwrap().to_owned());
    }
    drop(senders.remove(0)); // node-00: killed
    signal(l.pid(), "STOP");
    // The stall under test: two seconds of a listener not running.
    std::thread::sleep(Duration::from_secs(2));
    signal(l.pid(), "CONT");
    let stalled = l.expect("observer", |v| {
        v["state"] == "stalled" && v["stall_ms"].as_u64() >= Some(1500)
    });
    let stall_ms = stalled["stall_ms"].as_u64().unwrap();
    assert!((1500..=3000).contains(&stall_ms), "{stalled}");
    let down = l.expect("down", |v| v["node"] == "node-00");
    assert_eq!(down["observer"], "stalled", "{down}");
    let silent = down["silent_ms"].as_u64().unwrap();
    assert!(
        silent >= 500 + stall_ms - 100 && silent <= 500 + stall_ms + 1500,
        "down after its deadline plus the stall ({stall_ms} ms): {down}"
    );
    // A second more of the live ones beating: still no down among them.
    let until = Instant::now() + Duration::from_secs(1);
    while let Some(left) = until.checked_duration_since(Instant::now()) {
        l.next(left);
    }
    let false_downs: Vec<_> = l
        .seen
        .iter()
        .filter(|v| v["type"] == "down" && v["node"] != "node-00")
        .collect();
    assert!(
        false_downs.is_empty(),
        "live nodes declared down: {false_downs:?}"
    );
    // One line for the stop; a loaded machine may stall the listener for
    // real too, and that is said as well, but only one stall was this long.
    let long = l
        .seen
        .iter()
        .filter(|v| v["type"] == "observer" && v["stall_ms"].as_u64() >= Some(1500))
        .count();
    assert_eq!(long, 1, "one stop, one line:\n{}", l.history());
    drop(senders);
}

/// A CPU quota of the test's own on a process: cgroup v1's cpu controller
/// (`cpu.cfs_quota_us`), or v2's `cpu.max`. Removed on drop.
struct CpuQuota {
    dir: std::path::PathBuf,
    v1: bool,
}

impl CpuQuota {
    /// `pid` limited to `percent` of one CPU; None where no cgroup can be
    /// made (not root, no cpu controller).
    fn new(pid: u32, percent: u32) -> Option<CpuQuota> {
        let name = format!("hbtest-{}-{pid}", std::process::id());
        for (root, v1) in [("/sys/fs/cgroup/cpu", true), ("/sys/fs/cgroup", false)] {
            let dir = std::path::Path::new(root).join(&name);
            if std::fs::create_dir(&dir).is_err() {
                continue;
            }
            let quota = CpuQuota { dir, v1 };
            if quota.limit(Some(percent)).is_ok()
                && std::fs::write(quota.dir.join("cgroup.procs"), pid.to_string()).is_ok()
            {
                return Some(quota);
            }
        }
        None
    }

    /// `percent` of one CPU, or None for no limit.
    fn limit(&self, percent: Option<u32>) -> std::io::Result<()> {
        let period = 100_000;
        if self.v1 {
            let quota = percent.map_or(-1, |p| i64::from(p) * period / 100);
            std::fs::write(self.dir.join("cpu.cfs_quota_us"), quota.to_string())
        } else {
            let max = percent.map_or("max".to_owned(), |p| {
                (i64::from(p) * period / 100).to_string()
            });
            std::fs::write(self.dir.join("cpu.max"), format!("{max} {period}"))
        }
    }
}

impl Drop for CpuQuota {
    fn drop(&mut self) {
        let _ = self.limit(None);
        // Its processes go back to the parent group, then it can go.
        let parent = self.dir.parent().unwrap().join("cgroup.procs");
        if let Ok(procs) = std::fs::read_to_string(self.dir.join("cgroup.procs")) {
            for pid in procs.lines() {
                let _ = std::fs::write(&parent, pid);
            }
        }
        let _ = std::fs::remove_dir(&self.dir);
    }
}

/// 2,000 nodes beat every 200 ms into a listener held to 1% of a CPU: it
/// falls behind and its socket drops beats (at 3% a fast machine keeps
/// up). No node is declared down for it; `observer` says `overloaded`,
/// then `ok` with a drop count that is the kernel's.
#[test]
fn a_starved_listener_blames_no_node_and_counts_the_kernels_drops() {
    use crate::harness::{beat, skip};
    let (mut l, addr) = Running::listener(&["--status-every", "500ms"]);
    let Some(quota) = CpuQuota::new(l.pid(), 1) else {
        skip!(
            "no cgroup with a cpu controller could be made (root and cgroup v1 cpu or v2 needed)"
        );
        return;
    };
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let beats: Vec<Vec<Vec<u8>>> = (1..=25)
        .map(|seq| {
            (0..2000)
                .map(|i| beat(&format!("node-{i:06}.example.internal"), "b", seq, 200))
                .collect()
        })
        .collect();
    let started = Instant::now();
    let mut last_round_wall = 0;
    for (round, datagrams) in beats.iter().enumerate() {
        last_round_wall = crate::harness::wall_ms();
        // Over half the round, as 2,000 nodes' beats come: a burst of them
        // all at once would overflow a socket of the kernel's default size
        // whatever the listener's CPU.
        for chunk in datagrams.chunks(200) {
            for d in chunk {
                socket.send_to(d, addr).unwrap();
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let next = started + Duration::from_millis(200 * (round as u64 + 1));
        if let Some(left) = next.checked_duration_since(Instant::now()) {
            std::thread::sleep(left);
        }
        if round == 15 {
            quota.limit(None).unwrap(); // it may catch up for the last rounds
        }
    }
    let overloaded = l.expect("observer", |v| v["state"] == "overloaded");
    assert!(overloaded["dropped"].as_u64() > Some(0), "{overloaded}");
    // A last datagram carries the kernel's final count; the overload is over
    // a second after the last drop.
    socket
        .send_to(&beat("node-000000.example.internal", "b", 26, 200), addr)
        .unwrap();
    let ok = l.expect("observer", |v| v["state"] == "ok");
    let status = l.expect("status", |v| v["observer"]["state"] == "ok");
    assert_eq!(
        status["observer"]["dropped"].as_u64(),
        Some(kernel_drops(addr)),
        "{ok} {status}"
    );
    // Once the beats stop, every node goes down, rightly; a down whose last
    // beat came before the last round is one the overload caused.
    let false_downs = l
        .seen
        .iter()
        .filter(|v| v["type"] == "down")
        .filter(|v| {
            let seen = humantime::parse_rfc3339(v["last_seen"].as_str().unwrap()).unwrap();
            let seen_ms = seen
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_millis() as u64;
            seen_ms + 100 < last_round_wall
        })
        .count();
    assert_eq!(
        false_downs,
        0,
        "nodes declared down for the listener's own overload: {}",
        l.history()
    );
    drop(quota);
}

/// `loss_before` read off a recorded trace with gaps: 5 of the last 20
/// beats lost, then silence.
#[test]
fn loss_before_tells_a_lossy_path_from_a_clean_stop() {
    let dir = crate::harness::TempDir::new();
    let mut trace = String::new();
    let lost = [4, 8, 12, 16, 20];
    for seq in 1u64..=24 {
        let ts = 1_795_000_000_000 + seq * 100;
        if !lost.contains(&seq) {
            trace += &format!(
                "{{\"type\":\"beat\",\"node\":\"lossy\",\"seq\":{seq},\"boot\":\"b\",\"every_ms\":100,\"ts_ms\":{ts}}}\n"
            );
        }
        trace += &format!(
            "{{\"type\":\"beat\",\"node\":\"clean\",\"seq\":{seq},\"boot\":\"b\",\"every_ms\":100,\"ts_ms\":{ts}}}\n"
        );
    }
    trace += "{\"type\":\"tick\",\"ts_ms\":1795000010000}\n";
    let path = dir.file("trace.ndjson", &trace);
    let out = crate::harness::cmd("hb-listen")
        .args(["--from", path.to_str().unwrap(), "--replay"])
        .output()
        .unwrap();
    let events = crate::harness::parse_events(&out.stdout);
    let down = |node: &str| {
        events
            .iter()
            .find(|v| v["type"] == "down" && v["node"] == node)
            .unwrap_or_else(|| panic!("no down for {node}: {events:?}"))
            .clone()
    };
    // The last 20 seqs are 5..=24, of which 8, 12, 16, 20 never came.
    assert_eq!(down("lossy")["loss_before"], 0.2);
    assert_eq!(down("clean")["loss_before"], 0.0);
    assert_eq!(down("clean")["observer"], "ok");
}

/// `hb-send --ack` stopped for 2 s says it stalled and blames no path.
#[test]
fn a_stopped_sender_says_it_stalled_and_blames_no_path() {
    let (_ack, addr) = Running::responder(&["--quiet", "--no-health"]);
    let mut s = Running::spawn(
        "hb-send",
        &[
            "--to",
            &addr.to_string(),
            "--node",
            "web-1",
            "--every",
            "100ms",
            "--ack",
            "--misses",
            "2",
        ],
    );
    s.expect("up", |v| v["target"] == addr.to_string());
    signal(s.pid(), "STOP");
    // The stall under test.
    std::thread::sleep(Duration::from_secs(2));
    signal(s.pid(), "CONT");
    let stalled = s.expect("observer", |v| v["state"] == "stalled");
    assert!(stalled["stall_ms"].as_u64() >= Some(1500), "{stalled}");
    let until = Instant::now() + Duration::from_millis(800);
    while let Some(left) = until.checked_duration_since(Instant::now()) {
        s.next(left);
    }
    assert!(
        s.seen.iter().all(|v| v["type"] != "down"),
        "the path blamed for the sender's own stop:\n{}",
        s.history()
    );
}
