//! Hooks and jobs against what a hostile or careless party can do: hooks
//! that write gigabytes or leave children holding their pipes, a flood of
//! invented nodes going down, a node name made to inject into a recipe,
//! a cron expression that never matches, a job's child holding its
//! standard error, and a sender whose clock is off.

use std::io::{Read, Write};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use crate::harness::{
    beat, beat_with, cmd, contrib_hook, send_raw, skip, wait_for_file, wall_ms, Running, TempDir,
    PATIENCE,
};

/// A line of `/proc/PID/status` (`VmHWM:`), in kB.
fn status_kb(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches(" kB").parse().ok())
        .unwrap_or_else(|| panic!("no {field} in {status}"))
}

/// How many entries `/proc/PID/<what>` has (`fd`: descriptors, `task`:
/// threads).
fn count(pid: u32, what: &str) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/{what}"))
        .unwrap()
        .count()
}

#[test]
fn a_hook_writing_hundreds_of_megabytes_to_stderr_leaves_the_listener_small() {
    // 200 MB on one line, then the line that tells what went wrong.
    let on = r#"up=head -c 200000000 /dev/zero >&2; printf '\nlast words\n' >&2; exit 1"#;
    let (mut listener, to) = Running::listener(&["--on", on]);
    send_raw(to, &beat("web-1", "b1", 1, 60_000));
    let hook = listener.expect("hook", |v| v["node"] == "web-1");
    assert_eq!(hook["stderr"], "last words", "{hook}");
    let peak = status_kb(listener.pid(), "VmHWM:");
    assert!(peak < 64 * 1024, "hb-listen peaked at {peak} kB");
}

#[test]
fn hooks_leaving_children_holding_stderr_leave_no_thread_nor_descriptor_behind() {
    let dir = TempDir::new();
    let (pids, ran) = (dir.path().join("pids"), dir.path().join("ran"));
    // Each hook leaves a child holding its standard error for 30 s.
    let on = format!(
        r#"up=sleep 30 >/dev/null & echo $! >> {}; echo "$HB_NODE" >> {}"#,
        pids.display(),
        ran.display()
    );
    let (mut listener, to) = Running::listener(&["--on", &on, "--on-jobs", "4"]);
    let pid = listener.pid();
    let (threads, descriptors) = (count(pid, "task"), count(pid, "fd"));
    let started = Instant::now();
    let nodes = 40;
    for i in 0..nodes {
        send_raw(to, &beat(&format!("h{i}"), "b1", 1, 60_000));
    }
    wait_for_file(&ran, "every hook's run", PATIENCE, |t| {
        t.lines().count() == nodes
    });
    let taken = started.elapsed();
    let settled = || {
        let now = (count(pid, "task"), count(pid, "fd"));
        (now == (threads, descriptors)).then_some(now)
    };
    // Well before the children end: they hold nothing of the listener's.
    let left = (count(pid, "task"), count(pid, "fd"));
    let released = (0..300).find_map(|_| {
        thread::sleep(Duration::from_millis(10));
        settled()
    });
    let children: Vec<libc::pid_t> = std::fs::read_to_string(&pids)
        .unwrap()
        .lines()
        .filter_map(|p| p.parse().ok())
        .collect();
    for child in &children {
        // SAFETY: kill(2) has no memory effects; the pids are the test's
        // own hooks' children, sleeping 30 s, so not reused yet.
        unsafe { libc::kill(*child, libc::SIGKILL) };
    }
    assert!(
        released.is_some(),
        "threads and descriptors {left:?}, {threads} and {descriptors} before the hooks"
    );
    // Each waits a short grace for the pipe, not a second: 40 hooks on 4
    // workers in well under 10 s.
    assert!(
        taken < Duration::from_secs(6),
        "{nodes} hooks took {taken:?}"
    );
    listener.expect("up", |v| v["node"] == "h0");
}

