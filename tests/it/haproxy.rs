//! Routing through a real HAProxy: contrib/hooks/haproxy, run by a real
//! hb-listen on real senders' verdicts, sets the servers of a backend in
//! maint, drain or ready over HAProxy's runtime API, and the tests read
//! the states back from the same socket.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::harness::{
    beat, contrib_hook, readme_block, send_raw, test_name, tools_installed, wait_for, wall_ms,
    Running, TempDir, PATIENCE,
};

/// A real HAProxy with a backend `web` of three servers, `web-1` to
/// `web-3`, and an admin-level stats socket. Nothing is sent through it:
/// the servers point at closed ports and are never checked, so their
/// states are the ones set on the socket.
pub struct Haproxy {
    /// Killed on drop.
    process: Running,
    config: PathBuf,
    pub socket: PathBuf,
    pub dir: TempDir,
}

impl Haproxy {
    /// None (after saying loudly that `test`, named with [`test_name!`],
    /// is skipped) where HAProxy or socat, which the hook speaks with, is
    /// not installed.
    pub fn start(test: &str) -> Option<Haproxy> {
        if !tools_installed(test, &[("haproxy", "-v"), ("socat", "-V")]) {
            return None;
        }
        let dir = TempDir::new();
        let socket = dir.path().join("admin.sock");
        let config = dir.file(
            "haproxy.cfg",
            &format!(
                "global\n    stats socket {} level admin\n\
                 defaults\n    mode tcp\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n\
                 backend web\n    server web-1 127.0.0.1:1\n    server web-2 127.0.0.1:2\n    server web-3 127.0.0.1:3\n",
                socket.display()
            ),
        );
        let process = Haproxy::run(&config, &socket);
        Some(Haproxy {
            process,
            config,
            socket,
            dir,
        })
    }

    /// HAProxy in the foreground on `config`, once its socket answers.
    fn run(config: &Path, socket: &Path) -> Running {
        let mut cmd = Command::new("haproxy");
        cmd.arg("-db").arg("-f").arg(config).stdin(Stdio::null());
        let (process, _stdout) = Running::start_raw(cmd, "haproxy");
        wait_for("HAProxy's socket to answer", PATIENCE, || {
            ask(socket, "show servers state web").ok()
        });
        process
    }

    /// Stops HAProxy and starts it again: a new process, every server
    /// ready, as a restart leaves them.
    pub fn restart(&mut self) {
        self.process.signal_and_wait("KILL");
        self.process = Haproxy::run(&self.config, &self.socket);
    }

    /// Each server of `web` and its state as set on the runtime API:
    /// `ready`, `maint` or `drain`.
    pub fn states(&self) -> BTreeMap<String, String> {
        let answer = ask(&self.socket, "show servers state web").unwrap();
        // `1` (the format's version), a `#` line naming the fields, then
        // a line a server: its name 4th, its administrative state 7th.
        answer
            .lines()
            .skip(2)
            .filter_map(|line| {
                let fields: Vec<&str> = line.split(' ').collect();
                let state = match fields.get(6)?.parse::<u32>().ok()? {
                    0 => "ready".to_owned(),
                    // Forced maintenance and forced drain.
                    admin if admin & 0x01 != 0 => "maint".to_owned(),
                    admin if admin & 0x08 != 0 => "drain".to_owned(),
                    admin => format!("admin state {admin}"),
                };
                Some((fields[3].to_owned(), state))
            })
            .collect()
    }

    /// Waits until `server` is in `state`; how long it took.
    #[track_caller]
    pub fn expect(&self, server: &str, state: &str) -> Duration {
        let start = Instant::now();
        let what = format!("{server} to go {state}");
        wait_for(&what, PATIENCE, || {
            (self.states().get(server)? == state).then_some(())
        });
        start.elapsed()
    }

    /// hb-listen running the hook on the events the README names, with
    /// `args`; its address.
    pub fn listener(&self, args: &[&str]) -> (Running, String) {
        let on = format!(
            "down,left,away,up,health,still-down=exec {} {} web",
            contrib_hook("haproxy").display(),
            self.socket.display()
        );
        let mut all = vec!["--on", on.as_str()];
        all.extend_from_slice(args);
        let (listener, to) = Running::listener(&all);
        (listener, to.to_string())
    }
}

