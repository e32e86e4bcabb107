//! Plugin checks carried in heartbeats and replies: any command, and so any
//! Nagios plugin. Its exit code is its status (0 ok, 1 warning, 2
//! critical, anything else unknown), its first output line the detail.
//! Alive is not healthy: this is what tells a router the difference.

use std::io::Read;
use std::process::{Command, Stdio};
use std::str::FromStr;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// A check's verdict, ordered by severity as Nagios' max_state_alt does:
/// critical > warning > unknown > ok.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckStatus {
    Ok,
    Unknown,
    Warning,
    Critical,
}

impl CheckStatus {
    /// From a plugin's exit code (None: killed or never ran).
    pub fn from_exit(code: Option<i32>) -> Self {
        match code {
            Some(0) => CheckStatus::Ok,
            Some(1) => CheckStatus::Warning,
            Some(2) => CheckStatus::Critical,
            _ => CheckStatus::Unknown,
        }
    }
}

/// One check's latest result, as it travels in `checks`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckResult {
    pub name: String,
    pub status: CheckStatus,
    /// The first line of its output, perfdata cut off, at most
    /// [`MAX_OUTPUT`] bytes so a beat stays one datagram.
    pub output: String,
}

/// Output kept per check.
pub const MAX_OUTPUT: usize = 200;

impl CheckResult {
    /// Makes text received from the network safe for one-line outputs:
    /// control characters become spaces, lengths are bounded.
    pub fn sanitize(&mut self) {
        for text in [&mut self.name, &mut self.output] {
            if text.chars().any(char::is_control) {
                *text = text
                    .chars()
                    .map(|c| if c.is_control() { ' ' } else { c })
                    .collect();
            }
            let mut end = text.len().min(MAX_OUTPUT);
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            text.truncate(end);
        }
    }
}

/// The worst status of `results`; None when there are none.
pub fn worst(results: &[CheckResult]) -> Option<CheckStatus> {
    results.iter().map(|r| r.status).max()
}

/// `--check 'NAME=COMMAND'` or `--check 'COMMAND'` (named after the
/// command's file name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckSpec {
    pub name: String,
    pub command: String,
}

impl FromStr for CheckSpec {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s.is_empty() {
            return Err("an empty check".into());
        }
        let named = s.split_once('=').filter(|(name, _)| {
            !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
        });
        let (name, command) = match named {
            Some((name, command)) => (name.to_owned(), command.trim().to_owned()),
            None => {
                let program = s.split_whitespace().next().unwrap_or(s);
                let name = program.rsplit('/').next().unwrap_or(program);
                (name.to_owned(), s.to_owned())
            }
        };
        if command.is_empty() {
            return Err(format!("check '{name}' has no command"));
        }
        Ok(CheckSpec { name, command })
    }
}

/// Runs one check through `sh -c`, killing it after `timeout`.
pub fn run_check(spec: &CheckSpec, timeout: Duration) -> CheckResult {
    let result = |status, output: String| CheckResult {
        name: spec.name.clone(),
        status,
        output,
    };
    let mut child = match Command::new("sh")
        .args(["-c", &spec.command])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
    {
        Ok(child) => child,
        Err(e) => return result(CheckStatus::Unknown, format!("cannot run: {e}")),
    };
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(10)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
        }
    };
    let Some(status) = status else {
        let secs = humantime::format_duration(timeout);
        return result(CheckStatus::Unknown, format!("timed out after {secs}"));
    };
    let mut out = String::new();
    if let Some(mut stdout) = child.stdout.take() {
        let _ = stdout.by_ref().take(64 * 1024).read_to_string(&mut out);
    }
    result(CheckStatus::from_exit(status.code()), first_line(&out))
}

/// A plugin's text: its first line, without perfdata, bounded.
fn first_line(out: &str) -> String {
    let line = out.lines().next().unwrap_or("");
    let text = line.split('|').next().unwrap_or("").trim();
    let mut end = text.len().min(MAX_OUTPUT);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}

/// Checks run in the background every `every`, so a beat or a reply never
/// waits on a plugin; the first round runs before `start` returns, so even
/// a one-shot beat carries real results.
#[derive(Clone)]
pub struct Checks {
    latest: Arc<Mutex<Vec<CheckResult>>>,
}

impl Checks {
    pub fn start(specs: Vec<CheckSpec>, every: Duration, timeout: Duration) -> Checks {
        let latest = Arc::new(Mutex::new(run_all(&specs, timeout)));
        let weak = Arc::downgrade(&latest);
        thread::Builder::new()
            .name("hb-checks".into())
            .spawn(move || loop {
                thread::sleep(every);
                let results = run_all(&specs, timeout);
                let Some(slot) = weak.upgrade() else {
                    return;
                };
                *slot.lock().unwrap_or_else(PoisonError::into_inner) = results;
            })
            .expect("spawning the checks thread");
        Checks { latest }
    }

    pub fn latest(&self) -> Vec<CheckResult> {
        self.latest
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// Every check at once (each on a thread of its own), so one slow plugin
/// delays the round by its own time only.
fn run_all(specs: &[CheckSpec], timeout: Duration) -> Vec<CheckResult> {
    thread::scope(|scope| {
        let handles: Vec<_> = specs
            .iter()
            .map(|spec| scope.spawn(move || run_check(spec, timeout)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a check thread panicked"))
            .collect()
    })
}

#[cfg(test)]
mod tests;
