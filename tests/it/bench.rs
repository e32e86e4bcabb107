//! Seconds-long smoke runs of the network-namespace benchmark harnesses,
//! so they keep working; their figures are printed, never asserted on
//! speed. They need root, ip and nft: without them they skip loudly (and
//! fail under HB_REQUIRE_TOOLS, as in CI).

use crate::harness::{script, skip_as, test_name};

/// Runs bench/`name` with `env` for the test `test` (named with
/// [`test_name!`]); None, with `test` said to be skipped, if the script
/// says (exit 77) that the tools it needs are missing here. Any other
/// failure, a usage error (2) too, fails.
fn run_bench(test: &str, name: &str, env: &[(&str, &str)]) -> Option<String> {
    let out = script(&format!("bench/{name}"))
        .envs(env.iter().copied())
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    if out.status.code() == Some(77) {
        // Its last line says why, and names the script.
        skip_as(test, stderr.lines().last().unwrap_or("exit 77"));
        return None;
    }
    assert!(out.status.success(), "{name} failed:\n{stdout}\n{stderr}");
    println!("{stdout}");
    Some(stdout)
}

/// The `RESULT {json}` line a harness prints after its table.
fn result_line(out: &str) -> serde_json::Value {
    let json = out
        .lines()
        .find_map(|l| l.strip_prefix("RESULT "))
        .unwrap_or_else(|| panic!("no RESULT line:\n{out}"));
    serde_json::from_str(json).unwrap_or_else(|e| panic!("RESULT is not JSON ({e}):\n{out}"))
}

/// The rest of the table row of `out` that begins with `label`, which
/// must be there.
fn row_after<'a>(out: &'a str, label: &str) -> &'a str {
    out.lines()
        .find_map(|l| l.strip_prefix(label))
        .unwrap_or_else(|| panic!("no row {label:?}:\n{out}"))
}

/// A count or measure of a RESULT line, which must be there.
fn figure(result: &serde_json::Value, key: &str) -> f64 {
    result[key]
        .as_f64()
        .unwrap_or_else(|| panic!("no figure {key} in {result}"))
}

#[test]
fn quorum_lab_smoke() {
    // The lab's own defaults for QUICK=1, spelled out: the bound on the
    // detection time below is derived from them.
    let (every_ms, misses, view_ms) = (100, 5, 200);
    let Some(out) = run_bench(
        test_name!(),
        "quorum-lab",
        &[
            ("QUICK", "1"),
            ("EVERY", &format!("{every_ms}ms")),
            ("MISSES", &misses.to_string()),
            ("VIEW_EVERY", &format!("{view_ms}ms")),
        ],
    ) else {
        return;
    };
    let result = result_line(&out);
    // The point of quorum: no false down from the group, whatever the luck.
    assert_eq!(result["loss100_group"], 0, "{out}");
    assert_eq!(result["loss60_group"], 0, "{out}");
    assert_eq!(result["partition_group_downs"], 0, "{out}");
    assert!(result["partition_noquorum"].as_u64() >= Some(1), "{out}");
    assert!(result["loss100_single"].as_u64() >= Some(1), "{out}");
    // And a real crash is detected, by the single listener and by every
    // observer of the group: by its own detector MISSES intervals after
    // the last beat (at most an interval before the kill), and at most a
    // view interval later from a peer's view; a second on top for a
    // loaded machine running debug binaries.
    let bound = misses * every_ms + view_ms + every_ms + 1000;
    // A host that vanishes too: sooner by its unanswered probes, or at
    // that deadline where a late beat showed a pause.
    for key in [
        "crash_single_ms",
        "crash_group_ms",
        "vanish_single_ms",
        "vanish_group_ms",
    ] {
        let ms = figure(&result, key);
        assert!(ms <= bound as f64, "{key} {ms} over {bound} ms:\n{out}");
    }
}

#[test]
fn timers_and_peers_smoke() {
    // No root needed: these two only use loopback.
    let out = run_bench(test_name!(), "timers", &[("NODES", "300")]).unwrap();
    // Every node's down came, none before its deadline.
    assert!(out.contains("downs=300 early=0 "), "{out}");

    let out = run_bench(
        test_name!(),
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
    // A row for each of hb's measures, with a figure in hb's column.
    for label in [
        "| one round over 50 targets, wall (best of 5) | hb-poll ",
        "| one probe as Nagios runs it, per run (mean of 3) | hb-poll --format nagios: ",
        "| hb-send --every 100ms --health for 1 s | ",
        "| hb-ack answering 100 probes/s for 1 s | ",
    ] {
        let row = row_after(&out, label);
        assert!(
            row.starts_with(|c: char| c.is_ascii_digit()),
            "no figure in {label:?}: {row}"
        );
    }
    // The figures measured real work: every target up in every round,
    // every Nagios run OK, beats sent, probes answered.
    let r = result_line(&out);
    assert_eq!(figure(&r, "round_fewest_up"), 50.0, "{out}");
    assert_eq!(figure(&r, "nagios_ok"), 3.0, "{out}");
    assert!(figure(&r, "round_ms") > 0.0, "{out}");
    assert!(figure(&r, "nagios_us_wall") > 0.0, "{out}");
    assert!(figure(&r, "send_beats") > 0.0, "{out}");
    assert!(figure(&r, "send_rss_kib") > 0.0, "{out}");
    assert!(figure(&r, "send_cpu_pct") >= 0.0, "{out}");
    assert!(figure(&r, "ack_cpu_pct") >= 0.0, "{out}");
    let (sent, answered) = (figure(&r, "probes_sent"), figure(&r, "probes_answered"));
    assert!(sent > 0.0 && answered > 0.0 && answered <= sent, "{out}");
}

#[test]
fn detection_quality_smoke() {
    let Some(out) = run_bench(
        test_name!(),
        "detection-quality",
        &[("QUICK", "1"), ("DURATION", "8")],
    ) else {
        return;
    };
    let rows: Vec<&str> = out
        .lines()
        .filter(|l| l.starts_with("| loss") || l.starts_with("| bursty"))
        .collect();
    assert_eq!(
        rows.len(),
        24,
        "4 scenarios x 2 faults x 2 detectors and the live confirming one:\n{out}"
    );
    for row in rows {
        // There was a failure (a crash, a host vanished), and every one
        // of the run was detected.
        let crashes = row.split('|').nth(3).unwrap().trim();
        let (found, total) = crashes.split_once('/').unwrap();
        assert!(total.parse::<u32>().unwrap() > 0, "{row}");
        assert_eq!(found, total, "{row}");
    }
}

#[test]
fn poll_round_smoke() {
    // A round of 100 targets and two probes, once, with the CPUs shared
    // and split: a row for each, with its ratio.
    for cpus in ["shared", "split"] {
        if cpus == "split" && std::thread::available_parallelism().map_or(1, |n| n.get()) < 2 {
            skip_as(test_name!(), "CPUS=split needs 2 CPUs");
            return;
        }
        let env = [
            ("RUNS", "1"),
            ("REPEAT", "2"),
            ("SIZES", "100"),
            ("CPUS", cpus),
        ];
        let Some(out) = run_bench(test_name!(), "poll-round", &env) else {
            return;
        };
        assert!(out.contains(&format!("alternating; CPUs {cpus}")), "{out}");
        for label in [
            "| one round over 100 targets (fping ",
            "| one Nagios probe, hb-poll -H --format nagios / check_udp ",
        ] {
            let row = row_after(&out, label);
            assert!(row.ends_with("x |"), "no ratio in {label:?}: {row}");
        }
    }
}
