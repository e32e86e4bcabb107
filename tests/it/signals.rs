//! SIGINT and SIGTERM on a tool that is stuck: the first sets the stop
//! flag the tool checks between steps, the second ends it at once with
//! exit 1 (signal-hook's conditional shutdown, registered before the flag,
//! sees the flag the first one set).
//!
//! hb-listen replaying stdin is stuck by design: it reads its next line on
//! its only thread, and a signal does not interrupt the read. Each signal
//! is sent only once the previous one was taken (no longer pending), so
//! two never merge into one.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::harness::{beat_with, bin, parse_event, wait_for, PATIENCE};

/// A recorded beat of `node` at `ts_ms`.
fn line(node: &str, ts_ms: u64) -> Vec<u8> {
    beat_with(node, "b", 1, 1000, &format!(r#""ts_ms":{ts_ms}"#))
}

/// `hb-listen --from - --replay`, with its stdin to write to and its
/// events to read.
struct Replaying {
    child: Child,
    stdin: ChildStdin,
    events: Receiver<Value>,
}

impl Replaying {
    /// Started, and past its start: it has judged a first beat (so its
    /// signal handlers are installed) and waits for the next line.
    fn start() -> Replaying {
        let mut child = Command::new(bin("hb-listen"))
            .args(["--from", "-", "--replay"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, events) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(parse_event(&line)).is_err() {
                    break;
                }
            }
        });
        let mut r = Replaying {
            child,
            stdin,
            events,
        };
        r.write(&line("first", 1_000_000));
        let up = r.events.recv_timeout(PATIENCE).expect("an up event");
        assert_eq!((&up["type"], &up["node"]), (&"up".into(), &"first".into()));
        r
    }

    fn write(&mut self, line: &[u8]) {
        self.stdin.write_all(line).unwrap();
        self.stdin.write_all(b"\n").unwrap();
    }

    /// Sends `signal` and waits until the process has taken it: it is no
    /// longer pending, for the thread or for the process.
    fn signal(&mut self, signal: &str) {
        let sent = Command::new("kill")
            .args([format!("-{signal}"), self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
        wait_for(&format!("SIG{signal} to be taken"), PATIENCE, || {
            (!self.pending()).then_some(())
        });
    }

    /// Whether a signal is pending, per /proc/PID/status (a process that
    /// has exited has none).
    fn pending(&self) -> bool {
        let path = format!("/proc/{}/status", self.child.id());
        let Ok(status) = std::fs::read_to_string(path) else {
            return false;
        };
        status
            .lines()
            .filter(|l| l.starts_with("SigPnd:") || l.starts_with("ShdPnd:"))
            .any(|l| {
                l.split_whitespace()
                    .nth(1)
                    .is_some_and(|mask| mask.chars().any(|c| c != '0'))
            })
    }

    /// Waits for the exit (killing the process after [`PATIENCE`]).
    fn exit(&mut self) -> ExitStatus {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("hb-listen did not exit");
            }
            thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Replaying {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn a_second_signal_ends_a_stuck_tool_with_exit_1() {
    for signal in ["INT", "TERM"] {
        let mut listen = Replaying::start();
        listen.signal(signal);
        // Taken, but the tool is still reading its next line.
        assert!(listen.child.try_wait().unwrap().is_none(), "SIG{signal}");
        listen.signal(signal);
        assert_eq!(listen.exit().code(), Some(1), "SIG{signal}");
    }
}

#[test]
fn the_first_signal_stops_a_stuck_tool_at_its_next_step() {
    let mut listen = Replaying::start();
    listen.signal("INT");
    assert!(listen.child.try_wait().unwrap().is_none());
    // The next line ends the read; the flag stops the tool before judging it.
    listen.write(&line("late", 1_000_100));
    assert_eq!(listen.exit().code(), Some(0));
    // Its output ends without another event.
    match listen.events.recv_timeout(PATIENCE) {
        Err(RecvTimeoutError::Disconnected) => {}
        other => panic!("judged after SIGINT: {other:?}"),
    }
}
