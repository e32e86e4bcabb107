//! The hooks' runner: the loop offers lines to a bounded queue under a
//! lock it holds for microseconds, worker threads take them in order (a
//! node's next job only once its previous one ended) and run each as
//! `sh -c CMD` in a process group of its own, killed whole at the timeout.
//! Failures and drops are collected for the loop to print.

use std::collections::{HashSet, VecDeque};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::os::fd::AsFd;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, ChildStderr, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::{About, HookSpec};
use crate::clock::Millis;
use crate::output::Said;

/// Jobs waiting for a worker at most; past that, events are dropped and
/// counted. A few minutes of a busy fleet's transitions, far more than a
/// healthy hook ever lags behind.
pub const QUEUE: usize = 256;

/// While hooks run or wait, how often the loop looks for their reports.
const REPORT_POLL: Millis = 100;

/// How often at most a `hook-overflow` line is printed: drops in between
/// are added up in the next one.
const OVERFLOW_REPORT_EVERY: Millis = 1000;

/// How long a finished hook's standard error may take to close (a process
/// it left in the background may hold it) before its last line is given up.
const STDERR_GRACE: Duration = Duration::from_secs(1);

/// The longest last line of standard error a report carries, in bytes.
const STDERR_LINE_MAX: usize = 512;

/// How often at most a worker looks whether its hook has ended.
const WAIT_POLL_MAX: Duration = Duration::from_millis(20);

/// One hook to run on one line.
struct Job {
    command: Arc<str>,
    kind: String,
    /// The node (or path) the line is about: jobs of one node run in order.
    node: String,
    addr: Option<SocketAddr>,
    ts_ms: u64,
    line: Arc<[u8]>,
}

/// What the loop and the workers share, under one lock.
#[derive(Default)]
struct Queue {
    waiting: VecDeque<Job>,
    /// Nodes whose hook is running: their next job waits for it.
    busy: HashSet<String>,
    running: usize,
    /// Jobs dropped because the queue was full, since the start.
    dropped: u64,
    failed: Vec<Report>,
    /// The loop has gone: workers end once idle.
    closed: bool,
}

struct Shared {
    queue: Mutex<Queue>,
    work: Condvar,
}

impl Shared {
    /// The queue, even after a worker panicked holding it: the data is
    /// counters and jobs, never left half-changed.
    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The lines the runner prints about itself.
#[derive(Debug, Serialize, PartialEq)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Report {
    /// A hook that failed: exited non-zero, was killed, timed out, or
    /// could not start.
    Hook {
        ok: bool,
        event: String,
        node: String,
        command: String,
        /// Its exit status; null when a signal ended it or it never ran.
        exit: Option<i32>,
        /// The signal that ended it, if one did.
        signal: Option<i32>,
        /// Killed (with its process group) after `--on-timeout`.
        timed_out: bool,
        /// How long it ran.
        ms: u64,
        /// The last non-empty line of its standard error (or why it could
        /// not start); null when it said nothing.
        stderr: Option<String>,
    },
    /// The queue was full: `dropped` events never reached their hooks.
    HookOverflow {
        /// Dropped since the last such line.
        dropped: u64,
        /// Dropped since the start.
        dropped_total: u64,
        /// The queue's size.
        queue: usize,
    },
}

/// The hooks of one tool and their workers.
pub struct Hooks {
    specs: Vec<(HookSpec, Arc<str>)>,
    shared: Arc<Shared>,
    /// Drops already printed, and when the last `hook-overflow` was.
    reported_dropped: u64,
    overflow_reported_at: Option<Millis>,
}

