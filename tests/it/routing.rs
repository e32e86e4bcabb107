//! Routing: plugin checks in heartbeats and replies, degraded nodes, and
//! the state file for load balancers.

use serde_json::{json, Value};

use crate::harness::{cmd, parse_events, wait_for_file, wall_ms, Running, TempDir, PATIENCE};

#[test]
fn checks_travel_in_beats_and_make_a_node_degraded() {
    let (mut l, addr) = Running::listener(&["--beats", "--status-every", "100ms"]);
    cmd("hb-send")
        .args([
            "--to",
            &addr.to_string(),
            "--node",
            "web",
            "--once",
            "--every",
            "1s",
        ])
        .args(["--check", "disk=echo 'DISK OK - 42% free | /=42%'"])
        .args(["--check", "http=echo 'HTTP CRITICAL - 503'; exit 2"])
        .assert()
        .success();
    // The health event comes with the beat that carried the checks.
    let health = l.expect("health", |_| true);
    assert_eq!(
        (&health["node"], &health["status"]),
        (&json!("web"), &json!("critical"))
    );
    assert!(health.get("was").is_none(), "first report: {health}");
    let beat = l.expect("beat", |_| true);
    assert_eq!(
        beat["checks"],
        json!([
            {"name": "disk", "status": "ok", "output": "DISK OK - 42% free"},
            {"name": "http", "status": "critical", "output": "HTTP CRITICAL - 503"}
        ])
    );
    let status = l.expect("status", |v| v["degraded"] == json!(["web"]));
    assert_eq!(status["up"], json!([]));
    // Its entry says what its list says: `state == "up"` selects only who
    // can take requests.
    assert_eq!(status["nodes"]["web"]["state"], "degraded");
    assert_eq!(status["nodes"]["web"]["checks"][1]["status"], "critical");
}

/// A state file that says `degraded` is read back: the node is tracked
/// again, degraded still (its checks say so).
#[test]
fn a_degraded_node_is_read_back_from_the_state_file() {
    let dir = TempDir::new();
    let entry = json!({
        "state": "degraded",
        "addr": "127.0.0.1:40000",
        "every_ms": 3_600_000,
        "seq": 1,
        "boot": "b",
        "checks": [{"name": "http", "status": "critical", "output": "HTTP CRITICAL - 503"}]
    });
    let state = dir.file(
        "state.json",
        &json!({"type": "status", "up": [], "degraded": ["web"], "nodes": {"web": entry}})
            .to_string(),
    );
    let (mut l, _) =
        Running::listener(&["--state", state.to_str().unwrap(), "--status-every", "50ms"]);
    let status = l.expect("status", |v| v["degraded"] == json!(["web"]));
    assert_eq!(status["nodes"]["web"]["state"], "degraded");
}

/// A check without a name is named after its plugin, or by its place when
/// it is shell code: never after a word like `(sleep`.
#[test]
fn unnamed_checks_are_named_by_plugin_or_place() {
    let (mut l, addr) = Running::listener(&["--beats"]);
    cmd("hb-send")
        .args([
            "--to",
            &addr.to_string(),
            "--node",
            "web",
            "--once",
            "--every",
            "1s",
        ])
        .args(["--check", "/bin/true"])
        .args(["--check", "(sleep 0; exit 2)"])
        .args(["--check", "disk=true"])
        .assert()
        .success();
    let beat = l.expect("beat", |_| true);
    let names: Vec<&str> = beat["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["true", "check2", "disk"], "{beat}");
}

#[test]
fn a_health_event_when_the_worst_check_changes() {
    let dir = TempDir::new();
    let flag = dir.path().join("maintenance");
    let check = format!("maint=test ! -e {}", flag.display());
    let (mut l, addr) = Running::listener(&[]);
    // Down after 5 intervals of 200 ms: more than a loaded machine holds
    // the sender up; each beat carries the latest check result.
    let _sender = Running::spawn(
        "hb-send",
        &[
            "--to",
            &addr.to_string(),
            "--node",
            "db",
            "--every",
            "200ms",
            "--check",
            &check,
            "--check-every",
            "50ms",
        ],
    );
    let first = l.expect("health", |_| true);
    assert_eq!(first["status"], "ok");
    std::fs::write(&flag, "").unwrap();
    let bad = l.expect("health", |v| v["status"] == "warning");
    assert_eq!(bad["was"], "ok");
    std::fs::remove_file(&flag).unwrap();
    let back = l.expect("health", |v| v["status"] == "ok");
    assert_eq!(back["was"], "warning");
    assert!(
        l.seen.iter().all(|v| v["type"] != "down"),
        "alive all along"
    );
}

#[test]
fn hb_poll_counts_a_failing_check() {
    let (_ack, addr) = Running::responder(&[
        "--no-health",
        "--check",
        "queue=echo 'QUEUE WARNING - 900 jobs'; exit 1",
    ]);
    let out = cmd("hb-poll")
        .args([&addr.to_string(), "--format", "nagios"])
        .output()
        .unwrap();
    let line = String::from_utf8(out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(1), "{line}");
    assert!(
        line.contains("check queue: QUEUE WARNING - 900 jobs"),
        "{line}"
    );
    let out = cmd("hb-poll").arg(addr.to_string()).output().unwrap();
    let poll = &parse_events(&out.stdout)[0];
    assert_eq!(poll["checks"][0]["status"], "warning");
    assert_eq!(poll["state"], "WARNING");
}

#[test]
fn the_state_file_follows_membership_atomically() {
    let dir = TempDir::new();
    let state = dir.path().join("state.json");
    // 10 intervals, 1 s: more than a loaded machine holds a beat up.
    let (mut l, addr) = Running::listener(&[
        "--state",
        state.to_str().unwrap(),
        "--state-every",
        "20ms",
        "--misses",
        "10",
    ]);
    let state_shows = |what: &str, pred: &dyn Fn(&Value) -> bool| -> Value {
        let text = wait_for_file(&state, what, PATIENCE, |text| {
            pred(&serde_json::from_str(text).unwrap_or(Value::Null))
        });
        serde_json::from_str(&text).unwrap()
    };
    state_shows("an empty membership", &|v| {
        v["type"] == "status" && v["up"] == json!([])
    });
    // The 2nd and last beat leaves an interval after the start at the
    // earliest: a down stamped earlier came while the node was beating.
    let silent_from = wall_ms() + 100;
    cmd("hb-send")
        .args([
            "--to",
            &addr.to_string(),
            "--node",
            "lb-1",
            "--count",
            "2",
            "--every",
            "100ms",
        ])
        .assert()
        .success();
    l.expect("up", |_| true);
    state_shows("lb-1 up", &|v| v["up"] == json!(["lb-1"]));
    l.expect_after("down", silent_from, |_| true);
    let v = state_shows("lb-1 down", &|v| v["down"] == json!(["lb-1"]));
    assert!(v["ts_ms"].is_u64());
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains("tmp"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
}
