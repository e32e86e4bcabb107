//! Pull-based monitoring end to end: real hb-poll against real hb-ack
//! responders on loopback, JSON and Nagios outputs, exit codes.

use std::net::{SocketAddr, TcpListener, UdpSocket};

use serde_json::Value;
use socket2::{Domain, Socket, Type};

use crate::harness::{
    beat, beat_with, bin, cmd, dead_target, parse_events, send_raw, wall_ms, Running, TempDir,
    PATIENCE,
};

/// An hb-ack named `node`, once its health is in its replies.
fn responder(node: &str) -> (Running, SocketAddr) {
    Running::healthy_responder(&["--node", node])
}

/// A TCP target that refuses connections at once, so it is down without
/// a timeout to wait out, and its address as hb-poll takes it. The socket
/// is bound but not listening, and stays this test's while the caller
/// keeps it, so no other process can start answering on its port.
fn refusing_target() -> (Socket, String) {
    let refusing = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    refusing
        .bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into())
        .unwrap();
    let addr = refusing.local_addr().unwrap().as_socket().unwrap();
    (refusing, format!("tcp://{addr}"))
}

/// Runs hb-poll once; returns (exit code, stdout lines parsed as events).
fn poll_json(args: &[&str]) -> (i32, Vec<Value>) {
    let out = cmd("hb-poll").args(args).output().unwrap();
    (out.status.code().unwrap(), parse_events(&out.stdout))
}

fn poll_nagios(args: &[&str]) -> (i32, String) {
    let out = cmd("hb-poll")
        .args(args)
        .args(["--format", "nagios"])
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(stdout.lines().count(), 1, "one line: {stdout}");
    (out.status.code().unwrap(), stdout.trim_end().to_owned())
}

/// A Nagios plugin line parsed back: state word, text, perfdata by label.
struct PluginLine {
    state: String,
    text: String,
    perf: Vec<(String, String, Vec<String>)>,
}

fn parse_plugin_line(line: &str) -> PluginLine {
    let (text, perf) = line.split_once(" | ").expect("perfdata separator");
    let state = text
        .strip_prefix("HB ")
        .and_then(|t| t.split(" - ").next())
        .expect("HB STATE - text")
        .to_owned();
    let perf = perf
        .split(' ')
        .map(|item| {
            let (label, rest) = item.split_once('=').expect("label=value");
            let mut fields = rest.split(';').map(str::to_owned);
            let value = fields.next().unwrap();
            (label.trim_matches('\'').to_owned(), value, fields.collect())
        })
        .collect();
    PluginLine {
        state,
        text: text.to_owned(),
        perf,
    }
}

#[test]
fn several_responders_one_killed() {
    let (_a, a) = responder("web-1");
    let (_b, b) = responder("web-2");
    let (c_proc, c) = responder("web-3");
    let (code, events) = poll_json(&[&a.to_string(), &b.to_string(), &c.to_string()]);
    assert_eq!(code, 0);
    assert_eq!(events.len(), 4);
    for (event, node) in events.iter().zip(["web-1", "web-2", "web-3"]) {
        assert_eq!(event["type"], "poll");
        assert_eq!(event["node"], node);
        assert_eq!(event["status"], "up");
        assert_eq!(event["attempts"], 1);
        assert!(event["rtt_ms"].as_f64().unwrap() >= 0.0);
        assert!(
            event["health"]["mem_total"].as_u64().unwrap() > 0,
            "{event}"
        );
        assert!(event["error"].is_null());
    }
    assert_eq!(events[3]["type"], "summary");
    assert_eq!(events[3]["state"], "OK");

    drop(c_proc);
    // Each attempt long enough for a live responder on a loaded machine.
    let (code, events) = poll_json(&[
        &a.to_string(),
        &b.to_string(),
        &c.to_string(),
        "-t",
        "500ms",
    ]);
    assert_eq!(code, 2, "CRITICAL: {events:?}");
    let dead = &events[2];
    assert_eq!(dead["status"], "down");
    assert_eq!(dead["attempts"], 3, "1 try + 2 retries");
    assert!(
        dead["error"].as_str().unwrap().contains("no reply"),
        "{dead}"
    );
    let summary = &events[3];
    assert_eq!(
        (summary["up"].as_u64(), summary["down"].as_u64()),
        (Some(2), Some(1))
    );
    assert_eq!(summary["state"], "CRITICAL");
}

