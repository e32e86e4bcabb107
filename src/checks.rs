//! Plugin checks carried in heartbeats and replies: any command, and so any
//! Nagios plugin. Its exit code is its status (0 ok, 1 warning, 2
//! critical, anything else unknown), its first output line the detail.
//! Alive is not healthy: this is what tells a router the difference.

use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::str::FromStr;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::pipe::Pipe;
use crate::text::cut;

pub mod fit;

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

/// `--check 'NAME=COMMAND'` or `--check 'COMMAND'`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckSpec {
    /// NAME, or for a plain plugin call (`/usr/lib/nagios/plugins/check_disk
    /// -w 10%`) the plugin's file name; `None` for shell code (`sleep 1;
    /// exit 2`), whose first word names nothing: it is named by its place,
    /// see [`CheckSpec::name_at`].
    pub name: Option<String>,
    pub command: String,
}

impl CheckSpec {
    /// Its name as the `place`-th check (from 0): its own, or `check1`,
    /// `check2`, ...
    pub fn name_at(&self, place: usize) -> String {
        self.name
            .clone()
            .unwrap_or_else(|| format!("check{}", place + 1))
    }
}

/// What makes a command shell code rather than one program's call: lists,
/// pipes, redirections, subshells, expansions.
const SHELL_SYNTAX: &[char] = &[';', '&', '|', '<', '>', '(', ')', '`', '$', '\n'];

impl FromStr for CheckSpec {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s.is_empty() {
            return Err("an empty check".into());
        }
        // `=CMD` (or a bare `=`) is a NAME=CMD without its name.
        if s.starts_with('=') {
            return Err(format!("check '{s}' has no name before '=' (NAME=CMD)"));
        }
        let named = s.split_once('=').filter(|(name, _)| {
            !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
        });
        let (name, command) = match named {
            Some((name, command)) => (Some(name.to_owned()), command.trim().to_owned()),
            None => (plugin_name(s), s.to_owned()),
        };
        if command.is_empty() {
            let name = name.unwrap_or_default();
            return Err(format!("check '{name}' has no command"));
        }
        Ok(CheckSpec { name, command })
    }
}

/// The file name of the program `command` runs, when it is one plain
/// program call: `check_disk` for `/usr/lib/nagios/plugins/check_disk -w
/// 10%`; none for shell code.
fn plugin_name(command: &str) -> Option<String> {
    if command.contains(SHELL_SYNTAX) {
        return None;
    }
    let program = command.split_whitespace().next()?;
    let plain = |c: char| c.is_ascii_alphanumeric() || "_.+-/".contains(c);
    let name = program.rsplit('/').next()?;
    (!name.is_empty() && program.chars().all(plain)).then(|| name.to_owned())
}

/// Output read from a check and kept: the first line is all that travels,
/// but it may be long, and perfdata after it is cut anyway.
const MAX_READ: usize = 4096;

/// How often a running check is looked at: whether its shell has exited.
const CHECK_POLL: Duration = Duration::from_millis(10);

/// Runs one check through `sh -c` in a process group of its own. Its output
/// is read while it runs (the first `MAX_READ` bytes kept, the rest read
/// and dropped, so a chatty plugin never blocks on a full pipe). The check
/// is over when its shell exits: whatever it left running in its group is
/// killed, and what is already in the pipe is read without waiting for a
/// background child holding it open. At `timeout` the whole group is
/// killed and the check is unknown.
pub fn run_check(name: &str, command: &str, timeout: Duration) -> CheckResult {
    let result = |status, output: String| CheckResult {
        name: name.to_owned(),
        status,
        output,
    };
    let mut child = match Command::new("sh")
        .args(["-c", command])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
    {
        Ok(child) => child,
        Err(e) => return result(CheckStatus::Unknown, format!("cannot run: {e}")),
    };
    let group = child.id() as libc::pid_t;
    let stdout = child.stdout.take().expect("stdout is piped");
    let mut output = Pipe::new(stdout);
    let mut kept = Vec::new();
    let mut keep = |piece: &[u8]| {
        let room = MAX_READ - kept.len();
        kept.extend_from_slice(&piece[..piece.len().min(room)]);
    };
    let deadline = Instant::now() + timeout;
    let status = loop {
        if has_exited(group) {
            // Read what the shell wrote; then nothing it left behind may
            // hold the check up.
            kill_group(group);
            output.drain(&mut keep);
            match child.wait() {
                Ok(status) => break status,
                Err(e) => return result(CheckStatus::Unknown, format!("cannot wait: {e}")),
            }
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            kill_group(group);
            let _ = child.wait();
            let secs = humantime::format_duration(timeout);
            return result(CheckStatus::Unknown, format!("timed out after {secs}"));
        }
        output.read_for(left.min(CHECK_POLL), &mut keep);
    };
    result(CheckStatus::from_exit(status.code()), first_line(&kept))
}

/// Whether the check's shell (`pid`) has exited, without reaping it:
/// until it is reaped its pid, and so its group's id, cannot be taken by
/// another process, which makes killing the group afterwards safe.
fn has_exited(pid: libc::pid_t) -> bool {
    // SAFETY: waitid(2) writes a siginfo_t, which all-zero initialises;
    // WNOWAIT leaves the child to `Child::wait`.
    unsafe {
        let mut info: libc::siginfo_t = std::mem::zeroed();
        let flags = libc::WEXITED | libc::WNOHANG | libc::WNOWAIT;
        libc::waitid(libc::P_PID, pid as libc::id_t, &mut info, flags) == 0 && info.si_pid() != 0
    }
}

/// Kills every process of a check's group. The shell may have exited
/// (not reaped yet); its group lives on while any member does.
fn kill_group(group: libc::pid_t) {
    // SAFETY: kill(2) with a negative pid signals a process group; no
    // memory is involved.
    unsafe {
        libc::kill(-group, libc::SIGKILL);
    }
}

/// A plugin's text: its first line, without perfdata, bounded (a line
/// that had to be cut ends with "…").
fn first_line(out: &[u8]) -> String {
    let out = String::from_utf8_lossy(out);
    let line = out.lines().next().unwrap_or("");
    let text = line.split('|').next().unwrap_or("").trim();
    cut(text, MAX_OUTPUT)
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
            .enumerate()
            .map(|(place, spec)| {
                scope.spawn(move || run_check(&spec.name_at(place), &spec.command, timeout))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a check thread panicked"))
            .collect()
    })
}

#[cfg(test)]
mod tests;
