//! Acting on verdicts end to end: hooks (`--on`) run by hb-listen,
//! `hb-poll --every` and `hb-send --ack`; reminders (`--remind-every`);
//! and alerts routed by a real Alertmanager through contrib/hooks.

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::harness::{
    bin, contrib_hook, dead_target, test_name, tools_installed, wait_for_file, wall_ms, Running,
    TempDir, PATIENCE,
};

/// Waits until a hook has written `path`: it renames the file into place
/// whole, so whatever is there is all of it.
#[track_caller]
fn written(path: &Path) -> String {
    wait_for_file(path, "what a hook wrote", PATIENCE, |_| true)
}

/// `web-1` beating every 100 ms to `to`, stopping without a `leave` (so
/// that killing it is a failure).
fn web_1_beating_to(to: &str) -> Running {
    Running::spawn(
        "hb-send",
        &[
            "--node",
            "web-1",
            "--every",
            "100ms",
            "--to",
            to,
            "--no-leave",
        ],
    )
}

/// A shell command that writes its stdin, then the variables hb sets for
/// a hook (not others of the test's environment, as CI's HB_REQUIRE_TOOLS),
/// into files of `dir` named after the event, each moved into place whole.
fn recording_hook(dir: &Path) -> String {
    let d = dir.display();
    format!(
        "cat > {d}/$HB_EVENT.tmp && mv {d}/$HB_EVENT.tmp {d}/$HB_EVENT.line && \
         env | grep -E '^HB_(ADDR|EVENT|NODE|TS_MS)=' | sort > {d}/$HB_EVENT.tmp && mv {d}/$HB_EVENT.tmp {d}/$HB_EVENT.env"
    )
}

#[test]
fn a_hook_gets_the_exact_line_and_the_environment() {
    let dir = TempDir::new();
    let on = format!("up={}", recording_hook(dir.path()));
    let mut cmd = Command::new(bin("hb-listen"));
    cmd.args(["--listen", "127.0.0.1:0", "--on", &on])
        .stdin(Stdio::null());
    let (listener, stdout) = Running::start_raw(cmd, "hb-listen");
    let to = listener.listening();
    let beater = UdpSocket::bind("127.0.0.1:0").unwrap();
    let from = beater.local_addr().unwrap();
    beater
        .send_to(&crate::harness::beat("web-1", "b1", 1, 1000), to)
        .unwrap();
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    let up: Value = serde_json::from_str(&line).unwrap();
    assert_eq!((&up["type"], &up["node"]), (&"up".into(), &"web-1".into()));
    let env = written(&dir.path().join("up.env"));
    assert_eq!(written(&dir.path().join("up.line")), line);
    assert_eq!(
        env,
        format!(
            "HB_ADDR={from}\nHB_EVENT=up\nHB_NODE=web-1\nHB_TS_MS={}\n",
            up["ts_ms"]
        )
    );
}

/// Beats of `count` nodes `n0`, `n1`, ... (interval 1 min: none goes
/// suspect during the test), each node's `up` awaited by chunks so the
/// socket's buffer never overflows.
fn many_nodes_up(listener: &mut Running, to: SocketAddr, count: usize) {
    let beater = UdpSocket::bind("127.0.0.1:0").unwrap();
    for chunk in (0..count).collect::<Vec<_>>().chunks(50) {
        for i in chunk {
            let beat = crate::harness::beat(&format!("n{i}"), "b1", 1, 60_000);
            beater.send_to(&beat, to).unwrap();
        }
        let last = format!("n{}", chunk[chunk.len() - 1]);
        listener.expect("up", |v| v["node"] == last.as_str());
    }
    let ups: HashSet<&str> = listener
        .seen
        .iter()
        .filter(|v| v["type"] == "up")
        .filter_map(|v| v["node"].as_str())
        .filter(|n| n.starts_with('n'))
        .collect();
    assert_eq!(
        ups.len(),
        count,
        "an up was lost; seen:\n{}",
        listener.history()
    );
}

