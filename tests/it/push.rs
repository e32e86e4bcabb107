//! Push heartbeats end to end: real hb-send and hb-listen over loopback UDP.

use std::io::Write;
use std::net::UdpSocket;
use std::process::{Command, Stdio};
use std::thread::sleep;
use std::time::Duration;

use crate::harness::{
    beat, bin, cmd, dead_target, parse_events, send_raw, skip, wall_ms, Running, TempDir, PATIENCE,
};

fn ms(v: &serde_json::Value, field: &str) -> u64 {
    v[field]
        .as_u64()
        .unwrap_or_else(|| panic!("{field} missing: {v}"))
}

/// The whole life of a node as the listener tells it: the sender stops; the
/// listener says suspect at the first missed beat and down only after N
/// intervals; the sender comes back as a new boot: restart, then up with
/// how long it was down.
///
/// Its 5th and last beat cannot leave before 4 intervals after its start:
/// a down stamped earlier came while it was beating (5 intervals, 1 s, is
/// more than a loaded machine holds a beat up). A suspect, the warning at
/// 1.5 intervals, a loaded machine may cause while the node still beats:
/// the one checked is the one after its last beat.
#[test]
fn sender_stops_suspect_then_down_after_n_intervals_then_back_up() {
    let (mut listen, addr) = Running::listener(&["--misses", "5"]);
    let to = addr.to_string();
    let args = ["--to", &to, "--node", "web-1", "--every", "200ms"];
    let silent_from = wall_ms() + 4 * 200;
    cmd("hb-send")
        .args(args)
        .args(["--count", "5"])
        .assert()
        .success()
        .stdout("");

    let up = listen.expect("up", |v| v["node"] == "web-1");
    assert!(up.get("was").is_none(), "first beat: {up}");
    let suspect = listen.expect("suspect", |v| {
        v["node"] == "web-1" && v["ts_ms"].as_u64() >= Some(silent_from)
    });
    assert!(ms(&suspect, "silent_ms") >= 300, "{suspect}");
    let down = listen.expect_after("down", silent_from, |_| true);
    assert_eq!(down["node"], "web-1");
    assert!(
        ms(&down, "silent_ms") >= 1000,
        "down before 5 intervals: {down}"
    );
    assert!(ms(&down, "missed") >= 5, "{down}");
    assert!(down["last_seen"].is_string(), "{down}");
    assert_eq!(listen.seen_of("down", "web-1").len(), 1);

    cmd("hb-send")
        .args(args)
        .args(["--count", "1"])
        .assert()
        .success();
    let restart = listen.expect("restart", |v| v["node"] == "web-1");
    assert_ne!(restart["old_boot"], restart["new_boot"]);
    let back = listen.expect("up", |v| v["node"] == "web-1");
    assert_eq!(back["was"], "down");
    assert!(ms(&back, "silent_ms") >= ms(&down, "silent_ms"), "{back}");
    assert!(back["down_ms"].is_u64(), "{back}");
}

