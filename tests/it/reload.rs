//! SIGHUP reloads: hb-listen reads its expected nodes and key file again,
//! hb-ack, hb-send and hb-poll --every their key file; each says so with
//! one `reloaded` event and runs on. A file that cannot be used keeps the
//! old configuration, and stderr says why.

use std::path::Path;
use std::process::Command;

use serde_json::{json, Value};

use crate::harness::{cmd, Running, TempDir};

const KEY_A: &str = "key-a-0123456789abcdef0123456789";
const KEY_B: &str = "key-b-0123456789abcdef0123456789";

/// Sends one beat of `node` to `to`, signed with the key file `key`.
fn beat_signed(to: &str, node: &str, key: &Path) {
    cmd("hb-send")
        .args(["--to", to, "--node", node, "--once", "--key-file"])
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
        .args(["--to", &addr.to_string(), "--node", "after-hup", "--once"])
        .assert()
        .success();
    l.expect("up", |v| v["node"] == "after-hup");
    let status = l.signal_and_wait("TERM");
    assert_eq!(status.code(), Some(0), "{status:?}");
}
