//! The failure detectors through the real binary, made deterministic by
//! replaying traces on their own clock (hb-listen --from - --replay).

use serde_json::Value;

use crate::harness::{beat_with, cmd, parse_events};

/// A trace of node `a` beating at each of `beats` (ms from t = 0, every
/// beat declaring a 1 s interval), plus an end marker `tail` ms after the
/// last beat (it only moves time on).
fn trace(beats: &[u64], tail: u64) -> String {
    let mut lines: Vec<String> = beats
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let ts_ms = format!(r#""ts_ms":{}"#, 1_000_000 + t);
            String::from_utf8(beat_with("a", "b", i as u64 + 1, 1000, &ts_ms)).unwrap()
        })
        .collect();
    let end = 1_000_000 + beats.last().unwrap() + tail;
    lines.push(format!(r#"{{"type":"end","ts_ms":{end}}}"#));
    lines.join("\n") + "\n"
}

fn replay(trace: &str, args: &[&str]) -> Vec<Value> {
    let out = cmd("hb-listen")
        .args(["--from", "-", "--replay"])
        .args(args)
        .write_stdin(trace.to_owned())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    parse_events(&out.stdout)
}

fn kinds(events: &[Value]) -> Vec<(String, u64)> {
    events
        .iter()
        .map(|v| {
            (
                v["type"].as_str().unwrap().to_owned(),
                v["ts_ms"].as_u64().unwrap() - 1_000_000,
            )
        })
        .collect()
}

#[test]
fn fixed_detector_is_down_exactly_n_intervals_after_the_last_beat() {
    let beats: Vec<u64> = (0..10).map(|i| i * 1000).collect();
    let events = replay(&trace(&beats, 30_000), &[]);
    assert_eq!(
        kinds(&events),
        [
            ("up".into(), 0),
            ("suspect".into(), 10_500),
            ("down".into(), 14_000)
        ]
    );
}

#[test]
fn phi_detector_reports_phi_and_adapts_to_the_trace() {
    let regular: Vec<u64> = (0..30).map(|i| i * 1000).collect();
    let events = replay(&trace(&regular, 30_000), &["--detector", "phi"]);
    let down = events.iter().find(|v| v["type"] == "down").unwrap();
    assert!(down["phi"].as_f64().unwrap() >= 8.0, "{down}");
    let regular_down = down["silent_ms"].as_u64().unwrap();
    assert!(
        regular_down < 2000,
        "phi 8 comes soon after a regular cadence: {down}"
    );

    // The same mean interval with heavy jitter: the same silence is normal.
    let mut t = 0;
    let jittery: Vec<u64> = (0..30)
        .map(|i| {
            let now = t;
            t += if i % 2 == 0 { 400 } else { 1600 };
            now
        })
        .collect();
    let events = replay(&trace(&jittery, 30_000), &["--detector", "phi"]);
    let down = events.iter().find(|v| v["type"] == "down").unwrap();
    assert!(
        down["silent_ms"].as_u64().unwrap() > 2 * regular_down,
        "{down}"
    );
    assert_eq!(events.iter().filter(|v| v["type"] == "down").count(), 1);
}

/// Phi judges a node by its own declared interval: a node beating every
/// 4 s is not down between its beats (it was, when phi's prior was the
/// listener's 1 s default).
#[test]
fn phi_respects_each_nodes_own_interval() {
    let beats: Vec<u64> = (0..10).map(|i| i * 4000).collect();
    let trace = trace(&beats, 30_000).replace(r#""every_ms":1000"#, r#""every_ms":4000"#);
    let events = replay(&trace, &["--detector", "phi"]);
    let downs: Vec<u64> = kinds(&events)
        .into_iter()
        .filter(|(k, _)| k == "down")
        .map(|(_, t)| t)
        .collect();
    assert_eq!(downs.len(), 1, "{events:?}");
    assert!(downs[0] > 36_000, "only after the last beat: {downs:?}");
}

#[test]
fn up_after_damps_a_node_that_comes_back_briefly() {
    // Beats, a 10 s outage, one lone beat, silence, then a steady return.
    let mut beats: Vec<u64> = (0..5).map(|i| i * 1000).collect();
    beats.push(15_000);
    beats.extend((0..5).map(|i| 30_000 + i * 1000));
    let events = replay(&trace(&beats, 500), &["--up-after", "3"]);
    let ups: Vec<u64> = kinds(&events)
        .into_iter()
        .filter(|(k, _)| k == "up")
        .map(|(_, t)| t)
        .collect();
    assert_eq!(ups, [0, 32_000], "the lone beat did not bring it up");
}

#[test]
fn flapping_is_reported() {
    // Up for a beat, down, up again...: ten changes in under a minute.
    let beats: Vec<u64> = (0..6).map(|i| i * 5_000).collect();
    let events = replay(
        &trace(&beats, 500),
        &["--misses", "2", "--flap-changes", "4"],
    );
    let flaps: Vec<&Value> = events.iter().filter(|v| v["type"] == "flapping").collect();
    assert_eq!(flaps.len(), 1, "{events:?}");
    assert_eq!(flaps[0]["node"], "a");
    assert_eq!(flaps[0]["changes"], 5);
    let none = replay(
        &trace(&beats, 500),
        &["--misses", "2", "--flap-changes", "0"],
    );
    assert!(none.iter().all(|v| v["type"] != "flapping"));
}

#[test]
fn detector_flags_are_checked() {
    for args in [
        &["--detector", "phi", "--misses", "3"][..],
        &["--detector", "phi", "--phi-suspect", "9"],
        &["--phi-threshold", "0"],
        &["--detector", "gut-feeling"],
        &["--up-after", "0"],
    ] {
        let out = cmd("hb-listen").args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert_eq!(
            String::from_utf8_lossy(&out.stderr).lines().count(),
            1,
            "{args:?}"
        );
    }
}