#[test]
fn one_lost_beat_is_never_a_down() {
    let (mut listen, addr) = Running::listener(&["--misses", "5"]);
    // 200 ms beats with seq 4 lost: 400 ms of silence, far from 5 x 200.
    for seq in 1..=8 {
        if seq != 4 {
            send_raw(addr, &beat("flaky", "b1", seq, 200));
        }
        sleep(Duration::from_millis(200));
    }
    let back = listen.expect("up", |v| v["was"] == "suspect");
    assert_eq!(back["node"], "flaky");
    send_raw(addr, br#"{"type":"beat","node":"marker","every_ms":60000}"#);
    listen.expect("up", |v| v["node"] == "marker");
    assert!(
        listen.seen_of("down", "flaky").is_empty(),
        "a single lost beat caused a down:\n{}",
        listen.history()
    );
}

#[test]
fn gaps_in_seq_are_reported_with_beats() {
    let (mut listen, addr) = Running::listener(&["--beats"]);
    for seq in [1, 2, 5] {
        send_raw(addr, &beat("g", "b1", seq, 1000));
    }
    let third = listen.expect("beat", |v| v["seq"] == 5);
    assert_eq!(third["gap"], 2);
    assert_eq!(third["node"], "g");
    assert_eq!(third["boot"], "b1");
}

#[test]
fn a_restart_within_one_interval_is_detected() {
    let (mut listen, addr) = Running::listener(&[]);
    send_raw(addr, &beat("db", "aaaa", 7, 1000));
    send_raw(addr, &beat("db", "bbbb", 1, 1000));
    let r = listen.expect("restart", |_| true);
    assert_eq!(
        (&r["old_boot"], &r["new_boot"]),
        (&"aaaa".into(), &"bbbb".into())
    );
    assert!(listen.seen_of("down", "db").is_empty());
}

#[test]
fn an_expected_node_that_never_beats_is_reported_down() {
    let dir = TempDir::new();
    let list = dir.file("nodes", "# the fleet\nfrom-file   # trailing comment\n\n");
    let (mut listen, _) = Running::listener(&[
        "--expect",
        "ghost",
        "--expect-file",
        list.to_str().unwrap(),
        "--every",
        "100ms",
        "--misses",
        "3",
    ]);
    for node in ["ghost", "from-file"] {
        let down = listen.expect("down", |v| v["node"] == node);
        assert!(
            down["last_seen"].is_null() && down["addr"].is_null(),
            "{down}"
        );
        assert!(ms(&down, "silent_ms") >= 300, "{down}");
    }
}

#[test]
fn expected_nodes_from_stdin() {
    let mut listen = Command::new(bin("hb-listen"));
    listen
        .args(["--listen", "127.0.0.1:0", "--expect-file", "-"])
        .args(["--every", "10ms", "--misses", "1"])
        .stdin(Stdio::piped());
    let mut listen = Running::start(listen, "hb-listen --expect-file -");
    // Written and closed: the list ends here.
    listen.take_stdin().write_all(b"a\nb\n").unwrap();
    for node in ["a", "b"] {
        listen.expect("down", |v| v["node"] == node);
    }
}

#[test]
fn a_hand_written_minimal_beat_is_enough() {
    let (mut listen, addr) = Running::listener(&[]);
    send_raw(
        addr,
        br#"{"type":"beat","node":"backup-job","every_ms":3600000}"#,
    );
    let up = listen.expect("up", |_| true);
    assert_eq!(up["node"], "backup-job");
    assert!(up["addr"].as_str().unwrap().starts_with("127.0.0.1:"));
}

/// Garbage is counted by reason and skipped; the listener keeps working.
#[test]
fn malformed_datagrams_are_counted_and_skipped() {
    let (mut listen, addr) = Running::listener(&["--status-every", "50ms"]);
    let bad: &[&[u8]] = &[
        b"",
        b"garbage",
        b"\xff\xfe\x00",
        b"{\"type\":\"beat\",\"node\":",
        br#"{"type":"beat","node":"x","seq":"one"}"#,
        br#"{"type":"beat","node":""}"#,
        br#"{"type":"beat"}"#,
        br#"{"type":"gossip","node":"x"}"#,
        br#"{"type":"probe","node":"x","nonce":1}"#,
        &[b'{'; 2000],
        // Larger than a receive slot: it arrives cut short, still too large.
        &[b'{'; 60_000],
    ];
    for d in bad {
        send_raw(addr, d);
    }
    send_raw(addr, &beat("real", "b", 1, 1000));
    listen.expect("up", |v| v["node"] == "real");
    let status = listen.expect("status", |v| v["received"] == 1);
    let rejected = &status["rejected"];
    assert_eq!(rejected["bad-json"], 4, "{status}");
    assert_eq!(rejected["bad-field"], 1, "{status}");
    assert_eq!(rejected["bad-node"], 2, "{status}");
    assert_eq!(rejected["unknown-type"], 1, "{status}");
    assert_eq!(rejected["unexpected-type"], 1, "{status}");
    assert_eq!(rejected["too-large"], 2, "{status}");
    assert_eq!(status["up"], serde_json::json!(["real"]));
}

#[test]
fn fast_and_slow_nodes_are_each_judged_by_their_own_interval() {
    let (mut listen, addr) = Running::listener(&["--misses", "5"]);
    let to = addr.to_string();
    // The fast node's 3rd and last beat leaves 2 intervals after its start
    // at the earliest: a down stamped earlier is a false one.
    let fast_silent_from = wall_ms() + 2 * 200;
    let slow = Running::spawn(
        "hb-send",
        &[
            "--to", &to, "--node", "slow", "--every", "1s", "--count", "1",
        ],
    );
    let fast = Running::spawn(
        "hb-send",
        &[
            "--to", &to, "--node", "fast", "--every", "200ms", "--count", "3",
        ],
    );
    let first_down = listen.expect_after("down", fast_silent_from, |_| true);
    assert_eq!(first_down["node"], "fast", "{}", listen.history());
    assert!(ms(&first_down, "silent_ms") >= 1000);
    let slow_down = listen.expect("down", |v| v["node"] == "slow");
    assert!(ms(&slow_down, "silent_ms") >= 5000, "{slow_down}");
    drop((slow, fast));
}

#[test]
fn status_snapshot_carries_health_for_routing() {
    let (mut listen, addr) = Running::listener(&["--status-every", "100ms"]);
    cmd("hb-send")
        .args([
            "--to",
            &addr.to_string(),
            "--node",
            "h1",
            "--health",
            "--once",
            "--every",
            "1s",
        ])
        .assert()
        .success();
    let status = listen.expect("status", |v| v["up"] == serde_json::json!(["h1"]));
    let health = &status["nodes"]["h1"]["health"];
    for field in [
        "cpu_pct",
        "mem_total",
        "mem_avail",
        "swap_used",
        "load1",
        "load5",
        "load15",
        "uptime_s",
    ] {
        assert!(health[field].is_number(), "{field} missing: {status}");
    }
    let pct = health["cpu_pct"].as_f64().unwrap();
    assert!((0.0..=100.0).contains(&pct));
    assert!(health["mem_avail"].as_u64() <= health["mem_total"].as_u64());
}

#[test]
fn ipv6_loopback_works_too() {
    if let Err(e) = UdpSocket::bind("[::1]:0") {
        skip!("this machine has no IPv6 loopback: {e}");
        return;
    }
    let (mut listen, addr) = Running::bound("hb-listen", "[::1]:0", &[]);
    assert!(addr.is_ipv6());
    cmd("hb-send")
        .args([
            "--to",
            &addr.to_string(),
            "--node",
            "v6",
            "--once",
            "--every",
            "1s",
        ])
        .assert()
        .success();
    let up = listen.expect("up", |_| true);
    assert!(up["addr"].as_str().unwrap().starts_with("[::1]:"), "{up}");
}

/// A target that refuses every send does not stop beats to the others;
/// with --count the failure shows in the exit code.
#[test]
fn an_unreachable_target_does_not_stop_the_beats() {
    let (mut listen, addr) = Running::listener(&["--beats"]);
    // Broadcast without SO_BROADCAST fails at once with EACCES; port 1 on
    // loopback answers with ICMP port unreachable.
    let out = cmd("hb-send")
        .args(["--to", "255.255.255.255:9", "--to", "127.0.0.1:1"])
        .args(["--to", &addr.to_string(), "--node", "n"])
        .args(["--every", "20ms", "--count", "5", "--verbose"])
        .assert()
        .code(1)
        .get_output()
        .clone();
    listen.expect("beat", |v| v["seq"] == 5);
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(
        stderr.matches("warning: 255.255.255.255:9").count(),
        1,
        "warn once per outage: {stderr}"
    );
    let sent = parse_events(&out.stdout);
    assert_eq!(sent.len(), 5);
    assert_eq!(sent[4]["type"], "sent");
    assert_eq!(sent[4]["seq"], 5);
    assert_eq!(sent[4]["to"].as_array().unwrap().len(), 2, "{}", sent[4]);
    assert_eq!(sent[4]["failed"][0]["to"], "255.255.255.255:9");
}

#[test]
fn a_closed_stdout_ends_quietly() {
    let dir = TempDir::new();
    let err = dir.path().join("pipe.err");
    let script = format!(
        "{} --listen 127.0.0.1:0 --status-every 10ms 2>{err} | head -1 >/dev/null; \
         echo ${{PIPESTATUS[0]}}; cat {err}",
        bin("hb-listen").display(),
        err = err.display()
    );
    let out = std::process::Command::new("bash")
        .args(["-c", &script])
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("0"), "{text}");
    let stderr: Vec<_> = lines.collect();
    assert_eq!(stderr.len(), 1, "only the listening line: {stderr:?}");
}

