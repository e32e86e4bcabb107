//! Checks, replies and addresses as an adversary (or an unlucky operator)
//! would try them: long check output must never hide a critical check, a
//! check must not hold beats up, a threshold judges only its own field,
//! a closed port is reported, port 0 is a usage error, and a name with
//! IPv6 and IPv4 addresses reaches listeners on either.

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use crate::harness::{bin, cmd, parse_events, test_name, Netns, Running, TempDir};

const KEY: &str = "0123456789abcdef0123456789abcdef";

/// A `--check` whose first line is `len` bytes, starting with `word`, and
/// which exits with `code`.
fn long_check(name: &str, word: &str, len: usize, code: u8) -> String {
    let text = format!("{word} {}", "x".repeat(len - word.len() - 1));
    format!("{name}=echo {text}; exit {code}")
}

/// hb-poll --format nagios against hb-ack running `checks` (and `extra`
/// flags on both): the plugin line, the exit code, and hb-ack's stderr.
fn nagios_round(checks: &[String], extra: &[&str]) -> (String, Option<i32>, Running) {
    let mut args: Vec<&str> = Vec::new();
    for c in checks {
        args.extend(["--check", c.as_str()]);
    }
    args.extend_from_slice(extra);
    let (responder, addr) = Running::responder(&args);
    let out = cmd("hb-poll")
        .args(["--format", "nagios", &addr.to_string()])
        .args(extra)
        .output()
        .unwrap();
    let line = String::from_utf8(out.stdout).unwrap();
    (line, out.status.code(), responder)
}

/// Three checks of 190 bytes of output, one critical, do not fit a reply
/// to a 512-byte probe: the passing checks' output is cut first, the
/// critical status always stays, and hb-ack says once that it cut.
#[test]
fn long_check_output_never_hides_a_critical_check() {
    let dir = TempDir::new();
    let key = dir.key_file("key", &format!("{KEY}\n"), 0o600);
    let keyed = ["--key-file", key.to_str().unwrap()];
    let three = vec![
        long_check("a", "CRITICAL", 190, 2),
        long_check("b", "OK", 190, 0),
        long_check("c", "OK", 190, 0),
    ];
    let two = vec![
        long_check("a", "CRITICAL", 120, 2),
        long_check("b", "OK", 120, 0),
    ];
    for (checks, extra) in [(&three, &[][..]), (&three, &keyed[..]), (&two, &[][..])] {
        let (line, code, responder) = nagios_round(checks, extra);
        assert!(line.starts_with("HB CRITICAL"), "{extra:?}: {line}");
        assert!(line.contains("check a: CRITICAL x"), "{line}");
        assert_eq!(code, Some(2), "{line}");
        // Two checks fit whole while health is not in yet (its first
        // reading takes a moment); three never do.
        if checks.len() == 3 {
            let said = responder.stderr_address("a reply did not fit");
            assert!(said.contains("said once"), "{said}");
        }
    }

    // The JSON line shows the cut: the passing output ends with the mark.
    let (responder, addr) = Running::responder(&[
        "--check", &three[0], "--check", &three[1], "--check", &three[2],
    ]);
    let out = cmd("hb-poll").arg(addr.to_string()).output().unwrap();
    let poll = &parse_events(&out.stdout)[0];
    let checks = poll["checks"].as_array().unwrap();
    assert_eq!(checks.len(), 3, "{poll}");
    assert_eq!(checks[0]["status"], "critical");
    assert!(
        checks[1]["output"].as_str().unwrap().ends_with('…'),
        "{poll}"
    );
    drop(responder);
}

/// Beats have 1400 bytes: eight checks of 190 bytes and health do not
/// fit, and the listener still sees the critical one.
#[test]
fn a_beat_too_large_for_its_checks_keeps_the_critical_one() {
    let (mut listener, addr) = Running::listener(&[]);
    let mut checks: Vec<String> = (0..7)
        .map(|i| long_check(&format!("ok{i}"), "OK", 190, 0))
        .collect();
    checks.push(long_check("bad", "CRITICAL", 190, 2));
    let mut send = cmd("hb-send");
    send.args([
        "--node",
        "big",
        "--once",
        "--every",
        "1s",
        "--health",
        "--to",
        &addr.to_string(),
    ]);
    for c in &checks {
        send.args(["--check", c]);
    }
    let out = send.output().unwrap();
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("a beat did not fit one datagram"),
        "{stderr}"
    );
    let health = listener.expect("health", |e| e["node"] == "big");
    assert_eq!(health["status"], "critical", "{health}");
    let checks = health["checks"].as_array().unwrap();
    assert!(checks.iter().any(|c| c["name"] == "bad"), "{health}");
}

/// A check that leaves a background child holding its stdout is over
/// when its shell exits: beats are not held up by the child.
#[test]
fn a_background_child_does_not_delay_beats() {
    let (mut listener, addr) = Running::listener(&[]);
    let start = Instant::now();
    let out = cmd("hb-send")
        .args([
            "--node",
            "bg",
            "--once",
            "--every",
            "1s",
            "--to",
            &addr.to_string(),
        ])
        .args(["--check", "bg=(sleep 5 &); echo x", "--check-timeout", "1s"])
        .output()
        .unwrap();
    // The bound is the feature: not the child's 5 s.
    assert!(
        start.elapsed() < Duration::from_secs(4),
        "{:?}",
        start.elapsed()
    );
    assert!(out.status.success());
    let health = listener.expect("health", |e| e["node"] == "bg");
    assert_eq!(health["status"], "ok", "{health}");
    assert_eq!(health["checks"][0]["output"], "x");
}