#[test]
fn a_slow_hook_neither_delays_another_nodes_down_nor_drops_silently() {
    // Four hooks sleep, 256 wait, the rest of 1,000 events is dropped.
    // Judged by silence alone: the deadline is what is checked.
    let (mut listener, to) = Running::listener(&["--on", "*=sleep 10", "--no-confirm"]);
    many_nodes_up(&mut listener, to, 1000);
    let victim = Running::spawn(
        "hb-send",
        &[
            "--node",
            "victim",
            "--every",
            "100ms",
            "--to",
            &to.to_string(),
            "--no-leave",
        ],
    );
    listener.expect("up", |v| v["node"] == "victim");
    let killed = wall_ms();
    drop(victim);
    let down = listener.expect_after("down", killed, |v| v["node"] == "victim");
    // Down after 5 intervals of 100 ms: the hooks' backlog may delay it
    // by 20 ms at most.
    let silent = down["silent_ms"].as_u64().unwrap();
    assert!(
        (500..=520).contains(&silent),
        "down {} ms late: {down}",
        silent.saturating_sub(500)
    );
    let counted = |v: &Value| {
        v["type"] == "hook-overflow" && v["dropped_total"].as_u64().unwrap() >= 1000 - 4 - 256
    };
    if !listener.seen.iter().any(counted) {
        listener.expect("hook-overflow", counted);
    }
}

#[test]
fn a_hung_hook_is_killed_with_its_children_at_the_timeout() {
    let dir = TempDir::new();
    let pid = dir.path().join("pid");
    let on = format!(
        "up=echo hanging >&2; sleep 60 & echo $! > {}.tmp; mv {0}.tmp {0}; wait",
        pid.display()
    );
    // Time enough for the hook to start and say so on a loaded machine.
    let (mut listener, to) = Running::listener(&["--on", &on, "--on-timeout", "2s"]);
    crate::harness::send_raw(to, &crate::harness::beat("web-1", "b1", 1, 1000));
    let hook = listener.expect("hook", |v| v["node"] == "web-1");
    assert_eq!(hook["ok"], false);
    assert_eq!(hook["event"], "up");
    assert_eq!(hook["timed_out"], true);
    assert_eq!(hook["signal"], 9);
    assert_eq!(hook["exit"], Value::Null);
    assert_eq!(hook["stderr"], "hanging");
    assert!(hook["ms"].as_u64().unwrap() >= 2000, "{hook}");
    let sleeper = written(&pid);
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", sleeper.trim()));
    // Gone, or a zombie waiting for a reaper: killed either way.
    assert!(
        stat.as_ref().map_or(true, |s| s.contains(") Z ")),
        "the hook's child lives on: {stat:?}"
    );
}

#[test]
fn reminders_come_at_their_period_and_stop_at_up() {
    let (mut listener, to) = Running::listener(&["--remind-every", "300ms"]);
    let to = to.to_string();
    let sender = || web_1_beating_to(&to);
    let first = sender();
    listener.expect("up", |v| v["node"] == "web-1");
    drop(first);
    let down = listener.expect("down", |v| v["node"] == "web-1");
    for n in 1..=2u64 {
        let still = listener.expect("still-down", |v| v["node"] == "web-1");
        assert_eq!(still["reminder"], n, "{still}");
        assert_eq!(still["state"], "down");
        assert_eq!(still["since"], down["ts"]);
        assert_eq!(still["since_ms"], down["ts_ms"]);
        assert_eq!(still["addr"], down["addr"]);
        let down_ms = still["down_ms"].as_u64().unwrap();
        assert!(down_ms >= 300 * n, "{still}");
    }
    let _back = sender();
    listener.expect("up", |v| v["node"] == "web-1");
    let back_at = listener.seen.len();
    drop(_back);
    let again = listener.expect("down", |v| v["node"] == "web-1");
    let still = listener.expect("still-down", |v| v["node"] == "web-1");
    // Nothing between the up and the new down; the count starts over.
    let between: Vec<&Value> = listener.seen[back_at..]
        .iter()
        .filter(|v| v["type"] == "still-down")
        .collect();
    assert_eq!(between.len(), 1, "{}", listener.history());
    assert_eq!(still["reminder"], 1);
    assert_eq!(still["since"], again["ts"]);
}