/// One target up and one down: the down one refuses at once, so each
/// round lasts as long as the live one takes to answer (with the default
/// timeout and retries), however loaded the machine.
#[test]
fn every_exit_code() {
    let (_a, a) = responder("a");
    let (_refusing, down) = refusing_target();
    let a = a.to_string();
    let run = |extra: &[&str]| {
        let mut args = vec![a.as_str(), down.as_str()];
        args.extend_from_slice(extra);
        poll_nagios(&args).0
    };
    assert_eq!(poll_nagios(&[&a]).0, 0, "OK");
    assert_eq!(
        run(&["-w", "0", "-c", "1"]),
        1,
        "WARNING: 1 down is outside 0..0"
    );
    assert_eq!(run(&[]), 2, "CRITICAL: any down by default");
    for usage in [&["--bogus"][..], &[], &["-w", "5:1", "x"]] {
        let out = cmd("hb-poll").args(usage).output().unwrap();
        assert_eq!(out.status.code(), Some(3), "UNKNOWN: {usage:?}");
    }
}

/// The range semantics table, through the real binary: one target of two
/// down (refusing at once, as in `every_exit_code`), so the number down
/// is 1.
#[test]
fn threshold_ranges_follow_nagios_semantics() {
    let (_a, a) = responder("a");
    let (_refusing, down) = refusing_target();
    let a = a.to_string();
    let table: &[(&str, i32)] = &[
        ("0", 2),      // alert outside 0..0: 1 is outside
        ("1", 0),      // 0..1 contains 1
        ("2:", 2),     // below 2
        ("1:", 0),     // 1 is not below 1
        ("~:0", 2),    // above 0
        ("~:1", 0),    // 1 is not above 1
        ("2:5", 2),    // outside 2..5
        ("@1:3", 2),   // inside 1..3, inclusive
        ("@2:3", 0),   // 1 is not inside 2..3
        ("@0:0.5", 0), // 1 is not inside
    ];
    for (range, want) in table {
        let args = [a.as_str(), down.as_str(), "-c", range];
        assert_eq!(poll_nagios(&args).0, *want, "-c {range}");
    }
}

#[test]
fn the_nagios_line_parses_back() {
    let (_a, a) = responder("a");
    let (_b, b) = responder("b");
    let (code, line) = poll_nagios(&[
        &a.to_string(),
        &b.to_string(),
        "--rtt-warning",
        "0.5",
        "--rtt-critical",
        "1",
    ]);
    assert_eq!(code, 0, "{line}");
    let p = parse_plugin_line(&line);
    assert_eq!(p.state, "OK");
    assert!(p.text.ends_with("2/2 up"), "{line}");
    let perf = |label: &str| {
        p.perf
            .iter()
            .find(|(l, _, _)| l == label)
            .unwrap_or_else(|| panic!("no {label} in {line}"))
    };
    assert_eq!(perf("up").1, "2");
    assert_eq!(perf("up").2, ["", "", "0", "2"]);
    assert_eq!(perf("down").1, "0");
    assert_eq!(perf("down").2, ["", "0", "0", "2"]);
    let rtt = perf("rtt_max");
    assert!(rtt.1.ends_with('s'), "{line}");
    let secs: f64 = rtt.1.trim_end_matches('s').parse().unwrap();
    assert!((0.0..1.0).contains(&secs), "{line}");
    assert_eq!(rtt.2[..2], ["0.5", "1"]);
    let cpu: f64 = perf("cpu_max").1.trim_end_matches('%').parse().unwrap();
    assert!((0.0..=100.0).contains(&cpu));
    assert!(perf("mem_max").1.ends_with('%'));
}

