//! SIGHUP reloads: hb-listen reads its expected nodes and key file again,
//! hb-poll --every its target file and key file, hb-ack and hb-send their
//! key file; each says so with one `reloaded` event and runs on. A file
//! that cannot be used keeps the old configuration, and stderr says why.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use serde_json::{json, Value};

use crate::harness::{cmd, skip, Running, TempDir, PATIENCE};
use crate::metrics::{metrics_address, scrape_until};

const KEY_A: &str = "key-a-0123456789abcdef0123456789";
const KEY_B: &str = "key-b-0123456789abcdef0123456789";

/// Sends one beat of `node` to `to`, signed with the key file `key`.
fn beat_signed(to: &str, node: &str, key: &Path) {
    cmd("hb-send")
        .args([
            "--to",
            to,
            "--node",
            node,
            "--once",
            "--every",
            "1s",
            "--key-file",
        ])
        .arg(key)
        .assert()
        .success();
}

/// `hb-poll` of `target` once, with the key file `key`: its exit code.
fn poll_signed(target: &str, key: &Path) -> Option<i32> {
    let out = Command::new(crate::harness::bin("hb-poll"))
        .args([target, "-t", "300ms", "--retries", "1", "--key-file"])
        .arg(key)
        .output()
        .unwrap();
    out.status.code()
}

