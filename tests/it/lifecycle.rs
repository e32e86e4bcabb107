//! A node's planned absences, end to end: `hb-send` stopped by a signal
//! leaves (`left` at once, never `down`), `hb-send --away` mutes the node
//! until a deadline (`down` with `"cause":"away-expired"` after it), a beat
//! ends either; with a key, only signed and fresh notices count.

use std::net::{SocketAddr, UdpSocket};

use serde_json::Value;

use crate::harness::{beat, cmd, send_raw, test_name, wall_ms, Running, TempDir, PATIENCE};
use crate::metrics::{metrics_address, promtool_check, scrape_until};

const KEY: &str = "0123456789abcdef0123456789abcdef";

/// `hb-send --node NODE --every 100ms` to `addr`, with `args`.
fn sender(node: &str, addr: SocketAddr, args: &[&str]) -> Running {
    let to = addr.to_string();
    let mut all = vec!["--node", node, "--every", "100ms", "--to", &to];
    all.extend_from_slice(args);
    Running::spawn("hb-send", &all)
}

/// Waits until a node beating every 100 ms, silent from now on, is
/// declared down: by then any node that went silent earlier at the same
/// interval would have been too. A wait on an event, not on a clock.
fn outlast(l: &mut Running, addr: SocketAddr, canary: &str) {
    send_raw(addr, &beat(canary, "c", 1, 100));
    l.expect("down", |v| v["node"] == canary);
}

fn of<'a>(l: &'a Running, kind: &str, node: &str) -> Vec<&'a Value> {
    l.seen_of(kind, node)
}

#[test]
fn a_sender_stopped_by_a_signal_leaves() {
    let (mut l, addr) = Running::listener(&[]);
    let mut term = sender("web-1", addr, &[]);
    l.expect("up", |v| v["node"] == "web-1");
    let mut int = sender("web-2", addr, &[]);
    l.expect("up", |v| v["node"] == "web-2");
    let cause = wall_ms();
    assert!(term.signal_and_wait("TERM").success());
    assert!(int.signal_and_wait("INT").success());
    l.expect_after("left", cause, |v| v["node"] == "web-1");
    l.expect_after("left", cause, |v| v["node"] == "web-2");
    outlast(&mut l, addr, "canary");
    for node in ["web-1", "web-2"] {
        assert!(of(&l, "suspect", node).is_empty(), "{}", l.history());
        assert!(of(&l, "down", node).is_empty(), "{}", l.history());
        // Each copy of the leave after the first changed nothing.
        assert_eq!(of(&l, "left", node).len(), 1, "{}", l.history());
    }
    // Started again: a restart, and up from left.
    cmd("hb-send")
        .args([
            "--node",
            "web-1",
            "--once",
            "--every",
            "1s",
            "--to",
            &addr.to_string(),
        ])
        .assert()
        .success();
    l.expect("restart", |v| v["node"] == "web-1");
    let up = l.expect("up", |v| v["node"] == "web-1");
    assert_eq!(up["was"], "left");
    assert!(up["silent_ms"].is_u64());
}

#[test]
fn without_leave_a_stop_is_a_failure() {
    let (mut l, addr) = Running::listener(&[]);
    let mut s = sender("web-1", addr, &["--no-leave"]);
    l.expect("up", |v| v["node"] == "web-1");
    let cause = wall_ms();
    assert!(s.signal_and_wait("TERM").success());
    let down = l.expect_after("down", cause, |v| v["node"] == "web-1");
    // A failure like a crash: its closed port answers the probe.
    assert_eq!(down["cause"], "unreachable", "{down}");
    assert!(of(&l, "left", "web-1").is_empty(), "{}", l.history());
}