#[test]
fn sigterm_and_sigint_exit_cleanly() {
    for sig in ["TERM", "INT"] {
        let (mut listen, addr) = Running::listener(&[]);
        send_raw(addr, &beat("n", "b", 1, 1000));
        listen.expect("up", |_| true);
        let status = listen.signal_and_wait(sig);
        assert_eq!(status.code(), Some(0), "SIG{sig}");
        let mut send = Running::spawn(
            "hb-send",
            &["--to", &addr.to_string(), "--every", "1h", "--verbose"],
        );
        // Running: its first beat is out.
        send.expect("sent", |_| true);
        assert_eq!(
            send.signal_and_wait(sig).code(),
            Some(0),
            "hb-send SIG{sig}"
        );
    }
}

/// A service manager may stop a tool the moment it started it. SIGTERM
/// sent at the first instant hb-send can catch it (its handler shows in
/// /proc/PID/status: on an idle machine well within a millisecond of its
/// start, while it still parses its flags and opens its socket) ends it as
/// cleanly as later: exit 0, nothing printed but the line that says it
/// started; not killed by the signal
/// (143 in a shell), and not a signal lost with the tool running on. (No
/// program can catch a signal sent before its first instruction runs.)
#[test]
fn sigterm_at_start_exits_cleanly() {
    let (_sink, to) = dead_target();
    for run in 1..=20 {
        let mut send = Running::spawn("hb-send", &["--to", &to, "--every", "1h"]);
        let spawned = std::time::Instant::now();
        while !send.catches("TERM") {
            assert!(
                spawned.elapsed() < PATIENCE,
                "run {run}: no SIGTERM handler"
            );
        }
        let caught_after = spawned.elapsed();
        let status = send.signal_and_wait("TERM");
        assert_eq!(
            status.code(),
            Some(0),
            "run {run}: {status} (SIGTERM {caught_after:?} after the start)"
        );
        assert_eq!(send.next(PATIENCE), None, "run {run}: stdout");
        let stderr = send.stderr_rest();
        // Its start, and once it beat its leave, said: nothing else.
        assert!(
            stderr.iter().all(|l| l.starts_with("hb-send: ")
                && (l.contains(" beats every 1h to ")
                    || l.ends_with(" leaves: said so to every target"))),
            "run {run}: stderr {stderr:?}"
        );
    }
}

