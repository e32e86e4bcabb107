//! hb-listen's snapshot and inputs: the fields of `status` nodes, the
//! `--state` file's rewrites, recorded beats from a file (`--from PATH`),
//! and the key file named by the environment.

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::{json, Value};

use crate::harness::{
    beat, beat_with, bin, cmd, parse_events, send_raw, wait_for_file, Running, TempDir, PATIENCE,
};

/// phi after a silence of `t` ms, given the mean and (floored) standard
/// deviation of the inter-arrival times, as docs/events.md states it.
fn phi(t: f64, mean: f64, sd: f64) -> f64 {
    let y = (t - mean) / sd;
    let e = (-y * (1.5976 + 0.070566 * y * y)).exp();
    if t > mean {
        -(e / (1.0 + e)).log10()
    } else {
        -(1.0 - 1.0 / (1.0 + e)).log10()
    }
}

#[test]
fn status_nodes_carry_seq_boot_and_phi() {
    let (mut l, addr) = Running::listener(&["--detector", "phi", "--status-every", "50ms"]);
    send_raw(addr, &beat("n", "boot-a", 7, 100));
    // One beat, no interval measured yet: phi judges by the prior from the
    // declared 100 ms (mean 100, deviation 25, floored at 100), so each
    // status line's phi follows from its own silent_ms.
    let mut last_phi = -1.0;
    for _ in 0..5 {
        let status = l.expect("status", |v| v["nodes"]["n"].is_object());
        let n = &status["nodes"]["n"];
        assert_eq!(
            (&n["seq"], &n["boot"]),
            (&json!(7), &json!("boot-a")),
            "{n}"
        );
        let silent = n["silent_ms"].as_f64().unwrap();
        let shown = n["phi"].as_f64().unwrap_or_else(|| panic!("no phi: {n}"));
        let expected = phi(silent, 100.0, 100.0);
        assert!(
            (shown - expected).abs() <= 0.0051,
            "phi {shown}, expected {expected} after {silent} ms"
        );
        assert!(shown >= last_phi, "phi grows with silence: {n}");
        last_phi = shown;
    }
    // The highest seq of the current boot; a new boot starts afresh.
    send_raw(addr, &beat("n", "boot-a", 9, 100));
    l.expect("status", |v| v["nodes"]["n"]["seq"] == 9);
    send_raw(addr, &beat("n", "boot-b", 3, 100));
    let status = l.expect("status", |v| v["nodes"]["n"]["boot"] == "boot-b");
    assert_eq!(status["nodes"]["n"]["seq"], 3);

    // The fixed detector has no phi to show.
    let (mut fixed, addr) = Running::listener(&["--status-every", "50ms"]);
    send_raw(addr, &beat("n", "boot-a", 7, 100));
    let status = fixed.expect("status", |v| v["nodes"]["n"].is_object());
    let n = status["nodes"]["n"].as_object().unwrap();
    assert!(!n.contains_key("phi"), "{status}");
    assert_eq!((&n["seq"], &n["boot"]), (&json!(7), &json!("boot-a")));
}

