//! The real binaries, running: their events read from stdout with
//! timeouts, their stderr echoed and searched.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, ChildStdin, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{bin, cmd, parse_event, parse_events, PATIENCE};

/// A running binary whose stdout is read as events. Killed on drop.
pub struct Running {
    child: Child,
    events: Receiver<Value>,
    stderr: Receiver<String>,
    /// Every event read so far, for assertions and failure messages.
    pub seen: Vec<Value>,
}

impl Running {
    pub fn spawn(name: &str, args: &[&str]) -> Running {
        let mut cmd = Command::new(bin(name));
        cmd.args(args).stdin(Stdio::null());
        Running::start(cmd, name)
    }

    /// Runs `cmd` (stdout read as events, stderr echoed and kept; stdin as
    /// the caller set it).
    pub fn start(cmd: Command, label: &str) -> Running {
        let (mut r, stdout) = Running::start_raw(cmd, label);
        let (tx, events) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(parse_event(&line)).is_err() {
                    break;
                }
            }
        });
        r.events = events;
        r
    }

    /// Like [`Running::start`], but hands over its stdout unread (to pipe
    /// into another process).
    pub fn start_raw(mut cmd: Command, label: &str) -> (Running, ChildStdout) {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawning {label}: {e}"));
        let stdout = child.stdout.take().unwrap();
        let (_, events) = mpsc::channel();
        let (tx, stderr) = mpsc::channel();
        let err = child.stderr.take().unwrap();
        let label = label.to_owned();
        thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                eprintln!("[{label} stderr] {line}");
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let r = Running {
            child,
            events,
            stderr,
            seen: Vec::new(),
        };
        (r, stdout)
    }

    /// Waits for the "listening on ADDR" line a binding tool prints.
    pub fn listening(&self) -> SocketAddr {
        self.stderr_address("listening on ").parse().unwrap()
    }

    /// Waits for a stderr line containing `marker`; returns what follows.
    pub fn stderr_address(&self, marker: &str) -> String {
        loop {
            let line = self
                .stderr
                .recv_timeout(PATIENCE)
                .unwrap_or_else(|_| panic!("no stderr line with {marker:?}"));
            if let Some((_, rest)) = line.rsplit_once(marker) {
                return rest.to_owned();
            }
        }
    }

    /// The stderr lines not read yet, up to the end of the output (call it
    /// once the process has ended).
    pub fn stderr_rest(&self) -> Vec<String> {
        let deadline = Instant::now() + PATIENCE;
        let mut lines = Vec::new();
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.stderr.recv_timeout(left) {
                Ok(line) => lines.push(line),
                Err(RecvTimeoutError::Disconnected) => return lines,
                Err(RecvTimeoutError::Timeout) => break,
            }
        }
        panic!("stderr never ended; read so far: {lines:?}");
    }

    /// The process's stdin, for a caller that set it to `Stdio::piped()`.
    pub fn take_stdin(&mut self) -> ChildStdin {
        self.child.stdin.take().expect("stdin was piped")
    }

    /// hb-listen on a free loopback port, with `args`; returns its address.
    pub fn listener(args: &[&str]) -> (Running, SocketAddr) {
        Running::bound("hb-listen", "127.0.0.1:0", args)
    }

    /// hb-ack on a free loopback port, with `args`; returns its address.
    pub fn responder(args: &[&str]) -> (Running, SocketAddr) {
        Running::bound("hb-ack", "127.0.0.1:0", args)
    }

    /// hb-ack on a free loopback port, with `args`, once its replies carry
    /// its health (the first reading takes a CPU sampling window).
    pub fn healthy_responder(args: &[&str]) -> (Running, SocketAddr) {
        let (r, addr) = Running::responder(args);
        let deadline = Instant::now() + PATIENCE;
        loop {
            let out = cmd("hb-poll").arg(addr.to_string()).output().unwrap();
            let events = parse_events(&out.stdout);
            if events
                .first()
                .is_some_and(|p| p["health"]["cpu_pct"].is_number())
            {
                return (r, addr);
            }
            assert!(Instant::now() < deadline, "hb-ack never sent health");
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// A binary with `--listen ADDR`, once it says where it listens.
    pub fn bound(name: &str, listen: &str, args: &[&str]) -> (Running, SocketAddr) {
        let mut all = vec!["--listen", listen];
        all.extend_from_slice(args);
        let r = Running::spawn(name, &all);
        let addr = r.listening();
        (r, addr)
    }

    /// Like [`Running::bound`] on an address a test just freed by ending
    /// the process that held it, to start its successor there: a port freed
    /// is anyone's, and another process may hold it for a moment (any
    /// socket bound to port 0 may be given it), so a start that finds the
    /// address in use is tried again, for up to [`PATIENCE`].
    pub fn bound_again(name: &str, listen: &str, args: &[&str]) -> Running {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let mut all = vec!["--listen", listen];
            all.extend_from_slice(args);
            let r = Running::spawn(name, &all);
            let in_use = loop {
                let line = r
                    .stderr
                    .recv_timeout(PATIENCE)
                    .unwrap_or_else(|_| panic!("{name} did not start on {listen}"));
                if line.contains("listening on ") {
                    assert!(line.ends_with(listen), "{name} is not on {listen}: {line}");
                    return r;
                }
                if line.contains("in use") {
                    break line;
                }
            };
            assert!(Instant::now() < deadline, "{in_use}");
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// The next event, or None after `wait` (or at end of output).
    pub fn next(&mut self, wait: Duration) -> Option<Value> {
        match self.events.recv_timeout(wait) {
            Ok(v) => {
                self.seen.push(v.clone());
                Some(v)
            }
            Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => None,
        }
    }

    /// Reads events until one of `kind` matches `pred`; panics (showing
    /// what was seen) if none comes within [`PATIENCE`].
    pub fn expect(&mut self, kind: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + PATIENCE;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.next(left) {
                Some(v) if v["type"] == kind && pred(&v) => return v,
                Some(_) => {}
                None => break,
            }
        }
        panic!("no matching `{kind}` event; seen:\n{}", self.history());
    }

    /// Reads events until each of `nodes` has had a `kind` event, in
    /// whatever order they come (one seen already counts).
    pub fn expect_each(&mut self, kind: &str, nodes: &[&str]) {
        for node in nodes {
            if self.seen_of(kind, node).is_empty() {
                self.expect(kind, |v| v["node"] == *node);
            }
        }
    }

    /// Like [`Running::expect`], for a verdict the test caused at
    /// `cause_ms` (see [`super::wall_ms`]: taken just before it killed or
    /// silenced something): a matching `kind` event stamped before then,
    /// seen now or earlier, fails the test, as a verdict that came before
    /// its cause is a false one, whatever came after it.
    pub fn expect_after(
        &mut self,
        kind: &str,
        cause_ms: u64,
        pred: impl Fn(&Value) -> bool,
    ) -> Value {
        let v = self.expect(kind, &pred);
        let early: Vec<&Value> = self
            .seen
            .iter()
            .filter(|e| e["type"] == kind && pred(e))
            .filter(|e| e["ts_ms"].as_u64().is_some_and(|ts| ts < cause_ms))
            .collect();
        assert!(
            early.is_empty(),
            "`{kind}` before its cause (ts_ms {cause_ms}): {early:?}; seen:\n{}",
            self.history()
        );
        v
    }

    /// Events of `kind` for `node` seen so far.
    pub fn seen_of(&self, kind: &str, node: &str) -> Vec<&Value> {
        self.seen
            .iter()
            .filter(|v| v["type"] == kind && v["node"] == node)
            .collect()
    }

    /// No hook failed, as far as the events seen so far say.
    #[track_caller]
    pub fn assert_no_hook_failed(&self) {
        let failed: Vec<&Value> = self.seen.iter().filter(|v| v["type"] == "hook").collect();
        assert!(failed.is_empty(), "hooks failed: {failed:?}");
    }

    pub fn history(&self) -> String {
        self.seen
            .iter()
            .map(|v| v.to_string())
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// The process id, to signal it.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends `signal` (e.g. "TERM") and waits for the exit.
    pub fn signal_and_wait(&mut self, signal: &str) -> ExitStatus {
        self.signal(signal);
        self.wait()
    }

    /// Sends `signal` ("TERM", "INT", "HUP", "KILL", "STOP" or "CONT") at
    /// once, without waiting.
    pub fn signal(&self, signal: &str) {
        let pid = libc::pid_t::try_from(self.child.id()).unwrap();
        // SAFETY: kill(2) has no memory effects; the pid is our child's,
        // not reaped yet (it is reaped only in `wait` and on drop).
        let sent = unsafe { libc::kill(pid, signal_number(signal)) };
        assert_eq!(
            sent,
            0,
            "kill -{signal}: {}",
            std::io::Error::last_os_error()
        );
    }

    /// Whether the process has a handler for `signal` installed (the
    /// `SigCgt` mask of /proc/PID/status): from then on the signal is the
    /// process's to handle, before then it ends the process.
    pub fn catches(&self, signal: &str) -> bool {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        let mask = status
            .lines()
            .find_map(|l| l.strip_prefix("SigCgt:"))
            .and_then(|m| u64::from_str_radix(m.trim(), 16).ok())
            .unwrap_or(0);
        mask & (1 << (signal_number(signal) - 1)) != 0
    }

    /// Waits for the process to end (killing it after [`PATIENCE`]).
    pub fn wait(&mut self) -> ExitStatus {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("process did not exit; seen:\n{}", self.history());
            }
            thread::sleep(Duration::from_millis(10));
        }
    }
}

fn signal_number(name: &str) -> libc::c_int {
    match name {
        "TERM" => libc::SIGTERM,
        "INT" => libc::SIGINT,
        "HUP" => libc::SIGHUP,
        "KILL" => libc::SIGKILL,
        "STOP" => libc::SIGSTOP,
        "CONT" => libc::SIGCONT,
        _ => panic!("no such signal in the tests: {name}"),
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
