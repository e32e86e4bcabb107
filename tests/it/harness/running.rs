//! The real binaries, running: their events read from stdout with
//! timeouts, their stderr echoed and searched.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{bin, parse_event, PATIENCE};

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

    /// hb-listen on a free loopback port, with `args`; returns its address.
    pub fn listener(args: &[&str]) -> (Running, SocketAddr) {
        Running::bound("hb-listen", "127.0.0.1:0", args)
    }

    /// hb-ack on a free loopback port, with `args`; returns its address.
    pub fn responder(args: &[&str]) -> (Running, SocketAddr) {
        Running::bound("hb-ack", "127.0.0.1:0", args)
    }

    /// A binary with `--listen ADDR`, once it says where it listens.
    pub fn bound(name: &str, listen: &str, args: &[&str]) -> (Running, SocketAddr) {
        let mut all = vec!["--listen", listen];
        all.extend_from_slice(args);
        let r = Running::spawn(name, &all);
        let addr = r.listening();
        (r, addr)
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

    /// Events of `kind` for `node` seen so far.
    pub fn seen_of(&self, kind: &str, node: &str) -> Vec<&Value> {
        self.seen
            .iter()
            .filter(|v| v["type"] == kind && v["node"] == node)
            .collect()
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

    /// The stderr lines not read yet; once the process has ended, all of
    /// them.
    pub fn stderr_lines(&self) -> Vec<String> {
        self.stderr.try_iter().collect()
    }

    /// Sends `signal` (e.g. "TERM") and waits for the exit.
    pub fn signal_and_wait(&mut self, signal: &str) -> ExitStatus {
        let ok = Command::new("kill")
            .args([format!("-{signal}"), self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(ok.success());
        self.wait()
    }

    /// Waits for the process to end (killing it after [`PATIENCE`]).
    fn wait(&mut self) -> ExitStatus {
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

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
