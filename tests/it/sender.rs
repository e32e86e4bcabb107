//! hb-send's flags no other test exercises: `--broadcast` and
//! `--check-timeout`.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::harness::{cmd, Running, TempDir};

/// Loopback's broadcast address: Linux routes it to every socket bound to
/// the wildcard address on the port, and refuses it, as any broadcast,
/// to a socket without SO_BROADCAST.
const LOOPBACK_BROADCAST: &str = "127.255.255.255";

#[test]
fn broadcast_targets_need_the_flag() {
    let (mut l, addr) = Running::bound("hb-listen", "0.0.0.0:0", &["--status-every", "50ms"]);
    let to = format!("{LOOPBACK_BROADCAST}:{}", addr.port());

    // Refused by the kernel, which nothing leaves: exit 1, saying why.
    let out = cmd("hb-send")
        .args(["--to", &to, "--node", "refused", "--once", "--every", "1s"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("warning: {to}: Permission denied")),
        "{stderr}"
    );
    assert!(
        stderr.contains("1 of 1 beats could not be sent"),
        "{stderr}"
    );

    cmd("hb-send")
        .args([
            "--to",
            &to,
            "--node",
            "broadcaster",
            "--once",
            "--every",
            "1s",
            "--broadcast",
        ])
        .assert()
        .success();
    let up = l.expect("up", |_| true);
    assert_eq!(up["node"], "broadcaster");
    let status = l.expect("status", |_| true);
    assert_eq!(status["up"], json!(["broadcaster"]));
    assert_eq!(status["received"], 1, "the refused beat never left");
}

/// A check still running at --check-timeout is killed and reported
/// `unknown`, so a one-shot beat goes out after the timeout, not after the
/// check (30 s) or the default timeout (10 s).
#[test]
fn check_timeout_kills_a_slow_check_and_reports_it_unknown() {
    let dir = TempDir::new();
    let pid_file = dir.path().join("check.pid");
    let check = format!("slow=echo $$ > {}; exec sleep 30", pid_file.display());
    let (mut l, addr) = Running::listener(&["--beats"]);
    let started = Instant::now();
    cmd("hb-send")
        .args([
            "--to",
            &addr.to_string(),
            "--node",
            "n",
            "--once",
            "--every",
            "1s",
        ])
        .args(["--check", &check, "--check-timeout", "300ms"])
        .assert()
        .success();
    let took = started.elapsed();
    assert!(took < Duration::from_secs(5), "took {took:?}");
    let beat = l.expect("beat", |_| true);
    assert_eq!(
        beat["checks"],
        json!([{"name": "slow", "status": "unknown", "output": "timed out after 300ms"}])
    );
    // The check's process is gone (killed and reaped), not left sleeping.
    let pid = std::fs::read_to_string(&pid_file).unwrap();
    let cmdline = std::fs::read(format!("/proc/{}/cmdline", pid.trim())).unwrap_or_default();
    assert!(
        !String::from_utf8_lossy(&cmdline).contains("sleep"),
        "the check still runs as {pid}"
    );
}