#[test]
fn the_poller_and_the_acked_sender_run_hooks_and_remind_too() {
    let dir = TempDir::new();
    let (_dead, target) = dead_target();
    let on = format!("down={}", recording_hook(dir.path()));
    let mut poller = Running::spawn(
        "hb-poll",
        &[
            &target,
            "--every",
            "100ms",
            "-t",
            "50ms",
            "--retries",
            "0",
            "--on",
            &on,
            "--remind-every",
            "200ms",
        ],
    );
    let down = poller.expect("down", |v| v["node"] == target.as_str());
    let still = poller.expect("still-down", |v| v["node"] == target.as_str());
    assert_eq!(still["since_ms"], down["ts_ms"]);
    let hooked: Value = serde_json::from_str(&written(&dir.path().join("down.line"))).unwrap();
    assert_eq!(hooked, down);
    drop(poller);

    let dir = TempDir::new();
    let on = format!("down={}", recording_hook(dir.path()));
    let mut sender = Running::spawn(
        "hb-send",
        &[
            "--node",
            "snd",
            "--ack",
            "--to",
            &target,
            "--every",
            "50ms",
            "--misses",
            "2",
            "--on",
            &on,
            "--remind-every",
            "200ms",
        ],
    );
    let down = sender.expect("down", |v| v["target"] == target.as_str());
    let still = sender.expect("still-down", |v| v["node"] == target.as_str());
    assert_eq!(still["since_ms"], down["ts_ms"]);
    let hooked: Value = serde_json::from_str(&written(&dir.path().join("down.line"))).unwrap();
    assert_eq!(hooked, down);
    let env = written(&dir.path().join("down.env"));
    assert!(env.contains(&format!("HB_NODE={target}\n")), "{env}");
}

