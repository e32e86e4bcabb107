//! Authenticated heartbeats and hostile input, end to end: keys on every
//! tool, replays, allowed sources, amplification, limits, and a flood of
//! garbage that must change nothing.

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::harness::{
    beat, cmd, dead_target, kernel_drops, send_raw, wall_ms, Running, TempDir, PATIENCE,
};

const KEY: &str = "0123456789abcdef0123456789abcdef";
const OLD_KEY: &str = "an-older-key-still-accepted-here";

#[test]
fn with_a_key_only_signed_beats_count() {
    let dir = TempDir::new();
    let key = dir.key_file("k1", &format!("{KEY}\n"), 0o600);
    let key = key.to_str().unwrap();
    let (mut l, addr) = Running::listener(&["--key-file", key, "--status-every", "50ms"]);
    let to = addr.to_string();
    cmd("hb-send")
        .args([
            "--to",
            &to,
            "--node",
            "signed",
            "--once",
            "--every",
            "1s",
            "--key-file",
            key,
        ])
        .assert()
        .success();
    l.expect("up", |v| v["node"] == "signed");
    // Unsigned, and signed with another key: refused.
    cmd("hb-send")
        .args(["--to", &to, "--node", "forger", "--once", "--every", "1s"])
        .assert()
        .success();
    let other = dir.key_file("k-other", "some-other-key-0123456789\n", 0o600);
    cmd("hb-send")
        .args([
            "--to",
            &to,
            "--node",
            "forger",
            "--once",
            "--every",
            "1s",
            "--key-file",
            other.to_str().unwrap(),
        ])
        .assert()
        .success();
    let status = l.expect("status", |v| v["rejected"]["bad-mac"] == 2);
    assert_eq!(status["up"], serde_json::json!(["signed"]));
    // The environment variable works as the flag does.
    cmd("hb-send")
        .args(["--to", &to, "--node", "from-env", "--once", "--every", "1s"])
        .env("HB_KEY_FILE", key)
        .assert()
        .success();
    l.expect("up", |v| v["node"] == "from-env");
}

#[test]
fn keys_rotate_and_loose_key_files_are_refused() {
    let dir = TempDir::new();
    let both = dir.key_file("both", &format!("{KEY}\n# rotating\n{OLD_KEY}\n"), 0o600);
    let old = dir.key_file("old", &format!("{OLD_KEY}\n"), 0o600);
    let (mut l, addr) = Running::listener(&["--key-file", both.to_str().unwrap()]);
    cmd("hb-send")
        .args([
            "--to",
            &addr.to_string(),
            "--node",
            "old-key",
            "--once",
            "--every",
            "1s",
            "--key-file",
            old.to_str().unwrap(),
        ])
        .assert()
        .success();
    l.expect("up", |v| v["node"] == "old-key");

    let loose = dir.key_file("loose", &format!("{KEY}\n"), 0o644);
    for bin in ["hb-send", "hb-listen", "hb-ack", "hb-poll"] {
        let mut c = cmd(bin);
        c.args(["--key-file", loose.to_str().unwrap()]);
        if bin == "hb-poll" {
            c.arg("127.0.0.1:9");
        }
        let out = c.output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("chmod 600"), "{bin}: {stderr}");
        assert_ne!(out.status.code(), Some(0), "{bin}");
    }
    // A systemd credential (LoadCredential=) may show mode 0440: it is
    // the service's own, in its credentials directory.
    let creds = dir.path().join("creds");
    std::fs::create_dir(&creds).unwrap();
    let credential = dir.key_file("creds/hb-key", &format!("{KEY}\n"), 0o440);
    // Where nothing answers, nor refuses the beat.
    let (_target, to) = dead_target();
    cmd("hb-send")
        .args([
            "--key-file",
            credential.to_str().unwrap(),
            "--once",
            "--every",
            "1s",
            "--to",
            &to,
        ])
        .env("CREDENTIALS_DIRECTORY", &creds)
        .assert()
        .success();

    let short = dir.key_file("short", "tooshort\n", 0o600);
    let out = cmd("hb-listen")
        .args(["--key-file", short.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("at least 16 bytes"));
}

/// Captures the datagrams hb-send sends, to replay them.
fn capture(args: &[&str], n: usize) -> Vec<Vec<u8>> {
    let sink = UdpSocket::bind("127.0.0.1:0").unwrap();
    sink.set_read_timeout(Some(PATIENCE)).unwrap();
    let to = sink.local_addr().unwrap().to_string();
    cmd("hb-send")
        .args(["--to", &to])
        .args(args)
        .assert()
        .success();
    let mut buf = [0u8; 2048];
    (0..n)
        .map(|_| {
            let (len, _) = sink.recv_from(&mut buf).unwrap();
            buf[..len].to_vec()
        })
        .collect()
}

