//! Cron and batch jobs, end to end: `hb-send --run -- CMD` says `start`,
//! runs CMD and says `done`; hb-listen prints `started`, then `ok` or
//! `failed`, `running-long` and `overlap` while runs go on, and `late`
//! when a job's stated deadline and grace pass without it. hb-send's exit
//! code is CMD's, whatever became of the messages.

use std::process::Output;

use crate::harness::{cmd, dead_target, test_name, wall_ms, Running, TempDir};
use crate::metrics::{metrics_address, promtool_check, scrape_until};

/// `hb-send --node NODE --to ADDR --run ARGS... -- sh -c SCRIPT`, run to
/// its end.
fn run_job(node: &str, addr: &str, args: &[&str], script: &str) -> Output {
    cmd("hb-send")
        .args(["--node", node, "--to", addr, "--run"])
        .args(args)
        .args(["--", "sh", "-c", script])
        .output()
        .unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_job_that_exits_0_is_started_then_ok_with_its_duration() {
    let (mut l, addr) = Running::listener(&[]);
    let out = run_job(
        "backup",
        &addr.to_string(),
        &["--every", "1h"],
        "echo done; sleep 0.2",
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // Its stdout is the command's.
    assert_eq!(String::from_utf8_lossy(&out.stdout), "done\n");
    let started = l.expect("started", |v| v["node"] == "backup");
    // Due an hour later by its own interval, and it may run until then.
    let due = started["due_ms"].as_u64().unwrap();
    let in_an_hour = started["ts_ms"].as_u64().unwrap() + 3_600_000;
    assert!(due.abs_diff(in_an_hour) < 60_000, "{started}");
    assert!(
        started["max_run_ms"].as_u64().unwrap() > 3_500_000,
        "{started}"
    );
    let ok = l.expect("ok", |v| v["node"] == "backup");
    assert!(ok["duration_ms"].as_u64().unwrap() >= 200, "{ok}");
    assert!(l.seen_of("failed", "backup").is_empty(), "{}", l.history());
}

#[test]
fn a_job_that_exits_3_is_failed_with_its_exit_and_stderr_and_hb_send_exits_3() {
    let (mut l, addr) = Running::listener(&[]);
    let script = "echo 'starting' >&2; printf 'rsync: \\033[1mdisk full\\033[0m\\n\\n' >&2; exit 3";
    let out = run_job("backup", &addr.to_string(), &[], script);
    assert_eq!(out.status.code(), Some(3));
    // Its stderr passed through as it was.
    assert!(
        stderr(&out).contains("starting\nrsync: \x1b[1mdisk full"),
        "{}",
        stderr(&out)
    );
    let failed = l.expect("failed", |v| v["node"] == "backup");
    assert_eq!(failed["exit"], 3, "{failed}");
    assert!(failed.get("signal").is_none(), "{failed}");
    // Its last line, control characters cut.
    assert_eq!(failed["stderr"], "rsync: [1mdisk full[0m", "{failed}");
    // A run without a schedule is due at no time.
    assert!(failed["due_ms"].is_null(), "{failed}");
}

#[test]
fn a_job_killed_by_a_signal_is_failed_with_the_signal_and_hb_send_exits_128_plus_it() {
    let (mut l, addr) = Running::listener(&[]);
    let out = run_job("batch", &addr.to_string(), &[], "kill -TERM $$");
    assert_eq!(out.status.code(), Some(128 + 15), "{}", stderr(&out));
    let failed = l.expect("failed", |v| v["node"] == "batch");
    assert_eq!(failed["signal"], 15, "{failed}");
    assert!(failed.get("exit").is_none(), "{failed}");
}

#[test]
fn a_job_that_does_not_come_again_is_late_at_its_due_time_and_grace() {
    let (mut l, addr) = Running::listener(&["--status-every", "100ms"]);
    let out = run_job(
        "nightly",
        &addr.to_string(),
        &["--every", "1s", "--grace", "500ms"],
        "true",
    );
    assert_eq!(out.status.code(), Some(0));
    let ok = l.expect("ok", |v| v["node"] == "nightly");
    let due = ok["due_ms"].as_u64().unwrap();
    let late = l.expect("late", |v| v["node"] == "nightly");
    assert_eq!(late["grace_ms"], 500, "{late}");
    // Not before its deadline and grace (the bound is the feature; the
    // listener reads its two clocks apart, a millisecond or two).
    assert_eq!(late["due_ms"], due, "{late} after {ok}");
    assert!(
        late["ts_ms"].as_u64().unwrap() + 5 >= due + 500,
        "{late} after {ok}"
    );
    let status = l.expect("status", |v| v["late"][0] == "nightly");
    assert_eq!(status["nodes"]["nightly"]["state"], "late", "{status}");
    // Never judged by missed intervals: no suspect, no down.
    assert!(
        l.seen_of("suspect", "nightly").is_empty(),
        "{}",
        l.history()
    );
    assert!(l.seen_of("down", "nightly").is_empty(), "{}", l.history());
    // It runs again: running, then ok.
    let again = wall_ms();
    run_job(
        "nightly",
        &addr.to_string(),
        &["--every", "1h"],
        "sleep 0.3",
    );
    l.expect("started", |v| {
        v["node"] == "nightly" && v["ts_ms"].as_u64() >= Some(again)
    });
    l.expect("status", |v| v["ok"][0] == "nightly");
}

#[test]
fn a_run_past_its_max_run_is_running_long_and_one_started_meanwhile_overlaps() {
    let (mut l, addr) = Running::listener(&[]);
    let to = addr.to_string();
    let args = [
        "--node",
        "etl",
        "--to",
        &to,
        "--run",
        "--every",
        "1h",
        "--max-run",
        "300ms",
    ];
    let mut long = Running::spawn("hb-send", &[&args[..], &["--", "sleep", "3"]].concat());
    l.expect("started", |v| v["node"] == "etl");
    let running_long = l.expect("running-long", |v| v["node"] == "etl");
    assert_eq!(running_long["max_run_ms"], 300, "{running_long}");
    assert!(
        running_long["running_ms"].as_u64().unwrap() >= 300,
        "{running_long}"
    );
    let out = run_job("etl", &to, &["--every", "1h"], "true");
    assert_eq!(out.status.code(), Some(0));
    let overlap = l.expect("overlap", |v| v["node"] == "etl");
    assert!(overlap["running_ms"].as_u64().unwrap() >= 300, "{overlap}");
    // Stopped, hb-send passes SIGTERM on to the first run, and tells how
    // it ended.
    assert_eq!(long.signal_and_wait("TERM").code(), Some(128 + 15));
    let failed = l.expect("failed", |v| v["node"] == "etl");
    assert_eq!(failed["signal"], 15, "{failed}");
}

#[test]
fn a_bad_cron_or_zone_is_a_usage_error_naming_the_flag_before_the_command_runs() {
    let dir = TempDir::new();
    let ran = dir.path().join("ran");
    let touch = format!("touch {}", ran.display());
    for (flags, flag) in [
        (vec!["--cron", "0 3 * *"], "--cron"),
        (vec!["--cron", "61 * * * *"], "--cron"),
        (vec!["--cron", "@daily", "--tz", "Europe/Nowhere"], "--tz"),
    ] {
        let out = run_job("backup", "127.0.0.1:9", &flags, &touch);
        assert_eq!(out.status.code(), Some(2), "{flags:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(flag), "{flags:?}: {}", stderr(&out));
        assert!(!ran.exists(), "{flags:?} ran the command");
    }
    // Without a command, --run is a usage error too.
    let out = cmd("hb-send").args(["--run"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn a_cron_job_states_its_next_due_time_in_its_zone() {
    let (mut l, addr) = Running::listener(&[]);
    let flags = ["--cron", "0 3 * * *", "--tz", "Europe/Berlin"];
    let out = run_job("backup", &addr.to_string(), &flags, "true");
    assert_eq!(out.status.code(), Some(0));
    let ok = l.expect("ok", |v| v["node"] == "backup");
    let due = ok["due_ms"].as_u64().unwrap();
    // 03:00 in Berlin is 01:00 or 02:00 UTC, within a day.
    let hour_utc = (due / 3_600_000) % 24;
    assert!(hour_utc == 1 || hour_utc == 2, "{ok}");
    assert!(due > wall_ms() && due < wall_ms() + 25 * 3_600_000, "{ok}");
}

#[test]
fn a_job_runs_and_keeps_its_exit_code_when_no_listener_hears_it() {
    let dir = TempDir::new();
    let ran = dir.path().join("ran");
    let (_deaf, deaf) = dead_target();
    let script = format!("touch {}; exit 3", ran.display());
    for to in [deaf.as_str(), "no-such-host.invalid"] {
        let _ = std::fs::remove_file(&ran);
        let out = run_job("backup", to, &["--cron", "@daily"], &script);
        assert_eq!(out.status.code(), Some(3), "{to}: {}", stderr(&out));
        assert!(ran.exists(), "{to}: the command did not run");
    }
    let out = run_job("backup", "no-such-host.invalid", &[], "true");
    assert!(
        stderr(&out).contains("warning: resolving --to"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_beat_after_a_job_states_its_deadline_too() {
    let (mut l, addr) = Running::listener(&[]);
    cmd("hb-send")
        .args(["--node", "sync", "--to", &addr.to_string(), "--once"])
        .args(["--every", "1s", "--grace", "200ms"])
        .assert()
        .success();
    l.expect("up", |v| v["node"] == "sync");
    let late = l.expect("late", |v| v["node"] == "sync");
    assert_eq!(late["grace_ms"], 200, "{late}");
    assert!(l.seen_of("down", "sync").is_empty(), "{}", l.history());
}

#[test]
fn metrics_tell_a_jobs_state() {
    let args = ["--listen", "127.0.0.1:0", "--metrics", "127.0.0.1:0"];
    let mut l = Running::spawn("hb-listen", &args);
    let metrics = metrics_address(&l);
    let to = l.listening().to_string();
    run_job("backup", &to, &["--every", "1h"], "exit 3");
    l.expect("failed", |v| v["node"] == "backup");
    run_job("report", &to, &["--every", "1s", "--grace", "0s"], "true");
    l.expect("late", |v| v["node"] == "report");
    let late = r#"hb_node_state{node="report",state="late"} 1"#;
    let body = scrape_until(&metrics, |line| line == late);
    for line in [
        r#"hb_node_state{node="backup",state="failed"} 1"#,
        // A job's series are a job's states only.
        r#"hb_node_state{node="backup",state="ok"} 0"#,
        // A failed job ran: alive. A late one did not.
        r#"hb_node_up{node="backup"} 1"#,
        r#"hb_node_up{node="report"} 0"#,
        r#"hb_events_total{type="failed"} 1"#,
        r#"hb_events_total{type="late"} 1"#,
    ] {
        assert!(body.lines().any(|l| l == line), "no {line} in:\n{body}");
    }
    assert!(!body.contains(r#"node="backup",state="up""#), "{body}");
    promtool_check(test_name!(), &body);
}