/// A beat of node `db` (an interval far longer than the test) whose one
/// check has `status`.
fn checked_beat(seq: u64, status: &str) -> Vec<u8> {
    let checks =
        format!(r#""checks":[{{"name":"disk","status":"{status}","output":"disk {status}"}}]"#);
    beat_with("db", "b", seq, 60000, &checks)
}

fn read_state(path: &Path) -> (Value, u64) {
    let text = std::fs::read_to_string(path).unwrap();
    let inode = std::fs::metadata(path).unwrap().ino();
    (serde_json::from_str(&text).unwrap(), inode)
}

/// Reads the state file until it satisfies `pred` (it is rewritten within
/// `--state-every` of a change); `what` says what that is, for a failure.
fn state_when(path: &Path, what: &str, pred: impl Fn(&Value) -> bool) -> (Value, u64) {
    wait_for_file(path, what, PATIENCE, |text| {
        pred(&serde_json::from_str(text).unwrap())
    });
    read_state(path)
}

/// The state file follows a check going from ok to critical, and a beat
/// that changes nothing else but its seq (which a restart believes), once
/// per --state-every; with nothing taken since, it is left alone.
#[test]
fn the_state_file_follows_a_check_change_and_a_beats_seq_not_time() {
    let dir = TempDir::new();
    let path = dir.path().join("state.json");
    let (mut l, addr) = Running::listener(&[
        "--state",
        path.to_str().unwrap(),
        "--state-every",
        "20ms",
        "--beats",
        "--status-every",
        "50ms",
    ]);
    send_raw(addr, &checked_beat(1, "ok"));
    l.expect("health", |v| v["status"] == "ok");
    let (state, first) = state_when(&path, "db up", |s| s["up"] == json!(["db"]));
    assert_eq!(state["nodes"]["db"]["checks"][0]["status"], "ok");

    send_raw(addr, &checked_beat(2, "ok"));
    l.expect("beat", |v| v["seq"] == 2);
    let (state, second) = state_when(&path, "db at seq 2", |s| s["nodes"]["db"]["seq"] == 2);
    assert_ne!(second, first);
    assert_eq!(state["up"], json!(["db"]), "{state}");
    // Three status lines later, well past --state-every, nothing taken:
    // not rewritten.
    for _ in 0..3 {
        l.expect("status", |_| true);
    }
    let (state, unchanged) = read_state(&path);
    assert_eq!(unchanged, second, "rewritten with nothing new: {state}");

    send_raw(addr, &checked_beat(3, "critical"));
    let health = l.expect("health", |v| v["status"] == "critical");
    assert_eq!(health["was"], "ok");
    let (state, rewritten) = state_when(&path, "db degraded", |s| s["degraded"] == json!(["db"]));
    assert_ne!(rewritten, second);
    assert_eq!(state["up"], json!([]), "{state}");
    assert_eq!(state["nodes"]["db"]["checks"][0]["status"], "critical");
    assert_eq!(state["nodes"]["db"]["seq"], 3);
}

/// A recording: two beats of `f` as hb-ack prints them (with `from`), a
/// garbage line, another tool's event, and a line that only moves time.
const RECORDING: &str = r#"{"type":"beat","node":"f","seq":1,"boot":"b","every_ms":1000,"ts_ms":1000000,"from":"10.0.0.7:4000"}
not json at all
{"type":"up","ts_ms":1000500,"node":"other"}
{"type":"beat","node":"f","seq":2,"boot":"b","every_ms":1000,"ts_ms":1001000,"from":"10.0.0.7:4000"}
{"type":"end","ts_ms":1010000}
"#;

/// hb-listen reading FILE (stdin closed, so nothing can come from there).
fn listen_from(file: &Path, args: &[&str]) -> Vec<Value> {
    let out = Command::new(bin("hb-listen"))
        .arg("--from")
        .arg(file)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    parse_events(&out.stdout)
}

#[test]
fn from_a_file_replays_it_and_reads_it_live() {
    let dir = TempDir::new();
    let file = dir.file("recording.ndjson", RECORDING);
    let events = listen_from(
        &file,
        &["--replay", "--misses", "3", "--status-every", "2s"],
    );
    let timeline: Vec<(&str, u64)> = events
        .iter()
        .map(|v| {
            let at = v["ts_ms"].as_u64().unwrap() - 1_000_000;
            (v["type"].as_str().unwrap(), at)
        })
        .collect();
    assert_eq!(
        timeline,
        [
            ("up", 0),
            ("status", 2000),
            ("suspect", 2500),
            ("down", 4000),
            ("status", 4000),
            ("status", 6000),
            ("status", 8000),
            ("status", 10_000),
        ]
    );
    assert_eq!(events[0]["addr"], "10.0.0.7:4000");
    // The garbage line is counted; the other tool's event is not.
    assert_eq!(events[1]["rejected"], json!({"bad-json": 1}));
    assert_eq!(events[1]["received"], 2);
    assert_eq!(events[3]["missed"], 3);

    // Without --replay: judged as the lines arrive, ending with the file.
    let live = listen_from(&file, &[]);
    assert_eq!(live[0]["type"], "up", "{live:?}");
    assert_eq!(live[0]["addr"], "10.0.0.7:4000");
}

#[test]
fn hb_listen_takes_its_key_file_from_the_environment() {
    let dir = TempDir::new();
    let key = dir.key_file("key", "0123456789abcdef0123456789abcdef\n", 0o600);
    let mut listen = Command::new(bin("hb-listen"));
    listen
        .args(["--listen", "127.0.0.1:0", "--status-every", "50ms"])
        .env("HB_KEY_FILE", &key)
        .stdin(Stdio::null());
    let mut l = Running::start(listen, "hb-listen");
    let to = l.listening().to_string();
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
        ])
        .arg(&key)
        .assert()
        .success();
    l.expect("up", |v| v["node"] == "signed");
    cmd("hb-send")
        .args(["--to", &to, "--node", "unsigned", "--once", "--every", "1s"])
        .env_remove("HB_KEY_FILE")
        .assert()
        .success();
    let status = l.expect("status", |v| v["rejected"]["bad-mac"] == 1);
    assert_eq!(status["up"], json!(["signed"]));
}

/// stdout on a full disk (/dev/full) ends the listener with exit 1 and a
/// message that says it was stdout, not with a bare "No space left".
#[test]
fn a_full_stdout_is_named_in_the_error() {
    use std::io::{BufRead, BufReader, Read};
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let mut child = Command::new(bin("hb-listen"))
        .args(["--listen", "127.0.0.1:0"])
        .stdin(Stdio::null())
        .stdout(full)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let addr: std::net::SocketAddr = loop {
        let mut line = String::new();
        assert!(stderr.read_line(&mut line).unwrap() > 0, "never listened");
        if let Some((_, addr)) = line.trim().split_once("listening on ") {
            break addr.parse().unwrap();
        }
    };
    send_raw(addr, &beat("web-1", "b", 1, 60_000));
    let status = child.wait().unwrap();
    let mut rest = String::new();
    stderr.read_to_string(&mut rest).unwrap();
    assert_eq!(status.code(), Some(1), "{rest}");
    assert!(
        rest.contains("writing stdout") && rest.contains("No space left"),
        "{rest}"
    );
}

/// A listener on `[::]` says where an IPv4 sender is as a person reads it
/// (`127.0.0.1:port`, not `[::ffff:127.0.0.1]:port`), and still asks it
/// (a crash is found by its closed port, on a dual-stack socket too).
#[test]
fn a_dual_stack_listener_shows_ipv4_senders_as_ipv4() {
    let (mut l, addr) = Running::bound("hb-listen", "[::]:0", &[]);
    let to = std::net::SocketAddr::from(([127, 0, 0, 1], addr.port())).to_string();
    let send = Running::spawn(
        "hb-send",
        &["--node", "v4", "--every", "100ms", "--to", &to],
    );
    let up = l.expect("up", |v| v["node"] == "v4");
    assert!(
        up["addr"].as_str().unwrap().starts_with("127.0.0.1:"),
        "{up}"
    );
    send.signal("KILL");
    let down = l.expect("down", |v| v["node"] == "v4");
    assert_eq!(down["cause"], "unreachable", "{down}");
    assert_eq!(down["addr"], up["addr"], "{down}");
}