#[test]
fn a_flood_of_invented_nodes_going_down_never_drops_an_expected_nodes_hook() {
    let dir = TempDir::new();
    let ran = dir.path().join("ran");
    // Slow hooks: 4 run, 256 wait, the rest of the flood is dropped.
    let on = format!(r#"down=echo "$HB_NODE" >> {}; sleep 2"#, ran.display());
    let (mut listener, to) = Running::listener(&["--on", &on, "--expect", "real", "--no-confirm"]);
    let flood = 400;
    for i in 0..flood {
        send_raw(to, &beat(&format!("forged-{i}"), "b", 1, 100));
    }
    // The real node goes down a moment after the flood.
    thread::sleep(Duration::from_millis(200));
    send_raw(to, &beat("real", "b", 1, 100));
    listener.expect("down", |v| v["node"] == "real");
    wait_for_file(&ran, "the real node's hook", PATIENCE, |t| {
        t.lines().any(|l| l == "real")
    });
    let overflow = listener.expect("hook-overflow", |_| true);
    let nodes = overflow["nodes"].as_array().unwrap();
    assert!(!nodes.is_empty() && nodes.len() <= 10, "{overflow}");
    assert!(
        nodes
            .iter()
            .all(|n| n.as_str().unwrap().starts_with("forged-")),
        "{overflow}"
    );
    let unlisted = overflow["unlisted"].as_u64().unwrap();
    assert_eq!(
        overflow["dropped"].as_u64().unwrap(),
        nodes.len() as u64 + unlisted,
        "{overflow}"
    );
    let dropped_real = listener
        .seen
        .iter()
        .any(|v| v["type"] == "hook-overflow" && v.to_string().contains("\"real\""));
    assert!(!dropped_real, "{}", listener.history());
}

/// A fake HAProxy runtime API on a Unix socket: every connection's
/// request, as it was written, comes on the channel.
fn fake_runtime_api(path: &Path) -> mpsc::Receiver<String> {
    let socket = UnixListener::bind(path).unwrap();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for mut conn in socket.incoming().map_while(Result::ok) {
            let mut request = String::new();
            let _ = conn.read_to_string(&mut request);
            let _ = conn.write_all(b"\n");
            if tx.send(request).is_err() {
                return;
            }
        }
    });
    rx
}

#[test]
fn the_haproxy_hook_passes_no_hostile_name_to_the_runtime_api() {
    if Command::new("socat").arg("-V").output().is_err() {
        return skip!("socat is not installed");
    }
    let dir = TempDir::new();
    let socket = dir.path().join("admin.sock");
    let requests = fake_runtime_api(&socket);
    let on = format!(
        "down,left,up=exec {} {} web",
        contrib_hook("haproxy").display(),
        socket.display()
    );
    // One hook at a time: the hostile name's is over when web-1's runs.
    let (mut listener, to) = Running::listener(&["--on", &on, "--on-jobs", "1"]);

    // One beat's name, made to add a command of its own on the socket.
    let hostile = "web-2 state ready; set server web/web-2 addr 203.0.113.9";
    send_raw(to, &beat(hostile, "b1", 1, 60_000));
    listener.expect("up", |v| v["node"] == hostile);
    send_raw(to, &beat("web-1", "b1", 1, 60_000));
    let first = requests.recv_timeout(PATIENCE).unwrap();
    let more: Vec<String> = requests.try_iter().collect();
    assert_eq!(
        (first.as_str(), more),
        ("set server web/web-1 state ready\n", vec![]),
        "what reached the runtime API"
    );
    let refused = listener.expect("hook", |v| v["node"] == hostile);
    assert_ne!(refused["exit"], 0, "{refused}");
    let said = refused["stderr"].as_str().unwrap_or_default();
    assert!(said.contains("not an HAProxy server name"), "{refused}");
}

#[test]
fn the_readmes_backend_recipes_leave_out_a_hostile_name() {
    if Command::new("jq").arg("--version").output().is_err() {
        return skip!("jq is not installed");
    }
    let dir = TempDir::new();
    let hostile = "x 203.0.113.9:80 check; server evil";
    let state = dir.file(
        "state.json",
        &serde_json::json!({ "up": ["web-1", hostile] }).to_string(),
    );
    let readme =
        std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("README.md"))
            .unwrap();
    // Every jq filter of the README that writes a server line.
    let filters: Vec<&str> = readme
        .split("jq -r '")
        .skip(1)
        .filter_map(|rest| rest.split_once('\'').map(|(filter, _)| filter))
        .filter(|filter| filter.starts_with(".up[]"))
        .collect();
    assert!(filters.len() >= 2, "{filters:?}");
    for filter in filters {
        let out = Command::new("jq")
            .args(["-r", filter])
            .arg(&state)
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        assert!(out.status.success(), "{filter}: {out:?}");
        let written = String::from_utf8(out.stdout).unwrap();
        // What a recipe says on stderr names the scripts: hb-haproxy: ...
        let config: Vec<&str> = written.lines().filter(|l| !l.starts_with("hb-")).collect();
        assert!(
            config.iter().all(|l| !l.contains("203.0.113.9")),
            "{filter}: {written}"
        );
        assert!(
            config.iter().all(|l| l.contains("web-1")),
            "{filter}: {written}"
        );
    }
}