impl Hooks {
    /// Starts `jobs` workers (at least one) that kill a hook after `timeout`.
    pub fn start(specs: Vec<HookSpec>, jobs: usize, timeout: Duration) -> io::Result<Hooks> {
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue::default()),
            work: Condvar::new(),
        });
        for _ in 0..jobs.max(1) {
            let shared = Arc::clone(&shared);
            thread::Builder::new()
                .name("hb-hook".into())
                .spawn(move || work(&shared, timeout))?;
        }
        let specs = specs
            .into_iter()
            .map(|s| {
                let command = Arc::from(s.command());
                (s, command)
            })
            .collect();
        Ok(Hooks {
            specs,
            shared,
            reported_dropped: 0,
            overflow_reported_at: None,
        })
    }

    /// Whether some hook runs on events of type `kind`.
    pub fn wants(&self, kind: &str) -> bool {
        self.specs.iter().any(|(s, _)| s.wants(kind))
    }

    /// Queues `line` (stamped `ts_ms`) for every hook that wants `kind`;
    /// a full queue drops the job and counts it. Never waits for a worker.
    pub fn offer(&mut self, kind: &str, about: &About, ts_ms: u64, line: Vec<u8>) {
        let line: Arc<[u8]> = line.into();
        let mut queue = self.shared.lock();
        for (_, command) in self.specs.iter().filter(|(s, _)| s.wants(kind)) {
            if queue.waiting.len() >= QUEUE {
                queue.dropped += 1;
                continue;
            }
            queue.waiting.push_back(Job {
                command: Arc::clone(command),
                kind: kind.to_owned(),
                node: about.name().to_owned(),
                addr: about.addr(),
                ts_ms,
                line: Arc::clone(&line),
            });
        }
        drop(queue);
        self.shared.work.notify_all();
    }

    /// The `hook` lines of hooks that failed since the last call (`now`),
    /// and a `hook-overflow` line when events were dropped (at most one a
    /// second).
    pub fn report(&mut self, now: Millis, said: &mut Vec<Said>) {
        let (failed, dropped) = {
            let mut queue = self.shared.lock();
            (std::mem::take(&mut queue.failed), queue.dropped)
        };
        said.extend(failed.iter().filter_map(|report| Said::new(report).ok()));
        let quiet = self
            .overflow_reported_at
            .is_some_and(|at| now < at + OVERFLOW_REPORT_EVERY);
        if dropped > self.reported_dropped && !quiet {
            let report = Report::HookOverflow {
                dropped: dropped - self.reported_dropped,
                dropped_total: dropped,
                queue: QUEUE,
            };
            said.extend(Said::new(&report).ok());
            self.reported_dropped = dropped;
            self.overflow_reported_at = Some(now);
        }
    }

    /// When the loop should next call [`Hooks::report`] (`now`: its last
    /// call): soon while hooks run or wait, or when drops wait to be told.
    pub fn next_wake(&self, now: Millis) -> Option<Millis> {
        let queue = self.shared.lock();
        let busy = queue.running > 0 || !queue.waiting.is_empty() || !queue.failed.is_empty();
        let untold = queue.dropped > self.reported_dropped;
        drop(queue);
        let overflow = untold.then(|| {
            self.overflow_reported_at
                .map_or(now, |at| at + OVERFLOW_REPORT_EVERY)
        });
        busy.then_some(now + REPORT_POLL)
            .into_iter()
            .chain(overflow)
            .min()
    }

    /// No hook runs nor waits: the tests' way to let them finish.
    #[cfg(test)]
    pub(super) fn idle(&self) -> bool {
        let queue = self.shared.lock();
        queue.running == 0 && queue.waiting.is_empty()
    }
}

impl Drop for Hooks {
    /// The workers end once the hooks they run have ended; queued jobs are
    /// not run.
    fn drop(&mut self) {
        let mut queue = self.shared.lock();
        queue.closed = true;
        queue.waiting.clear();
        drop(queue);
        self.shared.work.notify_all();
    }
}