fn names(v: &Value) -> Vec<&str> {
    v.as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

#[test]
fn expected_nodes_follow_the_expect_file() {
    let dir = TempDir::new();
    let file = dir.file("expected", "stays\ngone\n");
    // Expected nodes are down after 3 s of silence: long enough for the
    // reload to come first on a loaded machine.
    let (mut l, _) = Running::listener(&[
        "--expect-file",
        file.to_str().unwrap(),
        "--every",
        "1s",
        "--misses",
        "3",
    ]);
    dir.file("expected", "stays\nnew\n");
    l.signal("HUP");
    let reloaded = l.expect("reloaded", |_| true);
    assert_eq!(reloaded["expected"], "reloaded", "{reloaded}");
    assert_eq!(names(&reloaded["expected_added"]), ["new"]);
    assert_eq!(names(&reloaded["expected_removed"]), ["gone"]);
    assert!(reloaded.get("keys").is_none(), "no key file: {reloaded}");
    // The added node's silence counts from the reload, not the start.
    let down = l.expect("down", |v| v["node"] == "new");
    let after = down["ts_ms"].as_u64().unwrap() + 50 - reloaded["ts_ms"].as_u64().unwrap();
    assert!(after >= 3000, "down {after} ms after the reload: {down}");
    if l.seen_of("down", "stays").is_empty() {
        l.expect("down", |v| v["node"] == "stays");
    }
    assert!(
        l.seen_of("down", "gone").is_empty(),
        "a node no longer expected is not reported down:\n{}",
        l.history()
    );
    // The same file again: nothing changed, and it is said.
    l.signal("HUP");
    let again = l.expect("reloaded", |_| true);
    assert_eq!(again["expected"], "unchanged", "{again}");
    assert_eq!(again["expected_added"], json!([]));
}

#[test]
fn a_broken_expect_file_keeps_the_old_expected_nodes() {
    let dir = TempDir::new();
    let file = dir.file("expected", "web-1\n");
    let (mut l, _) = Running::listener(&[
        "--expect-file",
        file.to_str().unwrap(),
        "--status-every",
        "100ms",
    ]);
    // A soft hyphen: a name that would print like another.
    dir.file("expected", "web-1\nweb-2\nweb\u{ad}3\n");
    l.signal("HUP");
    let why = l.stderr_address("reload: ");
    assert!(why.contains("not a valid node name"), "{why}");
    assert!(why.contains("keeping the expected nodes"), "{why}");
    let reloaded = l.expect("reloaded", |_| true);
    assert_eq!(reloaded["expected"], "failed", "{reloaded}");
    assert_eq!(reloaded["expected_added"], json!([]));
    // Nothing was added: web-2 is not pending.
    let status = l.expect("status", |v| {
        v["ts_ms"].as_u64() > reloaded["ts_ms"].as_u64()
    });
    assert_eq!(status["pending"], json!(["web-1"]), "{status}");
    // A file that is a directory now: refused as well.
    std::fs::remove_file(&file).unwrap();
    std::fs::create_dir(&file).unwrap();
    l.signal("HUP");
    let why = l.stderr_address("reload: ");
    assert!(why.contains("keeping the expected nodes"), "{why}");
    let reloaded = l.expect("reloaded", |v| v["ts_ms"] != reloaded["ts_ms"]);
    assert_eq!(reloaded["expected"], "failed", "{reloaded}");
}

#[test]
fn a_listener_rotates_its_key_without_a_restart() {
    let dir = TempDir::new();
    let key = dir.key_file("key", &format!("{KEY_A}\n"), 0o600);
    let a = dir.key_file("a", &format!("{KEY_A}\n"), 0o600);
    let b = dir.key_file("b", &format!("{KEY_B}\n"), 0o600);
    let (mut l, addr) = Running::listener(&[
        "--key-file",
        key.to_str().unwrap(),
        "--status-every",
        "100ms",
    ]);
    let to = addr.to_string();
    beat_signed(&to, "signed-a", &a);
    l.expect("up", |v| v["node"] == "signed-a");
    dir.key_file("key", &format!("{KEY_B}\n"), 0o600);
    l.signal("HUP");
    let reloaded = l.expect("reloaded", |_| true);
    assert_eq!(reloaded["keys"], "reloaded", "{reloaded}");
    beat_signed(&to, "signed-b", &b);
    l.expect("up", |v| v["node"] == "signed-b");
    beat_signed(&to, "late-a", &a);
    let status = l.expect("status", |v| v["rejected"]["bad-mac"] == 1);
    assert!(!names(&status["up"]).contains(&"late-a"), "{status}");
    // A key file that became unusable (readable by others) keeps key B.
    dir.key_file("key", &format!("{KEY_A}\n"), 0o644);
    l.signal("HUP");
    let why = l.stderr_address("reload: ");
    assert!(why.contains("keeping the old keys"), "{why}");
    let failed = l.expect("reloaded", |v| v["keys"] == "failed");
    assert!(failed.get("expected").is_none(), "{failed}");
    beat_signed(&to, "again-b", &b);
    l.expect("up", |v| v["node"] == "again-b");
}

#[test]
fn a_responder_rotates_its_key_without_a_restart() {
    let dir = TempDir::new();
    let key = dir.key_file("key", &format!("{KEY_A}\n"), 0o600);
    let a = dir.key_file("a", &format!("{KEY_A}\n"), 0o600);
    let b = dir.key_file("b", &format!("{KEY_B}\n"), 0o600);
    let (mut r, addr) = Running::responder(&["--key-file", key.to_str().unwrap()]);
    let target = addr.to_string();
    assert_eq!(poll_signed(&target, &a), Some(0));
    dir.key_file("key", &format!("{KEY_B}\n"), 0o600);
    r.signal("HUP");
    let reloaded = r.expect("reloaded", |_| true);
    assert_eq!(reloaded["keys"], "reloaded", "{reloaded}");
    assert_eq!(poll_signed(&target, &b), Some(0));
    assert_eq!(poll_signed(&target, &a), Some(2), "the old key is refused");
}

#[test]
fn a_sender_signs_with_its_new_key_after_a_reload() {
    let dir = TempDir::new();
    let listener_key = dir.key_file("listener", &format!("{KEY_B}\n"), 0o600);
    let key = dir.key_file("sender", &format!("{KEY_A}\n"), 0o600);
    let (mut l, addr) = Running::listener(&[
        "--key-file",
        listener_key.to_str().unwrap(),
        "--status-every",
        "100ms",
    ]);
    let mut send = Running::spawn(
        "hb-send",
        &[
            "--to",
            &addr.to_string(),
            "--node",
            "rotating",
            "--every",
            "100ms",
            "--verbose",
            "--key-file",
            key.to_str().unwrap(),
        ],
    );
    send.expect("sent", |_| true);
    // Signed with key A: refused by the listener.
    l.expect("status", |v| v["rejected"]["bad-mac"].as_u64() >= Some(1));
    dir.key_file("sender", &format!("{KEY_B}\n"), 0o600);
    send.signal("HUP");
    let reloaded = send.expect("reloaded", |_| true);
    assert_eq!(reloaded["keys"], "reloaded", "{reloaded}");
    l.expect("up", |v| v["node"] == "rotating");
    // It beats on, and stops cleanly.
    send.expect("sent", |_| true);
    assert!(send.signal_and_wait("TERM").success());
}

#[test]
fn a_poller_reloads_on_sighup_and_polls_on() {
    let (_r, addr) = Running::responder(&["--quiet"]);
    let mut poll = Running::spawn(
        "hb-poll",
        &[&addr.to_string(), "--every", "100ms", "--verbose"],
    );
    poll.expect("poll", |_| true);
    poll.signal("HUP");
    let reloaded = poll.expect("reloaded", |_| true);
    assert_eq!(
        reloaded,
        json!({"type": "reloaded", "ts": reloaded["ts"], "ts_ms": reloaded["ts_ms"]})
    );
    poll.expect("poll", |v| v["ts_ms"].as_u64() > reloaded["ts_ms"].as_u64());
    assert!(poll.signal_and_wait("TERM").success());
}

#[test]
fn sighup_ends_no_tool() {
    let (mut l, addr) = Running::listener(&[]);
    l.signal("HUP");
    let reloaded = l.expect("reloaded", |_| true);
    assert!(reloaded.get("keys").is_none(), "{reloaded}");
    cmd("hb-send")
        .args([
            "--to",
            &addr.to_string(),
            "--node",
            "after-hup",
            "--once",
            "--every",
            "1s",
        ])
        .assert()
        .success();
    l.expect("up", |v| v["node"] == "after-hup");
    let status = l.signal_and_wait("TERM");
    assert_eq!(status.code(), Some(0), "{status:?}");
}

/// The `poll` lines of the next `rounds` whole rounds of a verbose poller
/// (one `summary` closes each), from where its output was read to.
fn next_rounds(poll: &mut Running, rounds: usize) -> Vec<Vec<Value>> {
    let deadline = Instant::now() + PATIENCE;
    let mut done = Vec::new();
    let mut round = Vec::new();
    while done.len() < rounds {
        let left = deadline.saturating_duration_since(Instant::now());
        let Some(v) = poll.next(left) else {
            panic!("{rounds} rounds did not come; seen:\n{}", poll.history());
        };
        match v["type"].as_str() {
            Some("poll") => round.push(v),
            Some("summary") => done.push(std::mem::take(&mut round)),
            _ => {}
        }
    }
    done
}

fn targets_of(round: &[Value]) -> Vec<&str> {
    let mut targets: Vec<&str> = round.iter().filter_map(|v| v["target"].as_str()).collect();
    targets.sort_unstable();
    targets
}

#[test]
fn a_poller_follows_its_target_file() {
    let (_r1, a1) = Running::responder(&["--quiet", "--node", "r-1"]);
    let (_r2, a2) = Running::responder(&["--quiet", "--node", "r-2"]);
    let (_r3, a3) = Running::responder(&["--quiet", "--node", "r-3"]);
    let (a1, a2, a3) = (a1.to_string(), a2.to_string(), a3.to_string());
    let dir = TempDir::new();
    let file = dir.file("targets", &format!("{a1}\n{a2} # leaves\n"));
    let mut poll = poller(&file, &["--metrics", "127.0.0.1:0"]);
    let metrics = metrics_address(&poll);
    poll.expect("up", |v| v["node"] == a1);
    poll.expect("up", |v| v["node"] == a2);
    dir.file("targets", &format!("# a2 left, a3 came\n{a1}\n{a3}\n"));
    poll.signal("HUP");
    let reloaded = poll.expect("reloaded", |_| true);
    assert_eq!(reloaded["targets"], "reloaded", "{reloaded}");
    assert_eq!(names(&reloaded["targets_added"]), [a3.as_str()]);
    assert_eq!(names(&reloaded["targets_removed"]), [a2.as_str()]);
    assert!(reloaded.get("keys").is_none(), "no key file: {reloaded}");
    // Up when it was removed, and gone at once: no `down`, one `forgotten`.
    let forgotten = poll.next(PATIENCE).unwrap();
    assert_eq!(forgotten["type"], "forgotten", "{forgotten}");
    assert_eq!(forgotten["node"], a2.as_str(), "{forgotten}");
    // Every round from the reload on polls the new list.
    let mut expected = vec![a1.as_str(), a3.as_str()];
    expected.sort_unstable();
    for round in next_rounds(&mut poll, 3) {
        assert_eq!(targets_of(&round), expected, "{round:?}");
    }
    if poll.seen_of("up", &a3).is_empty() {
        poll.expect("up", |v| v["node"] == a3);
    }
    assert!(
        poll.seen_of("down", &a2).is_empty() && poll.seen_of("suspect", &a2).is_empty(),
        "a removed target is not judged:\n{}",
        poll.history()
    );
    // The metrics follow: the added target is there, the removed one gone.
    let body = scrape_until(&metrics, |l| {
        l == format!(r#"hb_node_up{{node="r-3",target="{a3}"}} 1"#)
    });
    assert!(!body.contains(&format!(r#"target="{a2}""#)), "{body}");
    assert!(!body.contains(r#"node="r-2""#), "{body}");
    // The same file again: nothing changed, and it is said.
    poll.signal("HUP");
    let again = poll.expect("reloaded", |_| true);
    assert_eq!(again["targets"], "unchanged", "{again}");
    assert_eq!(again["targets_added"], json!([]));
    assert_eq!(again["targets_removed"], json!([]));
    assert!(poll.signal_and_wait("TERM").success());
}

#[test]
fn a_broken_target_file_keeps_the_old_targets() {
    let (_r, addr) = Running::responder(&["--quiet"]);
    let target = addr.to_string();
    let dir = TempDir::new();
    let file = dir.file("targets", &format!("{target}\n"));
    let mut poll = poller(&file, &[]);
    poll.expect("up", |v| v["node"] == target.as_str());
    // A TCP check needs a port: line 2 is refused, and with it the file.
    dir.file("targets", &format!("{target}\ntcp://db-1\n127.0.0.1:9\n"));
    poll.signal("HUP");
    let why = poll.stderr_address("reload: ");
    assert!(why.contains("targets:2: bad target"), "{why}");
    assert!(why.contains("keeping the targets as they were"), "{why}");
    let reloaded = poll.expect("reloaded", |_| true);
    assert_eq!(reloaded["targets"], "failed", "{reloaded}");
    assert_eq!(reloaded["targets_added"], json!([]));
    assert_eq!(reloaded["targets_removed"], json!([]));
    for round in next_rounds(&mut poll, 2) {
        assert_eq!(targets_of(&round), [target.as_str()], "{round:?}");
    }
    // A file with no target left: refused as well.
    dir.file("targets", "# all gone\n");
    poll.signal("HUP");
    let failed = poll.expect("reloaded", |v| v["ts_ms"] != reloaded["ts_ms"]);
    assert_eq!(failed["targets"], "failed", "{failed}");
    for round in next_rounds(&mut poll, 2) {
        assert_eq!(targets_of(&round), [target.as_str()], "{round:?}");
    }
    assert!(
        poll.seen_of("down", &target).is_empty(),
        "the old target is polled on:\n{}",
        poll.history()
    );
    assert!(poll.signal_and_wait("TERM").success());
}

/// A poller started with IPv4 targets only has an IPv4 socket: a reload
/// that adds an IPv6 target gives it a dual-stack one, and polls on.
#[test]
fn a_poller_reaches_an_ipv6_target_a_reload_added() {
    if let Err(e) = std::net::UdpSocket::bind("[::1]:0") {
        skip!("this machine has no IPv6 loopback: {e}");
        return;
    }
    let (_r4, a4) = Running::responder(&["--quiet"]);
    let (_r6, a6) = Running::bound("hb-ack", "[::1]:0", &["--quiet"]);
    let (a4, a6) = (a4.to_string(), a6.to_string());
    let dir = TempDir::new();
    let file = dir.file("targets", &format!("{a4}\n"));
    let mut poll = poller(&file, &[]);
    poll.expect("up", |v| v["node"] == a4.as_str());
    dir.file("targets", &format!("{a4}\n{a6}\n"));
    poll.signal("HUP");
    let reloaded = poll.expect("reloaded", |_| true);
    assert_eq!(names(&reloaded["targets_added"]), [a6.as_str()]);
    let up = poll.expect("up", |v| v["node"] == a6.as_str());
    assert_eq!(up["addr"], a6.as_str(), "{up}");
    // Both are reached, through the new socket.
    for round in next_rounds(&mut poll, 2) {
        assert!(round.iter().all(|v| v["status"] == "up"), "{round:?}");
        assert_eq!(round.len(), 2, "{round:?}");
    }
    assert!(
        poll.seen_of("suspect", &a4).is_empty(),
        "{}",
        poll.history()
    );
    assert!(poll.signal_and_wait("TERM").success());
}

/// hb-poll every 100 ms over the targets of `file`, each poll printed,
/// with `more` flags.
fn poller(file: &std::path::Path, more: &[&str]) -> Running {
    let mut args = vec![
        "-f",
        file.to_str().unwrap(),
        "--every",
        "100ms",
        "--verbose",
    ];
    args.extend_from_slice(more);
    Running::spawn("hb-poll", &args)
}