/// One command on the runtime API, and HAProxy's answer.
pub fn ask(socket: &Path, command: &str) -> std::io::Result<String> {
    let mut conn = UnixStream::connect(socket)?;
    conn.set_read_timeout(Some(PATIENCE))?;
    conn.write_all(format!("{command}\n").as_bytes())?;
    let mut answer = String::new();
    conn.read_to_string(&mut answer)?;
    Ok(answer)
}

/// hb-send beating as `node` every 100 ms to `to`, with `args`.
fn sender(node: &str, to: &str, args: &[&str]) -> Running {
    let mut all = vec!["--node", node, "--every", "100ms", "--to", to];
    all.extend_from_slice(args);
    Running::spawn("hb-send", &all)
}

#[test]
fn a_dead_nodes_server_goes_to_maint_and_is_ready_again_when_it_beats() {
    let Some(haproxy) = Haproxy::start(test_name!()) else {
        return;
    };
    // Reminders set maint again and again: a state set twice is no error.
    let (mut listener, to) = haproxy.listener(&["--remind-every", "200ms"]);
    let first = sender("web-1", &to, &["--no-leave"]);
    let web_2 = sender("web-2", &to, &[]);
    listener.expect_each("up", &["web-1", "web-2"]);
    drop(first);
    listener.expect("down", |v| v["node"] == "web-1");
    haproxy.expect("web-1", "maint");
    listener.expect("still-down", |v| v["node"] == "web-1" && v["reminder"] == 2);
    assert_eq!(haproxy.states()["web-2"], "ready");

    let _back = sender("web-1", &to, &["--no-leave"]);
    listener.expect("up", |v| v["node"] == "web-1");
    haproxy.expect("web-1", "ready");

    // Stopped on purpose: out of rotation too.
    let mut web_2 = web_2;
    web_2.signal_and_wait("TERM");
    listener.expect("left", |v| v["node"] == "web-2");
    haproxy.expect("web-2", "maint");
    assert_eq!(haproxy.states()["web-1"], "ready");
    listener.assert_no_hook_failed();
}

#[test]
fn a_failing_check_drains_the_server_and_keeps_it_drained_when_it_comes_back() {
    let Some(haproxy) = Haproxy::start(test_name!()) else {
        return;
    };
    let (mut listener, to) = haproxy.listener(&[]);
    let failing = haproxy.dir.file("failing", "");
    let check = format!("http=test ! -e {} || exit 2", failing.display());
    let args = ["--no-leave", "--check", &check, "--check-every", "50ms"];
    let first = sender("web-1", &to, &args);
    listener.expect("health", |v| {
        v["node"] == "web-1" && v["status"] == "critical"
    });
    haproxy.expect("web-1", "drain");

    drop(first);
    listener.expect("down", |v| v["node"] == "web-1");
    haproxy.expect("web-1", "maint");
    // Back with the check that failed: its worst status did not change,
    // so no `health` line says it; the `up` does, and the server is never
    // made ready.
    let _back = sender("web-1", &to, &args);
    let up = listener.expect("up", |v| v["node"] == "web-1");
    assert_eq!(up["degraded"], true, "{up}");
    haproxy.expect("web-1", "drain");

    std::fs::remove_file(&failing).unwrap();
    listener.expect("health", |v| v["node"] == "web-1" && v["status"] == "ok");
    haproxy.expect("web-1", "ready");
    assert_eq!(haproxy.states()["web-2"], "ready");
    listener.assert_no_hook_failed();
}

#[test]
fn a_restarted_haproxy_is_brought_back_in_line_by_the_next_reminder() {
    let Some(mut haproxy) = Haproxy::start(test_name!()) else {
        return;
    };
    let period = Duration::from_secs(1);
    let (mut listener, to) = haproxy.listener(&["--remind-every", "1s"]);
    let web_1 = sender("web-1", &to, &["--no-leave"]);
    listener.expect("up", |v| v["node"] == "web-1");
    drop(web_1);
    listener.expect("down", |v| v["node"] == "web-1");
    haproxy.expect("web-1", "maint");

    // The listener held while HAProxy restarts, so that no reminder
    // comes before the fresh state is seen.
    listener.signal("STOP");
    haproxy.restart();
    // A fresh HAProxy knows nothing of it: the server takes requests...
    assert_eq!(haproxy.states()["web-1"], "ready");
    let restarted = wall_ms();
    listener.signal("CONT");
    // ...until the next reminder, a period later at most (and the time a
    // hook takes).
    let took = haproxy.expect("web-1", "maint");
    assert!(took <= period + Duration::from_secs(1), "{took:?}");
    listener.expect_after("still-down", restarted, |v| v["node"] == "web-1");
    assert_eq!(haproxy.states()["web-2"], "ready");
}