#[test]
fn away_mutes_the_node_until_its_deadline() {
    let (mut l, addr) = Running::listener(&["--status-every", "100ms"]);
    let mut s = sender("web-1", addr, &[]);
    l.expect("up", |v| v["node"] == "web-1");
    let to = addr.to_string();
    cmd("hb-send")
        .args(["--node", "web-1", "--to", &to])
        .args(["--away", "2s", "--reason", "upgrade"])
        .assert()
        .success();
    let away = l.expect("away", |v| v["node"] == "web-1");
    assert_eq!(away["reason"], "upgrade");
    assert_eq!(away["for_ms"], 2000);
    let until_ms = away["until_ms"].as_u64().unwrap();
    assert_eq!(until_ms, away["ts_ms"].as_u64().unwrap() + 2000);
    assert!(away["until"].as_str().unwrap().ends_with('Z'));
    // The service is stopped for the upgrade: it leaves, still away.
    assert!(s.signal_and_wait("TERM").success());
    let status = l.expect("status", |v| v["away"] == serde_json::json!(["web-1"]));
    assert_eq!(status["nodes"]["web-1"]["state"], "away");
    assert_eq!(status["nodes"]["web-1"]["reason"], "upgrade");
    assert_eq!(status["nodes"]["web-1"]["until_ms"], until_ms);
    // It never came back: down at the deadline, not before.
    let down = l.expect("down", |v| v["node"] == "web-1");
    assert_eq!(down["cause"], "away-expired");
    // Not before the deadline: the loop reads its monotonic and wall
    // clocks a moment apart, so the stamp may be a few ms short of it.
    assert!(down["ts_ms"].as_u64().unwrap() + 100 >= until_ms, "{down}");
    for kind in ["suspect", "left"] {
        assert!(of(&l, kind, "web-1").is_empty(), "{}", l.history());
    }
    assert_eq!(of(&l, "away", "web-1").len(), 1, "one line for both copies");
    assert_eq!(of(&l, "down", "web-1").len(), 1);
}

#[test]
fn a_beat_before_the_deadline_ends_the_absence() {
    let (mut l, addr) = Running::listener(&[]);
    let to = addr.to_string();
    let once = ["--node", "db-1", "--once", "--every", "1s", "--to", &to];
    cmd("hb-send").args(once).assert().success();
    l.expect("up", |v| v["node"] == "db-1");
    cmd("hb-send")
        .args(["--node", "db-1", "--to", &to, "--away", "1h"])
        .assert()
        .success();
    let away = l.expect("away", |v| v["node"] == "db-1");
    assert_eq!(away["reason"], Value::Null);
    cmd("hb-send").args(once).assert().success();
    let up = l.expect("up", |v| v["node"] == "db-1");
    assert_eq!(up["was"], "away");
    // Judged by its silence again: the one beat is followed by a down.
    let down = l.expect("down", |v| v["node"] == "db-1");
    assert_eq!(down["cause"], "silence");
}

#[test]
fn away_and_its_reason_are_checked_at_the_flags() {
    for (args, says) in [
        (vec!["--away", "500ms"], "at least 1s"),
        (vec!["--away", "8d"], "--away"),
        (vec!["--reason", "x"], "--away"),
        (vec!["--away", "1m", "--reason", " x"], "--reason"),
        (vec!["--away", "1m", "--once"], "--once"),
    ] {
        let out = cmd("hb-send").args(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }
}

/// The datagrams a keyed `hb-send --node victim` sends: `beats` beats,
/// then, stopped by SIGTERM, its leave copies.
fn captured_life(key: &str, beats: usize) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
    let sink = UdpSocket::bind("127.0.0.1:0").unwrap();
    sink.set_read_timeout(Some(PATIENCE)).unwrap();
    let mut s = sender("victim", sink.local_addr().unwrap(), &["--key-file", key]);
    let mut buf = [0u8; 2048];
    let mut next = || {
        let (len, _) = sink.recv_from(&mut buf).unwrap();
        buf[..len].to_vec()
    };
    let sent: Vec<Vec<u8>> = (0..beats).map(|_| next()).collect();
    assert!(s.signal_and_wait("TERM").success());
    let mut leaves = Vec::new();
    while leaves.len() < 2 {
        let d = next();
        if String::from_utf8_lossy(&d).contains(r#""type":"leave""#) {
            leaves.push(d);
        }
    }
    (sent, leaves)
}

