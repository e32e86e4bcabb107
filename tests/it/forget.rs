//! `--forget-after`: a node down that long is removed, from the status
//! lines, the state file and the metrics; an expected node never is.

use serde_json::Value;

use crate::harness::{beat, send_raw, wait_for_file, Running, TempDir, PATIENCE};
use crate::metrics::{metrics_address, scrape_until};

#[test]
fn a_node_down_for_forget_after_is_forgotten_everywhere() {
    let dir = TempDir::new();
    let state = dir.path().join("state.json");
    let mut l = Running::spawn(
        "hb-listen",
        &[
            "--listen",
            "127.0.0.1:0",
            "--metrics",
            "127.0.0.1:0",
            "--state",
            state.to_str().unwrap(),
            "--state-every",
            "50ms",
            "--status-every",
            "100ms",
            "--forget-after",
            "300ms",
            "--expect",
            "kept-1",
            "--misses",
            "2",
        ],
    );
    let metrics = metrics_address(&l);
    let addr = l.listening();
    send_raw(addr, &beat("gone-1", "b", 1, 100));
    l.expect("up", |v| v["node"] == "gone-1");
    scrape_until(&metrics, |line| line == r#"hb_node_up{node="gone-1"} 1"#);
    let down = l.expect("down", |v| v["node"] == "gone-1");
    let forgotten = l.expect("forgotten", |v| v["node"] == "gone-1");
    let after = forgotten["ts_ms"].as_u64().unwrap() - down["ts_ms"].as_u64().unwrap();
    // The detector counts whole milliseconds of the monotonic clock and
    // the stamps read the wall clock, each cut to the millisecond: the
    // stamps may show one less than the 300 counted.
    assert!(after >= 299, "forgotten {after} ms after down");
    assert!(
        forgotten["silent_ms"].as_u64().unwrap() >= 500,
        "{forgotten}"
    );
    assert!(forgotten["last_seen"].is_string(), "{forgotten}");
    assert_eq!(forgotten["addr"], down["addr"], "{forgotten}");
    // Gone from the next status line and the state file; the expected
    // node, down all along, stays.
    let status = l.expect("status", |_| true);
    let has = |v: &Value, node: &str| v["nodes"].get(node).is_some();
    assert!(
        !has(&status, "gone-1") && has(&status, "kept-1"),
        "{status}"
    );
    let file = wait_for_file(&state, "gone-1 gone", PATIENCE, |text| {
        !has(&serde_json::from_str(text).unwrap(), "gone-1")
    });
    let file: Value = serde_json::from_str(&file).unwrap();
    assert!(has(&file, "kept-1"), "{file}");
    let body = scrape_until(&metrics, |line| {
        line.starts_with(r#"hb_node_up{node="kept-1"}"#)
    });
    assert!(!body.contains("gone-1"), "{body}");
    assert!(
        body.lines()
            .any(|l| l == r#"hb_events_total{type="forgotten"} 1"#),
        "{body}"
    );
    // It comes back as a new node.
    send_raw(addr, &beat("gone-1", "b", 2, 100));
    let up = l.expect("up", |v| v["node"] == "gone-1");
    assert!(up.get("was").is_none_or(Value::is_null), "{up}");
}
