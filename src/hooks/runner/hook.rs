//! One hook, run to its end by the worker that took it: `sh -c CMD` in a
//! process group of its own, the line written to its standard input and
//! its standard error read by the worker itself while it waits (no thread
//! of the hook's own), the group killed at the timeout. The hook is over
//! when its shell exits: a process it left in the background keeps
//! running, but not the pipes to it ([`crate::pipe::Tail::finish`]).

use std::io::{self, Write};
use std::os::fd::AsFd;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{Job, Report};
use crate::pipe::Tail;

/// The longest last line of standard error a report carries, in bytes.
const STDERR_LINE_MAX: usize = 512;

/// How often at most a worker looks whether its hook has ended.
const WAIT_POLL_MAX: Duration = Duration::from_millis(20);

/// How a hook ended.
enum Ended {
    Exited(ExitStatus),
    TimedOut,
    /// It could not be started, or waited for.
    Failed(io::Error),
}

/// Runs one hook to its end (or its timeout); its report if it failed.
pub(super) fn run(job: &Job, timeout: Duration) -> Option<Report> {
    let started = Instant::now();
    let (ended, stderr) = match spawn(job) {
        Ok(child) => watch(child, &job.line, started + timeout),
        Err(e) => (Ended::Failed(e), None),
    };
    let (exit, signal, timed_out, stderr) = match ended {
        Ended::Exited(status) if status.success() => return None,
        Ended::Exited(status) => (status.code(), status.signal(), false, stderr),
        Ended::TimedOut => (None, Some(libc::SIGKILL), true, stderr),
        Ended::Failed(e) => (None, None, false, Some(e.to_string())),
    };
    Some(Report::Hook {
        ok: false,
        event: job.kind.clone(),
        node: job.node.clone(),
        command: job.command.to_string(),
        exit,
        signal,
        timed_out,
        ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        stderr,
    })
}

/// `sh -c CMD` in a process group of its own, with the line's facts in
/// its environment. Its standard output goes to the tool's standard
/// error: the tool's standard output is for its own lines only.
fn spawn(job: &Job) -> io::Result<Child> {
    let stdout = io::stderr().as_fd().try_clone_to_owned()?;
    let addr = job.addr.map(|a| a.to_string()).unwrap_or_default();
    Command::new("/bin/sh")
        .arg("-c")
        .arg(&*job.command)
        .env("HB_EVENT", &job.kind)
        .env("HB_NODE", &job.node)
        .env("HB_ADDR", addr)
        .env("HB_TS_MS", job.ts_ms.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::from(stdout))
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
}

/// Waits for the hook's shell to end, looking more and more rarely (a
/// quick hook is seen within a millisecond), feeding its standard input
/// and reading its standard error meanwhile; past `deadline`, kills its
/// process group. How it ended, and the last line of its standard error.
fn watch(mut child: Child, line: &Arc<[u8]>, deadline: Instant) -> (Ended, Option<String>) {
    let mut stdin = Feed::new(child.stdin.take(), line);
    let mut stderr = child.stderr.take().map(|e| Tail::new(e, STDERR_LINE_MAX));
    let mut pause = Duration::from_millis(1);
    let ended = loop {
        stdin.push();
        match child.try_wait() {
            Ok(Some(status)) => break Ended::Exited(status),
            Ok(None) => {}
            Err(e) => break Ended::Failed(e),
        }
        let now = Instant::now();
        if now >= deadline {
            kill_group(&child);
            let _ = child.wait();
            break Ended::TimedOut;
        }
        let wait = pause.min(deadline - now);
        match &mut stderr {
            Some(stderr) => stderr.read_for(wait),
            None => std::thread::sleep(wait),
        }
        pause = (pause * 2).min(WAIT_POLL_MAX);
    };
    drop(stdin);
    (ended, stderr.and_then(Tail::finish))
}

/// The line on its way to the hook's standard input, written without
/// blocking between the worker's looks: a hook that never reads it must
/// not hold the worker (its end is then a broken pipe, which is no
/// failure of the hook). Closed once written, so the hook reads its end.
struct Feed {
    pipe: Option<ChildStdin>,
    line: Arc<[u8]>,
    written: usize,
}

impl Feed {
    fn new(pipe: Option<ChildStdin>, line: &Arc<[u8]>) -> Feed {
        if let Some(pipe) = &pipe {
            let _ = rustix::io::ioctl_fionbio(pipe, true);
        }
        Feed {
            pipe,
            line: Arc::clone(line),
            written: 0,
        }
    }

    /// Writes what the pipe takes now.
    fn push(&mut self) {
        let Some(pipe) = &mut self.pipe else {
            return;
        };
        while self.written < self.line.len() {
            match pipe.write(&self.line[self.written..]) {
                Ok(0) => break,
                Ok(n) => self.written += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(_) => break,
            }
        }
        self.pipe = None;
    }
}

/// Kills the hook and everything it started in its process group.
fn kill_group(child: &Child) {
    let Ok(group) = libc::pid_t::try_from(child.id()) else {
        return;
    };
    // SAFETY: kill(2) takes plain integers; a negative pid names the
    // process group the hook leads (it was spawned with process_group(0)),
    // which exists until the hook is reaped below.
    unsafe {
        libc::kill(-group, libc::SIGKILL);
    }
}