#[test]
fn reply_metrics_are_thresholded() {
    let (_a, a) = responder("a");
    let a = a.to_string();
    let (code, line) = poll_nagios(&[&a, "--rtt-warning", "0"]);
    assert_eq!(code, 1, "any rtt above 0 s warns: {line}");
    assert!(
        line.contains("a rtt") || line.contains(&format!("{a} rtt")),
        "{line}"
    );
    let (code, line) = poll_nagios(&[&a, "--mem-critical", "@0:100"]);
    assert_eq!(code, 2, "{line}");
    let (code, line) = poll_nagios(&[&a, "--cpu-warning", "~:100"]);
    assert_eq!(code, 0, "{line}");

    let (_quiet, q) = Running::responder(&["--no-health"]);
    let (code, line) = poll_nagios(&[&q.to_string(), "--cpu-critical", "90"]);
    assert_eq!(code, 3, "health asked for but not sent: {line}");
    assert!(line.contains("sent no cpu"), "{line}");
}

#[test]
fn targets_from_a_file_and_from_stdin() {
    let (_a, a) = responder("a");
    let (_b, b) = responder("b");
    let dir = TempDir::new();
    let file = dir.file("targets", &format!("# fleet\n{a}  # first\n\n{b}\n"));
    let (code, events) = poll_json(&["-f", file.to_str().unwrap()]);
    assert_eq!(code, 0);
    assert_eq!(events.iter().filter(|e| e["type"] == "poll").count(), 2);

    let out = cmd("hb-poll")
        .args(["-f", "-", "-H", &a.to_string()])
        .write_stdin(format!("{b}\n"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let nodes: Vec<Value> = parse_events(&out.stdout)
        .into_iter()
        .filter(|e| e["type"] == "poll")
        .map(|e| e["node"].clone())
        .collect();
    assert_eq!(nodes, ["a", "b"], "-H first, then the file");

    std::fs::write(&file, "not a target:99999\n").unwrap();
    let out = cmd("hb-poll")
        .args(["-f", file.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("targets:1"));
}

#[test]
fn tcp_targets_get_a_connect_check() {
    let open = TcpListener::bind("127.0.0.1:0").unwrap();
    let (_refusing, down) = refusing_target();
    let up = format!("tcp://{}", open.local_addr().unwrap());
    let (code, events) = poll_json(&[&up, &down]);
    assert_eq!(code, 2);
    assert_eq!(events[0]["status"], "up");
    assert!(events[0]["node"].is_null());
    assert_eq!(events[1]["status"], "down");
    assert!(
        events[1]["error"].as_str().unwrap().contains("refused"),
        "{}",
        events[1]
    );
}

/// A reply must carry a nonce we sent: a stranger answering from the right
/// address with the wrong nonce does not make the target up.
#[test]
fn replies_are_matched_by_nonce() {
    let fake = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = fake.local_addr().unwrap();
    let liar = std::thread::spawn(move || {
        let mut buf = [0u8; 2048];
        fake.set_read_timeout(Some(PATIENCE)).unwrap();
        while let Ok((len, from)) = fake.recv_from(&mut buf) {
            let probe: Value = serde_json::from_slice(&buf[..len]).unwrap();
            let wrong = probe["nonce"].as_u64().unwrap().wrapping_add(1);
            let reply = format!(r#"{{"type":"reply","node":"liar","nonce":{wrong}}}"#);
            fake.send_to(reply.as_bytes(), from).unwrap();
            if probe["nonce"] == 0 {
                break;
            }
        }
    });
    let (code, events) = poll_json(&[&addr.to_string(), "-t", "100ms", "--retries", "1"]);
    assert_eq!(code, 2);
    assert_eq!(events[0]["status"], "down", "{:?}", events[0]);
    send_raw(addr, br#"{"nonce":0}"#);
    liar.join().unwrap();
}

/// Hundreds of targets in one round (one hb-ack reached through many
/// loopback addresses): every one answers, none is lost to a full buffer.
#[test]
fn a_round_over_many_targets_loses_none() {
    let (_a, a) = Running::bound("hb-ack", "0.0.0.0:0", &["--quiet", "--no-health"]);
    let port = a.port();
    let targets: String = (0..400)
        .map(|i| format!("127.0.{}.{}:{port}\n", 1 + i / 250, 1 + i % 250))
        .collect();
    let out = cmd("hb-poll")
        .args(["-f", "-", "--format", "nagios"])
        .write_stdin(targets)
        .output()
        .unwrap();
    let line = String::from_utf8(out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(0), "{line}");
    assert!(line.starts_with("HB OK - 400/400 up"), "{line}");
}

#[test]
fn hb_ack_acknowledges_beats_and_prints_them() {
    let (mut ack, addr) = responder("receiver");
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(PATIENCE)).unwrap();
    sock.send_to(
        &beat_with("sender", "b1", 7, 100, r#""ts_ms":1,"ack":true"#),
        addr,
    )
    .unwrap();
    let mut buf = [0u8; 1500];
    let (len, from) = sock.recv_from(&mut buf).unwrap();
    assert_eq!(from, addr);
    let ackmsg: Value = serde_json::from_slice(&buf[..len]).unwrap();
    assert_eq!(
        ackmsg,
        serde_json::json!({"type":"ack","node":"receiver","of":"sender","seq":7})
    );
    let line = ack.expect("beat", |_| true);
    assert_eq!(line["node"], "sender");
    assert_eq!(line["seq"], 7);
    assert_eq!(line["ack"], true);
    assert_eq!(line["from"], sock.local_addr().unwrap().to_string());
    assert_ne!(
        line["ts_ms"], 1,
        "ts_ms is the receive time, not the sender's"
    );

    // A beat that does not ask is printed but not acknowledged: the next
    // ack to come is the one for the beat that asks after it (hb-ack
    // handles datagrams in order).
    sock.send_to(br#"{"type":"beat","node":"quiet","seq":1}"#, addr)
        .unwrap();
    sock.send_to(&beat_with("sender", "b1", 8, 100, r#""ack":true"#), addr)
        .unwrap();
    ack.expect("beat", |v| v["node"] == "quiet");
    let (len, _) = sock.recv_from(&mut buf).unwrap();
    let next: Value = serde_json::from_slice(&buf[..len]).unwrap();
    assert_eq!((&next["of"], &next["seq"]), (&"sender".into(), &8.into()));
}

#[test]
fn hb_ack_verbose_logs_probes_and_quiet_prints_nothing() {
    let (mut verbose, v) = Running::responder(&["--verbose", "--node", "v"]);
    poll_json(&[&v.to_string(), "--node", "the-poller"]);
    let probe = verbose.expect("probe", |_| true);
    assert_eq!(probe["node"], "the-poller");
    assert!(probe["nonce"].is_u64() && probe["from"].is_string());

    let (mut quiet, q) = Running::responder(&["--quiet"]);
    send_raw(q, &beat("n", "b", 1, 100));
    assert_eq!(poll_json(&[&q.to_string()]).0, 0);
    assert!(quiet.signal_and_wait("TERM").success());
    assert_eq!(quiet.next(PATIENCE), None, "stdout ends with nothing");
}

/// Verdicts count rounds, not time (see `watch`): an attempt may wait as
/// long as a loaded machine needs without changing them.
#[test]
fn every_mode_reports_transitions_and_restarts() {
    let (first, addr) = responder("svc");
    let target = addr.to_string();
    let mut poll = Running::spawn(
        "hb-poll",
        &[
            &target,
            "--every",
            "250ms",
            "--misses",
            "2",
            "-t",
            "1s",
            "--retries",
            "1",
        ],
    );
    let up = poll.expect("up", |_| true);
    assert_eq!(up["node"], target);
    let killed = wall_ms();
    drop(first);
    let suspect = poll.expect_after("suspect", killed, |_| true);
    assert_eq!(suspect["node"], target);
    let down = poll.expect_after("down", killed, |_| true);
    assert!(down["missed"].as_u64().unwrap() >= 2, "{down}");

    // The same address: hb-poll knows its target by it.
    let restarted = wall_ms();
    let _second = Running::bound_again("hb-ack", &target, &["--node", "svc"]);
    let restart = poll.expect_after("restart", restarted, |_| true);
    assert_ne!(restart["old_boot"], restart["new_boot"]);
    poll.expect_after("up", restarted, |v| v["was"] == "down");
    assert_eq!(poll.signal_and_wait("INT").code(), Some(0));
}

#[test]
fn every_mode_verbose_adds_round_lines() {
    let (_a, a) = responder("a");
    let mut poll = Running::spawn("hb-poll", &[&a.to_string(), "--every", "50ms", "-v"]);
    poll.expect("poll", |v| v["status"] == "up");
    poll.expect("summary", |v| v["state"] == "OK");
    assert_eq!(poll.signal_and_wait("TERM").code(), Some(0));
}

#[test]
fn usage_errors_exit_unknown_with_one_line() {
    for args in [
        &["--every", "1s", "--format", "nagios", "x"][..],
        &["--verbose", "x"],
        &["-t", "0", "x"],
        &["--retries", "-1", "x"],
        &["--cpu-warning", "ten", "x"],
    ] {
        let out = cmd("hb-poll").args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(3), "{args:?}");
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
    }
}

#[test]
fn a_dead_target_is_down_through_every_path() {
    let (_relay, relay) = responder("relay");
    let (_live, live) = responder("live");
    let (_dead, dead) = dead_target();
    // Long enough for the live target to answer on a loaded machine.
    let (code, events) = poll_json(&[
        &live.to_string(),
        &dead,
        "--via",
        &relay.to_string(),
        "-t",
        "1s",
        "--retries",
        "0",
    ]);
    assert_eq!(code, 2);
    assert_eq!(events[0]["path"], "direct");
    assert!(events[1]["path"].is_null());
    let error = events[1]["error"].as_str().unwrap();
    // One of each, in the singular.
    assert!(
        error.starts_with("no reply to 1 probe, ") && error.ends_with(" nor through 1 relay"),
        "{error}"
    );
}

/// As with the fixed detector, phi counts rounds, not time: an attempt may
/// wait as long as a loaded machine needs.
#[test]
fn every_mode_takes_the_phi_detector_too() {
    let (first, addr) = responder("svc");
    let mut poll = Running::spawn(
        "hb-poll",
        &[
            &addr.to_string(),
            "--every",
            "50ms",
            "-t",
            "1s",
            "--retries",
            "0",
            "--detector",
            "phi",
        ],
    );
    poll.expect("up", |_| true);
    let killed = wall_ms();
    drop(first);
    let down = poll.expect_after("down", killed, |_| true);
    assert!(down["phi"].as_f64().unwrap() >= 8.0, "{down}");
}

#[test]
fn hb_poll_ends_cleanly_on_a_closed_stdout_and_on_signals() {
    let (_a, a) = responder("a");
    let script = format!(
        "{} {a} --format nagios | true; echo ${{PIPESTATUS[0]}}",
        bin("hb-poll").display()
    );
    let out = std::process::Command::new("bash")
        .args(["-c", &script])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "0");
    assert!(!String::from_utf8_lossy(&out.stderr).contains("panicked"));

    // A round waiting on a dead target stops waiting at SIGTERM: UNKNOWN
    // (had it waited its 10 s out, the dead target would be CRITICAL). It
    // is waiting once its probe has come.
    let (dead_socket, dead) = dead_target();
    let poll = std::process::Command::new(bin("hb-poll"))
        .args([&dead, "-t", "10s", "--format", "nagios"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    dead_socket.set_read_timeout(Some(PATIENCE)).unwrap();
    dead_socket
        .recv_from(&mut [0; 2048])
        .expect("no probe came");
    std::process::Command::new("kill")
        .args(["-TERM", &poll.id().to_string()])
        .status()
        .unwrap();
    let out = poll.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "HB UNKNOWN - interrupted\n"
    );
}