#[test]
fn usage_errors_are_one_line_naming_the_flag() {
    let cases: &[(&str, &[&str], &str)] = &[
        ("hb-send", &["--every", "soon"], "--every"),
        ("hb-send", &["--every", "0s"], "--every"),
        ("hb-send", &["--count", "0"], "--count"),
        ("hb-send", &["--once", "--count", "2"], "--count"),
        // A one-shot beat must say when the next is due (no lying 1s).
        ("hb-send", &["--once", "--to", "127.0.0.1:9"], "--once"),
        (
            "hb-send",
            &["--count", "3", "--to", "127.0.0.1:9"],
            "--count",
        ),
        ("hb-send", &["--to", "a:b:c"], "--to"),
        ("hb-send", &["--node", ""], "--node"),
        ("hb-listen", &["--misses", "0"], "--misses"),
        ("hb-listen", &["--listen", "nowhere:99999"], "--listen"),
        ("hb-listen", &["--bogus"], "--bogus"),
    ];
    for (bin, args, flag) in cases {
        let out = cmd(bin).args(*args).assert().code(2).get_output().clone();
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert_eq!(stderr.lines().count(), 1, "{bin} {args:?}: {stderr}");
        assert!(stderr.contains(flag), "{bin} {args:?}: {stderr}");
        assert!(stderr.starts_with(&format!("{bin}: ")), "{stderr}");
    }
}

#[test]
fn runtime_errors_exit_1_with_context() {
    let taken = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = cmd("hb-listen").args(["--listen", &addr]).assert().code(1);
    let stderr = String::from_utf8(out.get_output().stderr.clone()).unwrap();
    assert!(
        stderr.contains(&addr) && stderr.contains("in use"),
        "{stderr}"
    );

    let out = cmd("hb-listen")
        .args(["--expect-file", "/nonexistent/list"])
        .assert()
        .code(1);
    let stderr = String::from_utf8(out.get_output().stderr.clone()).unwrap();
    assert!(stderr.contains("/nonexistent/list"), "{stderr}");
}