/// A plugin printing 100 MB is read as it prints and reported with its
/// own exit status and its line cut, not as a timeout.
#[test]
fn a_flood_of_check_output_is_read_and_cut() {
    let flood = "flood=head -c 100000000 /dev/zero | tr '\\0' x; exit 0";
    let (responder, addr) = Running::responder(&["--check", flood, "--check-timeout", "60s"]);
    let out = cmd("hb-poll").arg(addr.to_string()).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let poll = &parse_events(&out.stdout)[0];
    let check = &poll["checks"][0];
    assert_eq!(check["status"], "ok", "{poll}");
    let output = check["output"].as_str().unwrap();
    assert!(output.starts_with("xxx") && output.ends_with('…'), "{poll}");
    drop(responder);
}

/// A responder (not hb-ack) that answers every probe with `health`.
fn answering(health: &'static str) -> String {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = socket.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        let mut buf = [0; 2048];
        while let Ok((len, from)) = socket.recv_from(&mut buf) {
            let probe: serde_json::Value = serde_json::from_slice(&buf[..len]).unwrap();
            let reply = format!(
                r#"{{"type":"reply","node":"lean","nonce":{},"health":{health}}}"#,
                probe["nonce"]
            );
            socket.send_to(reply.as_bytes(), from).unwrap();
        }
    });
    addr
}

/// A reply with `cpu_pct` alone is judged on its CPU; a threshold whose
/// field is missing is UNKNOWN, naming that field alone.
#[test]
fn thresholds_judge_only_the_fields_they_need() {
    let addr = answering(r#"{"cpu_pct":5}"#);
    let poll = |flags: &[&str]| {
        let out = cmd("hb-poll")
            .args(["--format", "nagios", &addr])
            .args(flags)
            .output()
            .unwrap();
        (String::from_utf8(out.stdout).unwrap(), out.status.code())
    };
    let (line, code) = poll(&["--cpu-warning", "80"]);
    assert!(line.starts_with("HB OK"), "{line}");
    assert_eq!(code, Some(0));
    let (line, code) = poll(&["--cpu-warning", "80", "--mem-warning", "80"]);
    assert!(line.starts_with("HB UNKNOWN"), "{line}");
    assert!(
        line.contains("sent no mem") && !line.contains("sent no cpu"),
        "{line}"
    );
    assert_eq!(code, Some(3));
}

/// A closed port is reported once on stderr while hb-send keeps beating,
/// and its recovery when a listener is there again.
#[test]
fn a_closed_port_is_reported_and_so_is_its_recovery() {
    let (mut listener, addr) = Running::listener(&[]);
    let to = addr.to_string();
    let sender = Running::spawn("hb-send", &["--node", "n", "--every", "100ms", "--to", &to]);
    listener.expect("up", |e| e["node"] == "n");
    drop(listener);
    // The address once, as written; worded for what it does, whether
    // beating on or sending one beat.
    let said = sender.stderr_address(&format!("warning: {to}: "));
    assert!(
        said.contains("refused") && said.contains("no other address to try"),
        "{said}"
    );
    let mut listener = Running::bound_again("hb-listen", &to, &[]);
    listener.expect("up", |e| e["node"] == "n");
    sender.stderr_address(&format!("{to}: sending again"));
}

/// Mistakes a flag's parser can see are usage errors, named: a check
/// without a name, a target on port 0.
#[test]
fn nameless_checks_and_port_zero_targets_are_usage_errors() {
    for args in [
        &["--check", "="][..],
        &["--check", "=echo x"],
        &["--to", "127.0.0.1:0"],
        &["--to", "[::1]:0"],
    ] {
        let out = cmd("hb-send")
            .args(args)
            .args(["--once", "--every", "1s"])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(args[0]), "{args:?}: {stderr}");
    }
    for args in [
        &["127.0.0.1:0"][..],
        &["tcp://127.0.0.1:0"],
        &["--via", "127.0.0.1:0", "127.0.0.1"],
    ] {
        let out = cmd("hb-poll").args(args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(3), "{args:?}: {stderr}");
        assert!(stderr.contains("port 0"), "{args:?}: {stderr}");
    }
}

/// Where a name maps to both ::1 and 127.0.0.1 (Debian's localhost),
/// hb-send reaches a listener on 0.0.0.0 and hb-poll an hb-ack on
/// 0.0.0.0, whichever address comes first.
#[test]
fn a_name_with_ipv6_and_ipv4_addresses_reaches_ipv4_listeners() {
    let Some(ns) = Netns::plain(test_name!()) else {
        return;
    };
    ns.hosts("127.0.0.1 localhost\n::1 dual\n127.0.0.1 dual\n");
    let run = |name: &str, args: &[&str]| {
        let mut c = ns.command(&bin(name));
        c.args(args);
        c
    };
    // Both tools on their default, IPv4-only, addresses.
    let mut listener = Running::start(run("hb-listen", &[]), "hb-listen in netns");
    listener.listening();
    let sender = Running::start(
        run(
            "hb-send",
            &["--node", "n", "--every", "100ms", "--to", "dual"],
        ),
        "hb-send in netns",
    );
    listener.expect("up", |e| e["node"] == "n");
    drop(sender);

    let responder = Running::start(run("hb-ack", &[]), "hb-ack in netns");
    responder.listening();
    let out = run("hb-poll", &["dual"]).output().unwrap();
    let events = parse_events(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{events:?}");
    assert_eq!(events[0]["status"], "up", "{events:?}");
    assert_eq!(events[0]["addr"], "127.0.0.1:26723", "{events:?}");
    drop(responder);
}
