//! Shared helpers for the integration tests: run the real binaries, read
//! their NDJSON output with timeouts, and send hand-made datagrams.
#![allow(dead_code)] // each test binary uses its own subset

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

/// Long enough never to fire on a loaded CI machine; only bounds a hang.
pub const PATIENCE: Duration = Duration::from_secs(15);

pub fn bin(name: &str) -> PathBuf {
    assert_cmd::cargo::cargo_bin(name)
}

/// For one-shot runs with assertions on the outcome.
pub fn cmd(name: &str) -> assert_cmd::Command {
    assert_cmd::Command::new(bin(name))
}

/// Checks one stdout line against the output contract and parses it.
pub fn parse_event(line: &str) -> Value {
    assert!(
        line.starts_with("{\"type\":\""),
        "type must come first: {line}"
    );
    let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
    let ts = v["ts"].as_str().unwrap_or_else(|| panic!("no ts: {line}"));
    let ts_ms = v["ts_ms"]
        .as_u64()
        .unwrap_or_else(|| panic!("no ts_ms: {line}"));
    assert!(
        ts.ends_with('Z') && ts.len() == 24,
        "ts not RFC 3339 ms UTC: {line}"
    );
    let parsed = humantime::parse_rfc3339(ts).unwrap();
    let ms = parsed
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    assert_eq!(ms, ts_ms, "ts and ts_ms disagree: {line}");
    v
}

/// A running binary whose stdout is read as events.
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
    pub fn start_raw(mut cmd: Command, label: &str) -> (Running, std::process::ChildStdout) {
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

    /// Remaining stderr lines, once the process has ended.
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

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends one datagram from a fresh socket.
pub fn send_raw(to: SocketAddr, datagram: &[u8]) {
    let any = if to.is_ipv6() {
        "[::1]:0"
    } else {
        "127.0.0.1:0"
    };
    UdpSocket::bind(any).unwrap().send_to(datagram, to).unwrap();
}

/// A beat as any language could write it.
pub fn beat(node: &str, boot: &str, seq: u64, every_ms: u64) -> Vec<u8> {
    format!(
        r#"{{"type":"beat","node":"{node}","boot":"{boot}","seq":{seq},"every_ms":{every_ms}}}"#
    )
    .into_bytes()
}

/// Says that a test was skipped, where a person sees it: straight to the
/// process's stderr, past the test harness's capture. With
/// HB_REQUIRE_TOOLS set (CI, which installs the tools) a skip is a failure.
pub fn skip(test: &str, why: &str) {
    if std::env::var_os("HB_REQUIRE_TOOLS").is_some() {
        panic!("{test} cannot run and HB_REQUIRE_TOOLS is set: {why}");
    }
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "SKIPPED {test}: {why}");
}

/// A network namespace of the test's own, with loopback up: processes in
/// it share a private 127.0.0.1 whose packets nft rules may drop without
/// touching the host. Deleted on drop.
pub struct Netns {
    pub name: String,
}

impl Netns {
    /// None (after saying so loudly) where this machine cannot make one.
    pub fn new(test: &str) -> Option<Netns> {
        for tool in ["ip", "nft"] {
            let found = Command::new("sh")
                .args(["-c", &format!("command -v {tool}")])
                .stdout(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if !found {
                skip(
                    test,
                    &format!("`{tool}` is not installed (Debian: iproute2, nftables)"),
                );
                return None;
            }
        }
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let name = format!("hbtest-{}-{n}", std::process::id());
        let made = Command::new("ip")
            .args(["netns", "add", &name])
            .output()
            .unwrap();
        if !made.status.success() {
            let why = String::from_utf8_lossy(&made.stderr).trim().to_owned();
            skip(
                test,
                &format!("cannot create a network namespace (root needed): {why}"),
            );
            return None;
        }
        let ns = Netns { name };
        ns.ip(&["link", "set", "lo", "up"]);
        Some(ns)
    }

    /// `program` run inside the namespace.
    pub fn command(&self, program: &std::path::Path) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.name]).arg(program);
        cmd
    }

    pub fn ip(&self, args: &[&str]) {
        let ok = Command::new("ip")
            .arg("-n")
            .arg(&self.name)
            .args(args)
            .status()
            .unwrap();
        assert!(ok.success(), "ip {args:?}");
    }

    /// Loads an nft script (`nft -f -`) inside the namespace.
    pub fn nft(&self, script: &str) {
        use std::io::Write;
        let mut child = Command::new("ip")
            .args(["netns", "exec", &self.name, "nft", "-f", "-"])
            .stdin(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(script.as_bytes())
            .unwrap();
        assert!(child.wait().unwrap().success(), "nft: {script}");
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

/// A key file in this test process's own temporary directory, with `mode`.
pub fn key_file(name: &str, contents: &str, mode: u32) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let dir = std::env::temp_dir().join(format!("hb-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, contents).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    path
}