#[test]
fn replayed_beats_are_refused() {
    let dir = TempDir::new();
    let key = dir.key_file("k-replay", &format!("{KEY}\n"), 0o600);
    let key = key.to_str().unwrap();
    let beats = capture(
        &[
            "--node",
            "victim",
            "--count",
            "2",
            "--every",
            "10ms",
            "--key-file",
            key,
        ],
        2,
    );
    let (mut l, addr) =
        Running::listener(&["--key-file", key, "--status-every", "50ms", "--log-rejects"]);
    send_raw(addr, &beats[1]);
    l.expect("up", |v| v["node"] == "victim");
    send_raw(addr, &beats[1]); // the same beat again
    send_raw(addr, &beats[0]); // an older one
    let rejected = l.expect("rejected", |v| v["reason"] == "replay");
    assert!(rejected["from"].is_string());
    l.expect("status", |v| {
        v["rejected"]["replay"] == 2 && v["received"] == 1
    });

    // A new boot must be recent: the captured beats are from a boot whose
    // clock is now far behind once --max-skew is tiny (refused as `skew`).
    let (mut strict, addr) = Running::listener(&[
        "--key-file",
        key,
        "--max-skew",
        "1ms",
        "--status-every",
        "50ms",
    ]);
    std::thread::sleep(Duration::from_millis(20));
    send_raw(addr, &beats[0]);
    strict.expect("status", |v| v["rejected"]["skew"] == 1);
}

#[test]
fn pull_and_ack_work_with_keys_and_fail_without() {
    let dir = TempDir::new();
    let key = dir.key_file("k-pull", &format!("{KEY}\n"), 0o600);
    let key = key.to_str().unwrap();
    let (_ack, addr) = Running::responder(&["--key-file", key, "--no-health"]);
    let target = addr.to_string();
    cmd("hb-poll")
        .args([&target, "--key-file", key])
        .assert()
        .code(0);
    cmd("hb-poll")
        .args([&target, "-t", "100ms", "--retries", "0"])
        .assert()
        .code(2);
    cmd("hb-send")
        .args(["--ack", "--once", "--to", &target, "--key-file", key])
        .assert()
        .success();
    cmd("hb-send")
        .args(["--ack", "--once", "--to", &target, "-t", "200ms"])
        .assert()
        .code(1);
}

#[test]
fn only_allowed_sources_count() {
    let (mut l, addr) = Running::listener(&[
        "--allow",
        "10.0.0.0/8",
        "--allow",
        "192.0.2.0/24",
        "--status-every",
        "50ms",
    ]);
    send_raw(addr, &beat("web", "b", 1, 1000));
    let status = l.expect("status", |v| v["rejected"]["not-allowed"] == 1);
    assert_eq!(status["received"], 0);
    let (mut ok, addr) = Running::listener(&["--allow", "127.0.0.0/8"]);
    send_raw(addr, &beat("web", "b", 1, 1000));
    ok.expect("up", |_| true);
}

#[test]
fn hb_ack_is_no_amplifier() {
    // With its health in its replies, so a reply would be large.
    let (mut ack, addr) = Running::healthy_responder(&["--status-every", "50ms"]);
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(PATIENCE)).unwrap();
    let small = br#"{"type":"probe","node":"p","nonce":1}"#;
    sock.send_to(small, addr).unwrap();
    ack.expect("status", |v| v["rejected"]["amplification"] == 1);
    // Padded, as hb-poll sends them: answered, never larger than asked.
    // The first reply to come is this one's (hb-ack handles datagrams in
    // order): the small probe got none.
    let mut padded = br#"{"type":"probe","node":"p","nonce":2"#.to_vec();
    padded.resize(511, b' ');
    padded.push(b'}');
    sock.send_to(&padded, addr).unwrap();
    let mut buf = [0u8; 2048];
    let (len, _) = sock.recv_from(&mut buf).unwrap();
    assert!(len <= padded.len());
    let reply: Value = serde_json::from_slice(&buf[..len]).unwrap();
    assert_eq!(reply["nonce"], 2, "no reply larger than the probe");
}

