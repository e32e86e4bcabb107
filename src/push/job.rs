//! `hb-send --run -- CMD`: a command run as a job under watch, a dead
//! man's switch for cron and batch jobs.
//!
//! Before CMD runs, every target is told `start`; after it ends, `done`
//! with how it ended (exit code or signal), how long it took and the last
//! line of its standard error. Each message states when the job is due
//! next ([`Plan`]), so the listener judges it by its own schedule. CMD
//! inherits stdin, stdout and stderr (its standard error is passed through
//! as it comes, its last line kept), and its fate is hb-send's: hb-send
//! exits with its exit code, 128 + N when signal N killed it. Sending
//! never changes that: a target that cannot be told is reported on
//! stderr, and the command runs all the same.

use std::ffi::OsString;
use std::io::{self, Read, Write};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use super::plan::Plan;
use super::send::Beater;
use crate::clock::wall_ms;
use crate::wire::{clean_line, Ended, MAX_JOB_MS, MAX_STDERR_LEN};

/// How often the command is looked at while it runs (its end, and a stop
/// to pass on).
const WAIT_POLL: Duration = Duration::from_millis(10);

/// How long the command's standard error may stay open after it ended (a
/// process it left in the background may hold it) before its last line is
/// taken as it stands.
const STDERR_GRACE: Duration = Duration::from_secs(1);

/// Runs `command` as a job: `start`, the command, `done`. Returns the
/// exit code hb-send ends with: the command's, 128 + N for signal N, 127
/// for a command that could not be found, 126 for one that could not be
/// run. Stopped (`stop`: SIGTERM, SIGINT), hb-send passes SIGTERM on to
/// the command and waits for its end.
pub fn run<W: Write>(
    mut beater: Option<&mut Beater<W>>,
    plan: &Plan,
    command: &[OsString],
    stop: &AtomicBool,
) -> u8 {
    let started = Instant::now();
    let wall = wall_ms();
    let due = plan.due_after(wall);
    if let Some(beater) = beater.as_mut() {
        let said = beater.say_start(due, plan.max_run_at(wall, due));
        warn_unsent("start", said);
    }

    let (ended, stderr) = match spawn(command) {
        Ok(mut child) => {
            let last_line = tee_stderr(&mut child);
            let status = wait(&mut child, stop);
            // Its standard error closes when its last holder ends.
            let stderr = last_line.recv_timeout(STDERR_GRACE).ok().flatten();
            (ended_by(status), stderr)
        }
        Err(e) => {
            let code = match e.kind() {
                io::ErrorKind::NotFound => 127,
                _ => 126,
            };
            let message = format!("{}: {e}", command[0].to_string_lossy());
            crate::say!("{message}");
            (Ended::Exit(code), Some(clean_line(&message).into_owned()))
        }
    };
    let duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    if let Some(beater) = beater {
        let said = beater.say_done(
            plan.due_after(wall_ms()),
            ended,
            duration_ms.min(MAX_JOB_MS),
            stderr.as_deref().filter(|s| !s.is_empty()),
        );
        warn_unsent("end", said);
    }
    match ended {
        Ended::Exit(code) => code,
        Ended::Signal(signal) => 128u8.saturating_add(signal),
    }
}

/// Says on stderr that the run's `what` reached not every target.
fn warn_unsent(what: &str, said: io::Result<u64>) {
    match said {
        Ok(0) => {}
        Ok(n) => crate::say!("warning: the {what} of the run could not be sent to {n} target(s); the command's fate is unchanged"),
        Err(e) => crate::say!("warning: the {what} of the run could not be sent: {e}; the command's fate is unchanged"),
    }
}

fn spawn(command: &[OsString]) -> io::Result<Child> {
    Command::new(&command[0])
        .args(&command[1..])
        .stderr(Stdio::piped())
        .spawn()
}

/// Waits for the command to end; a stop asked of hb-send is passed on to
/// it as SIGTERM, once.
fn wait(child: &mut Child, stop: &AtomicBool) -> io::Result<ExitStatus> {
    let mut passed_on = false;
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(status);
        }
        if !passed_on && stop.load(Ordering::Relaxed) {
            passed_on = true;
            if let Ok(pid) = libc::pid_t::try_from(child.id()) {
                // SAFETY: kill(2) on our own child, which has not been
                // reaped (try_wait saw it running), so the pid is its own.
                unsafe { libc::kill(pid, libc::SIGTERM) };
            }
        }
        thread::sleep(WAIT_POLL);
    }
}

/// How the command ended; a wait that failed counts as a failure of its
/// own (exit 1), as the command's fate is unknown.
fn ended_by(status: io::Result<ExitStatus>) -> Ended {
    use std::os::unix::process::ExitStatusExt;
    let status = match status {
        Ok(status) => status,
        Err(e) => {
            crate::say!("waiting for the command: {e}");
            return Ended::Exit(1);
        }
    };
    match (status.code(), status.signal()) {
        (Some(code), _) => Ended::Exit(u8::try_from(code & 0xff).unwrap_or(1)),
        (None, Some(signal)) => Ended::Signal(u8::try_from(signal).unwrap_or(u8::MAX)),
        (None, None) => Ended::Exit(1),
    }
}

/// Passes the command's standard error through to ours as it comes, and
/// sends its last line (see [`LastLine`]) when it closes.
fn tee_stderr(child: &mut Child) -> mpsc::Receiver<Option<String>> {
    let (tx, rx) = mpsc::channel();
    let Some(mut from) = child.stderr.take() else {
        return rx;
    };
    let _ = thread::Builder::new()
        .name("hb-send-stderr".into())
        .spawn(move || {
            let mut last = LastLine::default();
            let mut to = io::stderr();
            let mut buf = [0u8; 8192];
            loop {
                match from.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => {
                        // Ours closed: the command still runs, unheard.
                        let _ = to.write_all(&buf[..n]);
                        last.feed(&buf[..n]);
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(_) => break,
                }
            }
            let _ = tx.send(last.finish());
        });
    rx
}

/// The last non-empty line of a stream fed a piece at a time, in bounded
/// memory: a line is kept up to a few times [`MAX_STDERR_LEN`] bytes, and
/// made one for a `done` by [`clean_line`].
#[derive(Debug, Default)]
pub(super) struct LastLine {
    line: Vec<u8>,
    last: Option<String>,
}

/// Bytes of a line kept: enough to fill [`MAX_STDERR_LEN`] after control
/// characters and blanks are cut, and to know that it was cut.
const LINE_KEPT: usize = 4 * MAX_STDERR_LEN;

impl LastLine {
    pub(super) fn feed(&mut self, bytes: &[u8]) {
        let mut pieces = bytes.split(|&b| b == b'\n').peekable();
        while let Some(piece) = pieces.next() {
            let room = LINE_KEPT.saturating_sub(self.line.len());
            self.line.extend_from_slice(&piece[..piece.len().min(room)]);
            if pieces.peek().is_some() {
                self.end_line();
            }
        }
    }

    fn end_line(&mut self) {
        let text = String::from_utf8_lossy(&self.line);
        let clean = clean_line(&text);
        if !clean.is_empty() {
            self.last = Some(clean.into_owned());
        }
        self.line.clear();
    }

    pub(super) fn finish(mut self) -> Option<String> {
        self.end_line();
        self.last
    }
}

#[cfg(test)]
mod tests;