#[test]
fn a_cron_expression_that_never_matches_is_a_usage_error_naming_cron() {
    let dir = TempDir::new();
    let ran = dir.path().join("ran");
    for never in ["0 0 30 2 *", "0 0 31 4 *"] {
        let out = cmd("hb-send")
            .args(["--node", "backup", "--to", "127.0.0.1:9", "--cron", never])
            .args(["--run", "--", "touch"])
            .arg(&ran)
            .output()
            .unwrap();
        let said = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{never}: {said}");
        assert_eq!(said.lines().count(), 1, "{never}: {said}");
        assert!(said.contains("--cron"), "{never}: {said}");
        assert!(!ran.exists(), "{never}: the command ran");
    }
    // A rare time is a time: the 29th of February.
    cmd("hb-send")
        .args([
            "--node",
            "leap",
            "--to",
            "127.0.0.1:9",
            "--cron",
            "0 0 29 2 *",
        ])
        .args(["--run", "--", "true"])
        .assert()
        .success();
}

#[test]
fn a_jobs_last_stderr_line_survives_a_child_left_holding_stderr() {
    let (mut listener, to) = Running::listener(&[]);
    let script = "sleep 5 >/dev/null & echo 'rsync: disk full' >&2; exit 3";
    let out = cmd("hb-send")
        .args(["--node", "backup", "--to", &to.to_string(), "--run"])
        .args(["--", "sh", "-c", script])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let failed = listener.expect("failed", |v| v["node"] == "backup");
    assert_eq!(failed["stderr"], "rsync: disk full", "{failed}");
}

/// A message of a new boot signed with `key`, its clock at `ts_ms`.
fn signed(key: &Path, body: &str, ts_ms: u64) -> Vec<u8> {
    let mut datagram = format!(r#"{{{body},"ts_ms":{ts_ms}}}"#).into_bytes();
    hb::auth::Keys::load(key).unwrap().sign(&mut datagram);
    datagram
}

#[test]
fn with_a_key_a_new_boot_from_a_clock_off_is_refused_as_skew_not_replay() {
    let dir = TempDir::new();
    let key = dir.key_file("key", "0123456789abcdef0123456789abcdef\n", 0o600);
    let (mut listener, to) = Running::listener(&[
        "--key-file",
        key.to_str().unwrap(),
        "--log-rejects",
        "--status-every",
        "50ms",
    ]);
    let ten_minutes_off = wall_ms() + 10 * 60 * 1000;
    let away = r#""type":"away","node":"web-1","seq":1,"boot":"a1","for_ms":60000"#;
    send_raw(to, &signed(&key, away, ten_minutes_off));
    let rejected = listener.expect("rejected", |_| true);
    assert_eq!(rejected["reason"], "skew", "{rejected}");
    let start = r#""type":"start","node":"backup","seq":1,"boot":"j1""#;
    send_raw(to, &signed(&key, start, ten_minutes_off));
    let status = listener.expect("status", |v| v["rejected"]["skew"] == 2);
    let replay = status["rejected"]["replay"].as_u64().unwrap_or(0);
    assert_eq!(replay, 0, "{status}");
    // The same, with the clock right, is believed.
    send_raw(to, &signed(&key, start, wall_ms()));
    listener.expect("started", |v| v["node"] == "backup");
    // A beat of a known boot needs no clock.
    send_raw(to, &signed(&key, &beat_body("web-3", 1), wall_ms()));
    listener.expect("up", |v| v["node"] == "web-3");
    send_raw(to, &signed(&key, &beat_body("web-3", 2), ten_minutes_off));
    let status = listener.expect("status", |v| v["received"] == 3);
    assert_eq!(status["rejected"]["skew"], 2, "{status}");
}

/// A beat's fields, without the braces and `ts_ms`.
fn beat_body(node: &str, seq: u64) -> String {
    let beat = String::from_utf8(beat_with(node, "b1", seq, 60_000, "")).unwrap();
    beat[1..beat.len() - 1].to_owned()
}