/// A worker: takes the oldest job whose node has no hook running, runs
/// it, reports a failure, until the hooks are dropped.
fn work(shared: &Shared, timeout: Duration) {
    loop {
        let job = {
            let mut queue = shared.lock();
            loop {
                if queue.closed {
                    return;
                }
                let runnable = queue
                    .waiting
                    .iter()
                    .position(|j| !queue.busy.contains(&j.node));
                if let Some(job) = runnable.and_then(|i| queue.waiting.remove(i)) {
                    queue.busy.insert(job.node.clone());
                    queue.running += 1;
                    break job;
                }
                queue = shared.work.wait(queue).unwrap_or_else(|e| e.into_inner());
            }
        };
        let failure = run(&job, timeout);
        let mut queue = shared.lock();
        queue.busy.remove(&job.node);
        queue.running -= 1;
        queue.failed.extend(failure);
        drop(queue);
        // The node's next job may wait for another worker.
        shared.work.notify_all();
    }
}

/// How a hook ended.
enum Ended {
    Exited(ExitStatus),
    TimedOut,
    /// It could not be started, or waited for.
    Failed(io::Error),
}

/// Runs one hook to its end (or its timeout); its report if it failed.
fn run(job: &Job, timeout: Duration) -> Option<Report> {
    let started = Instant::now();
    let (ended, stderr) = match spawn(job) {
        Ok(mut child) => {
            feed(&mut child, &job.line);
            let last_line = read_last_line(child.stderr.take());
            let ended = wait(&mut child, started + timeout);
            let stderr = last_line.recv_timeout(STDERR_GRACE).ok().flatten();
            (ended, stderr)
        }
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
        ms: started.elapsed().as_millis() as u64,
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

/// Writes the line to the hook's standard input from a thread of its own,
/// then closes it: a hook that never reads it must not hold the worker
/// (its end is then a broken pipe, which is no failure of the hook).
fn feed(child: &mut Child, line: &Arc<[u8]>) {
    let Some(mut stdin) = child.stdin.take() else {
        return;
    };
    let line = Arc::clone(line);
    let fed = thread::Builder::new()
        .name("hb-hook-stdin".into())
        .spawn(move || {
            let _ = stdin.write_all(&line);
        });
    // Without a thread, the line still goes if it fits the pipe.
    if let Err(e) = fed {
        crate::say!("hook: feeding its standard input: {e}");
    }
}

/// Reads the hook's standard error to its end from a thread of its own;
/// its last non-empty line comes on the channel.
fn read_last_line(stderr: Option<ChildStderr>) -> mpsc::Receiver<Option<String>> {
    let (tx, rx) = mpsc::channel();
    if let Some(stderr) = stderr {
        let _ = thread::Builder::new()
            .name("hb-hook-stderr".into())
            .spawn(move || {
                let _ = tx.send(last_line(stderr));
            });
    }
    rx
}

/// The last non-empty line of `input`, at most [`STDERR_LINE_MAX`] bytes.
pub(super) fn last_line(input: impl Read) -> Option<String> {
    let mut reader = BufReader::new(input);
    let mut buf = Vec::new();
    let mut last = None;
    loop {
        buf.clear();
        match reader.read_until(b'\n', &mut buf) {
            Ok(0) | Err(_) => return last,
            Ok(_) => {}
        }
        let text = String::from_utf8_lossy(&buf);
        let text = text.trim();
        if !text.is_empty() {
            let end = (0..=text.len().min(STDERR_LINE_MAX))
                .rev()
                .find(|&i| text.is_char_boundary(i))
                .unwrap_or(0);
            last = Some(text[..end].to_owned());
        }
    }
}

/// Waits for the hook to end, looking more and more rarely (a quick hook is
/// seen within a millisecond); past `deadline`, kills its process group.
fn wait(child: &mut Child, deadline: Instant) -> Ended {
    let mut pause = Duration::from_millis(1);
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Ended::Exited(status),
            Ok(None) => {}
            Err(e) => return Ended::Failed(e),
        }
        let now = Instant::now();
        if now >= deadline {
            kill_group(child);
            let _ = child.wait();
            return Ended::TimedOut;
        }
        thread::sleep(pause.min(deadline - now));
        pause = (pause * 2).min(WAIT_POLL_MAX);
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