#[test]
fn with_a_key_only_signed_fresh_notices_count() {
    let dir = TempDir::new();
    let key = dir.key_file("k-life", &format!("{KEY}\n"), 0o600);
    let key = key.to_str().unwrap();
    let (beats, leaves) = captured_life(key, 2);
    let (mut l, addr) =
        Running::listener(&["--key-file", key, "--log-rejects", "--status-every", "50ms"]);
    send_raw(addr, &beats[0]);
    l.expect("up", |v| v["node"] == "victim");

    // Unsigned, and signed with another key: refused.
    let unsigned = r#"{"type":"leave","node":"victim","boot":"b","seq":99}"#;
    send_raw(addr, unsigned.as_bytes());
    l.expect("rejected", |v| v["reason"] == "bad-mac");
    let forged = dir.key_file("k-forged", "some-other-key-0123456789\n", 0o600);
    let (_, forged_leaves) = captured_life(forged.to_str().unwrap(), 1);
    send_raw(addr, &forged_leaves[0]);
    l.expect("status", |v| v["rejected"]["bad-mac"] == 2);
    assert!(of(&l, "left", "victim").is_empty(), "{}", l.history());

    // The real leave counts; replayed, it is refused like a beat.
    send_raw(addr, &leaves[0]);
    l.expect("left", |v| v["node"] == "victim");
    send_raw(addr, &leaves[0]);
    l.expect("rejected", |v| v["reason"] == "replay");
    // An old beat cannot bring it back either.
    send_raw(addr, &beats[0]);
    l.expect("status", |v| v["rejected"]["replay"] == 2);
    assert!(of(&l, "up", "victim").len() == 1, "{}", l.history());

    // An away from a one-shot process: replayed, refused.
    let sink = UdpSocket::bind("127.0.0.1:0").unwrap();
    sink.set_read_timeout(Some(PATIENCE)).unwrap();
    let to = sink.local_addr().unwrap().to_string();
    cmd("hb-send")
        .args(["--node", "victim", "--to", &to, "--key-file", key])
        .args(["--away", "10m", "--reason", "kernel"])
        .assert()
        .success();
    let mut buf = [0u8; 2048];
    let (len, _) = sink.recv_from(&mut buf).unwrap();
    let away = buf[..len].to_vec();
    send_raw(addr, &away);
    l.expect("away", |v| v["node"] == "victim" && v["reason"] == "kernel");
    send_raw(addr, &away);
    l.expect("status", |v| v["rejected"]["replay"] == 3);
}

#[test]
fn metrics_tell_left_and_away_from_down() {
    let args = ["--listen", "127.0.0.1:0", "--metrics", "127.0.0.1:0"];
    let mut l = Running::spawn("hb-listen", &args);
    let metrics = metrics_address(&l);
    let addr = l.listening();
    let to = addr.to_string();
    let mut s = sender("gone-1", addr, &[]);
    l.expect("up", |v| v["node"] == "gone-1");
    assert!(s.signal_and_wait("TERM").success());
    l.expect("left", |v| v["node"] == "gone-1");
    cmd("hb-send")
        .args(["--node", "maint-1", "--to", &to, "--away", "1h"])
        .assert()
        .success();
    l.expect("away", |v| v["node"] == "maint-1");
    let away = r#"hb_node_state{node="maint-1",state="away"} 1"#;
    let body = scrape_until(&metrics, |line| line == away);
    for line in [
        r#"hb_node_state{node="gone-1",state="left"} 1"#,
        r#"hb_node_state{node="gone-1",state="down"} 0"#,
        r#"hb_node_up{node="gone-1"} 0"#,
        r#"hb_node_up{node="maint-1"} 0"#,
        r#"hb_events_total{type="left"} 1"#,
        r#"hb_events_total{type="away"} 1"#,
    ] {
        assert!(body.lines().any(|l| l == line), "no {line} in:\n{body}");
    }
    promtool_check(test_name!(), &body);
}