/// The README's resync at HAProxy's start puts every server as hb last
/// saw it, from the state file, and leaves out a name HAProxy would read
/// as commands.
#[test]
fn the_readmes_resync_puts_a_restarted_haproxy_in_line_from_the_state_file() {
    let Some(mut haproxy) = Haproxy::start(test_name!()) else {
        return;
    };
    let state = haproxy.dir.path().join("state.json");
    let (mut listener, to) =
        haproxy.listener(&["--state", state.to_str().unwrap(), "--state-every", "20ms"]);
    let web_1 = sender("web-1", &to, &["--no-leave"]);
    let _web_2 = sender("web-2", &to, &["--check", "http=exit 2"]);
    let mut web_3 = sender("web-3", &to, &[]);
    // Up in the state file, and a command that would take web-2 out of
    // rotation if its name were written on the socket.
    let hostile = "x;disable server web/web-2";
    send_raw(to.parse().unwrap(), &beat(hostile, "b", 1, 60_000));
    listener.expect_each("up", &[hostile, "web-1", "web-3"]);
    drop(web_1);
    web_3.signal_and_wait("TERM");
    haproxy.expect("web-1", "maint");
    haproxy.expect("web-2", "drain");
    haproxy.expect("web-3", "maint");
    crate::harness::wait_for_file(&state, "web-1 down and web-3 left", PATIENCE, |t| {
        t.contains(r#""down":["web-1"]"#) && t.contains(r#""left":["web-3"]"#)
    });

    haproxy.restart();
    let fresh = haproxy.states();
    assert!(fresh.values().all(|s| s == "ready"), "{fresh:?}");
    let script = readme_block("# /usr/local/bin/hb-haproxy-sync")
        .replace("/var/lib/hb/state.json", state.to_str().unwrap())
        .replace("/run/haproxy/admin.sock", haproxy.socket.to_str().unwrap());
    let out = Command::new("sh").arg("-c").arg(&script).output().unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{said}");
    let states = haproxy.states();
    let states: Vec<(&str, &str)> = states
        .iter()
        .map(|(server, state)| (server.as_str(), state.as_str()))
        .collect();
    assert_eq!(
        states,
        [("web-1", "maint"), ("web-2", "drain"), ("web-3", "maint")],
        "{said}"
    );
}

#[test]
fn a_node_named_with_haproxy_command_syntax_reaches_no_socket() {
    let Some(haproxy) = Haproxy::start(test_name!()) else {
        return;
    };
    let (mut listener, to) = haproxy.listener(&["--log-rejects"]);
    let addr = to.parse().unwrap();
    // On the runtime API, `;` starts a command of its own: this one would
    // take web-2 out of rotation.
    let hostile = "web-1;disable server web/web-2";
    send_raw(addr, &beat(hostile, "b", 1, 60_000));
    listener.expect("up", |v| v["node"] == hostile);
    let refused = listener.expect("hook", |v| v["node"] == hostile);
    assert_eq!(
        (&refused["event"], &refused["exit"]),
        (&"up".into(), &2.into())
    );
    let said = refused["stderr"].as_str().unwrap();
    assert_eq!(
        said,
        format!("haproxy: {hostile}: not an HAProxy server name, sent nowhere")
    );
    // A line of its own is refused by hb itself, before any hook.
    send_raw(
        addr,
        &beat(r"web-1\ndisable server web/web-2", "b", 1, 60_000),
    );
    let rejected = listener.expect("rejected", |_| true);
    assert_eq!(rejected["reason"], "bad-node", "{rejected}");
    assert!(listener
        .seen
        .iter()
        .all(|v| v["type"] != "up" || v["node"] == hostile));
    let states = haproxy.states();
    assert!(states.values().all(|s| s == "ready"), "{states:?}");

    // What the name would have done, had it reached the socket.
    ask(
        &haproxy.socket,
        &format!("set server web/{hostile} state maint"),
    )
    .unwrap();
    assert_eq!(haproxy.states()["web-2"], "maint");
}