#[test]
fn flags_that_need_transitions_are_refused_without_them() {
    let out = crate::harness::cmd("hb-poll")
        .args(["127.0.0.1", "--on", "down=true"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.starts_with("HB UNKNOWN - --on needs --every"),
        "{said}"
    );
    let out = crate::harness::cmd("hb-send")
        .args(["--remind-every", "1m"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--remind-every needs --ack"));
    let out = crate::harness::cmd("hb-listen")
        .args(["--on", "down,dwon=true"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains("--on") && said.contains("\"dwon\"") && said.contains("still-down"),
        "{said}"
    );
}

/// A real Alertmanager on a free loopback port, with a receiver that
/// sends nothing; its base URL.
struct Alertmanager {
    /// Killed on drop.
    _process: Running,
    url: String,
    _dir: TempDir,
}

impl Alertmanager {
    /// None (after saying loudly that `test`, named with [`test_name!`],
    /// is skipped) where Alertmanager or curl is not installed.
    /// It resolves an alert not posted again within `resolve_timeout`.
    fn start(test: &str, resolve_timeout: &str) -> Option<Alertmanager> {
        let tools = [
            ("prometheus-alertmanager", "--version"),
            ("curl", "--version"),
        ];
        if !tools_installed(test, &tools) {
            return None;
        }
        let dir = TempDir::new();
        let config = dir.file(
            "alertmanager.yml",
            &format!(
                "global:\n  resolve_timeout: {resolve_timeout}\nroute:\n  receiver: none\nreceivers:\n  - name: none\n"
            ),
        );
        let mut cmd = Command::new("prometheus-alertmanager");
        cmd.arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.path={}",
                dir.path().join("data").display()
            ))
            .args([
                "--web.listen-address=127.0.0.1:0",
                "--cluster.listen-address=",
            ])
            .stdin(Stdio::null());
        let (process, _stdout) = Running::start_raw(cmd, "alertmanager");
        // It says where it listens: `msg="Listening on" address=127.0.0.1:PORT`.
        let addr = process.stderr_address("msg=\"Listening on\" address=");
        Some(Alertmanager {
            _process: process,
            url: format!("http://{addr}"),
            _dir: dir,
        })
    }

    /// The alerts about `node` Alertmanager holds, as its API v2 lists them
    /// (resolved ones are not listed).
    fn alerts(&self, node: &str) -> Vec<Value> {
        let out = Command::new("curl")
            .args(["-sS", "--max-time", "5", "-G"])
            .arg(format!("{}/api/v2/alerts", self.url))
            .arg("--data-urlencode")
            .arg(format!("filter=node=\"{node}\""))
            .output()
            .unwrap();
        serde_json::from_slice(&out.stdout).unwrap_or_default()
    }

    /// Waits until the alerts about `node` are what `wanted` says.
    fn wait_for(&self, node: &str, what: &str, wanted: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let alerts = self.alerts(node);
            if wanted(&alerts) {
                return alerts;
            }
            assert!(
                Instant::now() < deadline,
                "Alertmanager never showed {what}: {alerts:?}"
            );
            thread::sleep(Duration::from_millis(50));
        }
    }
}

#[test]
fn a_killed_sender_fires_an_alert_in_alertmanager_resolved_when_it_is_back() {
    let Some(am) = Alertmanager::start(test_name!(), "5m") else {
        return;
    };
    let on = format!(
        "down,still-down,up,left=exec {} {} severity=page",
        contrib_hook("alertmanager").display(),
        am.url
    );
    let (mut listener, to) = Running::listener(&["--on", &on]);
    let to = to.to_string();
    let sender = || web_1_beating_to(&to);
    let first = sender();
    listener.expect("up", |v| v["node"] == "web-1");
    drop(first);
    let down = listener.expect("down", |v| v["node"] == "web-1");
    let firing = am.wait_for("web-1", "a firing alert", |alerts| {
        alerts.iter().any(|a| a["status"]["state"] == "active")
    });
    let alert = &firing[0];
    assert_eq!(alert["labels"]["alertname"], "HbNodeDown");
    assert_eq!(alert["labels"]["severity"], "page");
    let described: Value =
        serde_json::from_str(alert["annotations"]["description"].as_str().unwrap()).unwrap();
    assert_eq!(described, down);
    let _back = sender();
    listener.expect("up", |v| v["node"] == "web-1");
    am.wait_for("web-1", "the alert resolved", <[Value]>::is_empty);
    listener.assert_no_hook_failed();
}

/// The README's wiring keeps an alert firing while the node stays down,
/// for longer than Alertmanager's `resolve_timeout` (2 s here, 5 minutes
/// by default): `still-down` reminders, more often than that, post it
/// again before Alertmanager would resolve it.
#[test]
fn reminders_keep_an_alert_firing_past_alertmanagers_resolve_timeout() {
    let Some(am) = Alertmanager::start(test_name!(), "2s") else {
        return;
    };
    let on = format!(
        "down,still-down,up,left=exec {} {}",
        contrib_hook("alertmanager").display(),
        am.url
    );
    let (mut listener, to) = Running::listener(&["--remind-every", "500ms", "--on", &on]);
    let sender = web_1_beating_to(&to.to_string());
    listener.expect("up", |v| v["node"] == "web-1");
    drop(sender);
    listener.expect("down", |v| v["node"] == "web-1");
    let active = |alerts: &[Value]| alerts.iter().any(|a| a["status"]["state"] == "active");
    am.wait_for("web-1", "a firing alert", active);
    thread::sleep(Duration::from_secs(5));
    let alerts = am.alerts("web-1");
    assert!(
        active(&alerts),
        "resolved while the node is down: {alerts:?}"
    );
    listener.expect("still-down", |v| v["node"] == "web-1");
}
