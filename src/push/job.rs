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
use std::io::{self, Write};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::plan::Plan;
use super::send::Beater;
use crate::clock::wall_ms;
use crate::pipe::Tail;
use crate::wire::{clean_line, Ended, MAX_JOB_MS, MAX_STDERR_LEN};

/// How often the command is looked at while it runs (its end, and a stop
/// to pass on), its standard error read in between.
const WAIT_POLL: Duration = Duration::from_millis(10);

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
            let mut stderr = child
                .stderr
                .take()
                .map(|e| Tail::new(e, MAX_STDERR_LEN).passing_through());
            let status = wait(&mut child, stop, stderr.as_mut());
            // What a process it left in the background says after a grace
            // is not waited for: the last line is the one read by then.
            (ended_by(status), stderr.and_then(Tail::finish))
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

/// Waits for the command to end, passing its standard error through
/// meanwhile; a stop asked of hb-send is passed on to it as SIGTERM, once.
fn wait(
    child: &mut Child,
    stop: &AtomicBool,
    mut stderr: Option<&mut Tail>,
) -> io::Result<ExitStatus> {
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
        match stderr.as_deref_mut() {
            Some(stderr) => stderr.read_for(WAIT_POLL),
            None => std::thread::sleep(WAIT_POLL),
        }
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
