//! hb-ack's own gate: allowed sources, its node limit and replay
//! protection (a second copy of hb-listen's, over the senders it
//! acknowledges), the `rejected` lines and counters that show them, and
//! its key file from the environment.

use std::net::UdpSocket;
use std::path::Path;
use std::process::{Command, Stdio};

use hb::clock::wall_ms;
use serde_json::json;

use crate::harness::{beat, beat_with, bin, cmd, parse_events, Running, TempDir};

const KEY: &str = "0123456789abcdef0123456789abcdef\n";

/// A socket of the test's own, so the `from` of what hb-ack refuses is known.
fn sender() -> (UdpSocket, String) {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = socket.local_addr().unwrap().to_string();
    (socket, addr)
}

/// hb-poll's exit code for one round against `target`, unkeyed.
fn poll(target: &str, args: &[&str]) -> i32 {
    cmd("hb-poll")
        .arg(target)
        .args(args)
        .env_remove("HB_KEY_FILE")
        .output()
        .unwrap()
        .status
        .code()
        .unwrap()
}

/// One probe, refused: no reply comes however long hb-poll waits, so a
/// short wait is as good as any (CRITICAL).
const ONE_PROBE: [&str; 4] = ["-t", "200ms", "--retries", "0"];

#[test]
fn allow_refuses_other_sources_and_log_rejects_says_so() {
    let (mut ack, addr) = Running::responder(&[
        "--allow",
        "10.0.0.0/8",
        "--log-rejects",
        "--status-every",
        "50ms",
        "--no-health",
    ]);
    let (socket, from) = sender();
    socket.send_to(&beat("web", "b", 1, 1000), addr).unwrap();
    let rejected = ack.expect("rejected", |_| true);
    assert_eq!(
        (&rejected["reason"], &rejected["from"]),
        (&json!("not-allowed"), &json!(from))
    );
    // The probe is refused too.
    assert_eq!(poll(&addr.to_string(), &ONE_PROBE), 2);
    let status = ack.expect("status", |v| v["rejected"]["not-allowed"] == 2);
    assert_eq!(status["received"], 0);
    assert!(ack.seen.iter().all(|v| v["type"] != "beat"));

    let (_open, addr) = Running::responder(&["--allow", "127.0.0.1", "--no-health"]);
    assert_eq!(poll(&addr.to_string(), &[]), 0);
}

#[test]
fn max_nodes_bounds_the_senders_hb_ack_remembers() {
    let (mut ack, addr) = Running::responder(&[
        "--max-nodes",
        "2",
        "--log-rejects",
        "--status-every",
        "50ms",
        "--no-health",
    ]);
    let (socket, from) = sender();
    // One at a time, so which node is the third is certain.
    for node in ["a", "b"] {
        socket.send_to(&beat(node, "boot", 1, 1000), addr).unwrap();
        ack.expect("beat", |v| v["node"] == node);
    }
    socket.send_to(&beat("c", "boot", 1, 1000), addr).unwrap();
    let rejected = ack.expect("rejected", |_| true);
    assert_eq!(
        (&rejected["reason"], &rejected["from"]),
        (&json!("too-many-nodes"), &json!(from))
    );
    // A node already known still gets through.
    socket.send_to(&beat("a", "boot", 2, 1000), addr).unwrap();
    ack.expect("beat", |v| v["node"] == "a" && v["seq"] == 2);
    let status = ack.expect("status", |v| v["received"] == 3);
    assert_eq!(status["rejected"], json!({"too-many-nodes": 1}));
    assert!(ack.seen_of("beat", "c").is_empty(), "{}", ack.history());
}

/// A beat of a new boot of `node`, sent at `ts_ms` on its clock, signed
/// with the key in `key_file`.
fn signed_beat(key_file: &Path, node: &str, ts_ms: u64) -> Vec<u8> {
    let ts_ms = format!(r#""ts_ms":{ts_ms}"#);
    let mut datagram = beat_with(node, &format!("{node}-boot"), 1, 1000, &ts_ms);
    hb::auth::Keys::load(key_file).unwrap().sign(&mut datagram);
    datagram
}

/// With a key, a new boot is believed only if its clock is within
/// --max-skew of hb-ack's: a recorded beat of an old boot is refused, as
/// `skew` (its clock is what tells it).
#[test]
fn max_skew_refuses_an_old_clock_new_boot_as_skew() {
    let dir = TempDir::new();
    let key = dir.key_file("key", KEY, 0o600);
    let ten_minutes_ago = wall_ms() - 10 * 60 * 1000;
    let key_arg = key.to_str().unwrap();
    let (mut strict, addr) = Running::responder(&[
        "--key-file",
        key_arg,
        "--log-rejects",
        "--status-every",
        "50ms",
        "--no-health",
    ]);
    let (socket, _) = sender();
    socket
        .send_to(&signed_beat(&key, "fresh", wall_ms()), addr)
        .unwrap();
    strict.expect("beat", |v| v["node"] == "fresh");
    socket
        .send_to(&signed_beat(&key, "stale", ten_minutes_ago), addr)
        .unwrap();
    let rejected = strict.expect("rejected", |_| true);
    assert_eq!(rejected["reason"], "skew");
    let status = strict.expect("status", |v| v["rejected"]["skew"] == 1);
    assert_eq!(status["received"], 1);

    let (mut lenient, addr) =
        Running::responder(&["--key-file", key_arg, "--max-skew", "1h", "--no-health"]);
    socket
        .send_to(&signed_beat(&key, "stale", ten_minutes_ago), addr)
        .unwrap();
    lenient.expect("beat", |v| v["node"] == "stale");
}

/// HB_KEY_FILE keys hb-ack and hb-poll as --key-file does: a keyed poller
/// is answered, an unkeyed one refused.
#[test]
fn hb_ack_and_hb_poll_take_their_key_file_from_the_environment() {
    let dir = TempDir::new();
    let key = dir.key_file("key", KEY, 0o600);
    let mut responder = Command::new(bin("hb-ack"));
    responder
        .args(["--listen", "127.0.0.1:0", "--no-health", "--log-rejects"])
        .env("HB_KEY_FILE", &key)
        .stdin(Stdio::null());
    let mut ack = Running::start(responder, "hb-ack");
    let target = ack.listening().to_string();
    let keyed = cmd("hb-poll")
        .arg(&target)
        .env("HB_KEY_FILE", &key)
        .output()
        .unwrap();
    assert_eq!(keyed.status.code(), Some(0));
    assert_eq!(parse_events(&keyed.stdout)[0]["status"], "up");
    assert_eq!(poll(&target, &ONE_PROBE), 2);
    ack.expect("rejected", |v| v["reason"] == "bad-mac");
}
