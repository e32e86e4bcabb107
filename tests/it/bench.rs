//! Seconds-long smoke runs of the network-namespace benchmark harnesses,
//! so they keep working; their figures are printed, never asserted on
//! speed. They need root, ip and nft: without them they skip loudly (and
//! fail under HB_REQUIRE_TOOLS, as in CI).

use crate::harness::{script, skip};

/// Runs bench/`name` with `env`; None if it says (exit 77) that the tools
/// it needs are missing here. Any other failure, a usage error (2) too, fails.
fn run_bench(name: &str, env: &[(&str, &str)]) -> Option<String> {
    let out = script(&format!("bench/{name}"))
        .envs(env.iter().copied())
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    if out.status.code() == Some(77) {
        skip(name, stderr.lines().last().unwrap_or("exit 77"));
        return None;
    }
    assert!(out.status.success(), "{name} failed:\n{stdout}\n{stderr}");
    println!("{stdout}");
    Some(stdout)
}

#[test]
fn quorum_lab_smoke() {
    let Some(out) = run_bench("quorum-lab", &[("QUICK", "1")]) else {
        return;
    };
    let json = out
        .lines()
        .find_map(|l| l.strip_prefix("RESULT "))
        .expect("a RESULT line");
    let result: serde_json::Value = serde_json::from_str(json).unwrap();
    // The point of quorum: no false down from the group, whatever the luck.
    assert_eq!(result["loss100_group"], 0, "{out}");
    assert_eq!(result["loss60_group"], 0, "{out}");
    assert_eq!(result["partition_group_downs"], 0, "{out}");
    assert!(result["partition_noquorum"].as_u64() >= Some(1), "{out}");
    assert!(result["loss100_single"].as_u64() >= Some(1), "{out}");
}

#[test]
fn timers_and_peers_smoke() {
    // No root needed: these two only use loopback.
    let out = run_bench("timers", &[("NODES", "300")]).unwrap();
    assert!(out.contains("downs=300"), "{out}");
    let out = run_bench(
        "peers",
        &[
            ("N", "50"),
            ("RUNS", "3"),
            ("IDLE", "1"),
            ("RATE", "100"),
            ("LOAD_SECONDS", "1"),
        ],
    )
    .unwrap();
    assert!(out.contains("hb-send --every 100ms --health"), "{out}");
}

#[test]
fn detection_quality_smoke() {
    let Some(out) = run_bench("detection-quality", &[("QUICK", "1"), ("DURATION", "8")]) else {
        return;
    };
    let rows: Vec<&str> = out
        .lines()
        .filter(|l| l.starts_with("| loss") || l.starts_with("| bursty"))
        .collect();
    assert_eq!(rows.len(), 8, "4 scenarios x 2 detectors:\n{out}");
    for row in rows {
        // Every crash of the run was detected.
        let crashes = row.split('|').nth(3).unwrap().trim();
        let (found, total) = crashes.split_once('/').unwrap();
        assert_eq!(found, total, "{row}");
    }
}