#[test]
fn the_node_table_is_bounded() {
    let (mut l, addr) = Running::listener(&["--max-nodes", "2", "--status-every", "50ms"]);
    for node in ["a", "b", "c", "d"] {
        send_raw(addr, &beat(node, "boot", 1, 1000));
    }
    let status = l.expect("status", |v| v["rejected"]["too-many-nodes"] == 2);
    assert_eq!(status["up"], serde_json::json!(["a", "b"]));
    let out = cmd("hb-listen")
        .args(["--max-nodes", "1", "--expect", "x", "--expect", "y"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

/// 100,000 random and mutated datagrams, each sent to hb-listen and to
/// hb-ack: both take every one (each counted as received or refused, but
/// for those the kernel dropped from a full receive buffer), stay up,
/// still answer a real probe, and still detect a real node's failure on
/// time, never before it.
#[test]
fn a_flood_of_garbage_changes_nothing() {
    const FLOOD: u64 = 100_000;
    // Judged by silence alone: the deadline is what is checked.
    let (mut listen, l_addr) = Running::listener(&[
        "--no-confirm",
        "--misses",
        "5",
        "--max-nodes",
        "1000",
        "--status-every",
        "100ms",
    ]);
    let (mut ack, a_addr) = Running::responder(&["--quiet", "--status-every", "100ms"]);
    // 5 intervals of 500 ms: a flood that held up the listener (or the
    // sender, on a loaded machine) that long would be a false down.
    let mut sender = Running::spawn(
        "hb-send",
        &[
            "--to",
            &l_addr.to_string(),
            "--node",
            "real",
            "--every",
            "500ms",
            // Its stop below stands for a failure: a silence, not a leave.
            "--no-leave",
        ],
    );
    listen.expect("up", |v| v["node"] == "real");

    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let valid = beat("fuzz", "b", 1, 1000);
    let probe = br#"{"type":"probe","node":"p","nonce":7,"target":"127.0.0.1:9"}"#;
    let mut rng = 0x9e3779b97f4a7c15u64;
    let mut next = || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let started = Instant::now();
    let mut send_errors = Vec::new();
    for i in 0..FLOOD {
        let base: &[u8] = if i % 2 == 0 { &valid } else { probe };
        let mut d: Vec<u8> = match next() % 4 {
            0 => (0..next() % 1500).map(|_| next() as u8).collect(),
            1 => base[..(next() as usize % base.len())].to_vec(),
            _ => {
                let mut d = base.to_vec();
                for _ in 0..1 + next() % 4 {
                    let at = next() as usize % d.len();
                    d[at] = next() as u8;
                }
                d
            }
        };
        if d.is_empty() {
            d.push(b'{');
        }
        for to in [l_addr, a_addr] {
            if let Err(e) = sock.send_to(&d, to) {
                send_errors.push(format!("datagram {i} to {to}: {e}"));
            }
        }
        if i % 2000 == 0 {
            // Let the receivers breathe: we test robustness, not buffers.
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    eprintln!("flood sent in {:?}", started.elapsed());
    assert!(send_errors.is_empty(), "sends failed: {send_errors:?}");

    // Every datagram was taken. hb-listen's count also holds the real
    // node's beats: each one up to the highest seq it saw was counted or
    // dropped. hb-ack counts an accepted probe it will not answer (too
    // small for its reply) under `amplification` as well.
    let counted = |status: &Value| -> u64 {
        let refused = status["rejected"].as_object().unwrap().values();
        status["received"].as_u64().unwrap() + refused.map(|n| n.as_u64().unwrap()).sum::<u64>()
    };
    all_taken(&mut listen, "hb-listen", l_addr, |status| {
        let real_beats = status["nodes"]["real"]["seq"].as_u64().unwrap();
        (counted(status), FLOOD + real_beats)
    });
    all_taken(&mut ack, "hb-ack", a_addr, |status| {
        let twice = status["rejected"]["amplification"].as_u64().unwrap_or(0);
        (counted(status) - twice, FLOOD)
    });

    // hb-ack still answers a real probe.
    cmd("hb-poll").args([&a_addr.to_string()]).assert().code(0);
    // hb-listen still detects the real node's failure, on time.
    let stopped = wall_ms();
    sender.signal_and_wait("TERM");
    let down = listen.expect_after("down", stopped, |v| v["node"] == "real");
    let silent = down["silent_ms"].as_u64().unwrap();
    assert!((2500..3500).contains(&silent), "{down}");
}

/// Waits for a `status` of `tool` (listening on `addr`) whose counts,
/// with what the kernel dropped, make up what was sent to it:
/// `counts(status)` gives (datagrams the tool counted, datagrams sent).
fn all_taken(
    tool: &mut Running,
    name: &str,
    addr: SocketAddr,
    counts: impl Fn(&Value) -> (u64, u64),
) {
    let deadline = Instant::now() + PATIENCE;
    let mut last = String::new();
    while Instant::now() < deadline {
        let status = tool.expect("status", |_| true);
        let (counted, sent) = counts(&status);
        let dropped = kernel_drops(addr);
        if counted + dropped == sent {
            eprintln!("{name}: {counted} counted + {dropped} dropped by the kernel = {sent} sent");
            return;
        }
        last = format!(
            "{counted} counted + {dropped} dropped by the kernel, of {sent} sent: \
             received {}, rejected {}",
            status["received"], status["rejected"]
        );
    }
    panic!("{name} did not take every datagram: {last}");
}
