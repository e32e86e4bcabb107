//! The hooks' runner: the loop offers lines to a bounded queue under a
//! lock it holds for microseconds, worker threads take them in order (a
//! node's next job only once its previous one ended) and run each as
//! `sh -c CMD` in a process group of its own, killed whole at the timeout
//! ([`hook`]). Failures and drops are collected for the loop to print.
//!
//! One flood cannot starve the hooks of the nodes that matter: lines
//! about expected nodes (hb-listen's `--expect`) are kept ahead of the
//! others. A full queue makes room for one by dropping the newest line
//! about a node not expected, and workers take expected nodes' lines
//! first; a node's own lines still run in order. Without expected nodes,
//! every node is equal: first come, first kept.

use std::collections::{HashSet, VecDeque};
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread;
use std::time::Duration;

use serde::Serialize;

use super::{About, HookSpec};
use crate::clock::Millis;
use crate::output::Said;

mod hook;

/// Jobs waiting for a worker at most; past that, events are dropped and
/// counted. A few minutes of a busy fleet's transitions, far more than a
/// healthy hook ever lags behind.
pub const QUEUE: usize = 256;

/// While hooks run or wait, how often the loop looks for their reports.
const REPORT_POLL: Millis = 100;

/// How often at most a `hook-overflow` line is printed: drops in between
/// are added up in the next one.
const OVERFLOW_REPORT_EVERY: Millis = 1000;

/// The nodes a `hook-overflow` line names at most: enough to see who was
/// hit, bounded however many names a flood invents.
pub const OVERFLOW_NAMES: usize = 10;

/// One hook to run on one line.
struct Job {
    command: Arc<str>,
    kind: String,
    /// The node (or path) the line is about: jobs of one node run in order.
    node: String,
    /// Whether the node is expected: its lines are kept ahead.
    expected: bool,
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
    /// Whose jobs were dropped since the last `hook-overflow`.
    dropped_of: Dropped,
    failed: Vec<Report>,
    /// The loop has gone: workers end once idle.
    closed: bool,
}

/// Whose jobs were dropped: the first [`OVERFLOW_NAMES`] nodes by name,
/// and how many jobs about others.
#[derive(Default)]
struct Dropped {
    nodes: Vec<String>,
    unlisted: u64,
}

impl Queue {
    /// Counts a job about `node` dropped.
    fn drop_job(&mut self, node: &str) {
        self.dropped += 1;
        let named = &mut self.dropped_of.nodes;
        if named.iter().any(|n| n == node) {
            return;
        }
        match named.len() < OVERFLOW_NAMES {
            true => named.push(node.to_owned()),
            false => self.dropped_of.unlisted += 1,
        }
    }

    /// Room for one more job, about an expected node or not: a full queue
    /// drops the newest job about a node not expected to make room for one
    /// about an expected node, and has none for any other.
    fn make_room(&mut self, expected: bool) -> bool {
        if self.waiting.len() < QUEUE {
            return true;
        }
        let newest_other = expected
            .then(|| self.waiting.iter().rposition(|j| !j.expected))
            .flatten();
        match newest_other.and_then(|i| self.waiting.remove(i)) {
            Some(dropped) => {
                self.drop_job(&dropped.node);
                true
            }
            None => false,
        }
    }

    /// The job a worker takes next: of the oldest job of each node whose
    /// hook is not running, the first about an expected node, else the
    /// first.
    fn next(&mut self) -> Option<Job> {
        let mut seen = HashSet::new();
        let mut first = None;
        for (i, job) in self.waiting.iter().enumerate() {
            if self.busy.contains(&job.node) || !seen.insert(job.node.as_str()) {
                continue;
            }
            if job.expected {
                first = Some(i);
                break;
            }
            first.get_or_insert(i);
        }
        first.and_then(|i| self.waiting.remove(i))
    }
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
        /// Whose were dropped since the last such line: the first
        /// [`OVERFLOW_NAMES`] nodes.
        nodes: Vec<String>,
        /// Of `dropped`, those about nodes not in `nodes`.
        unlisted: u64,
    },
}

/// The hooks of one tool and their workers.
pub struct Hooks {
    specs: Vec<(HookSpec, Arc<str>)>,
    shared: Arc<Shared>,
    /// The nodes whose lines are kept ahead of the others'.
    expected: HashSet<String>,
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
            expected: HashSet::new(),
            reported_dropped: 0,
            overflow_reported_at: None,
        })
    }

    /// Whether some hook runs on events of type `kind`.
    pub fn wants(&self, kind: &str) -> bool {
        self.specs.iter().any(|(s, _)| s.wants(kind))
    }

    /// Keeps the lines about `node` ahead of others from now on, or no
    /// longer (`expected`).
    pub fn expect(&mut self, node: &str, expected: bool) {
        match expected {
            true => self.expected.insert(node.to_owned()),
            false => self.expected.remove(node),
        };
    }

    /// Queues `line` (stamped `ts_ms`) for every hook that wants `kind`;
    /// a full queue drops a job and counts it (see [`Queue::make_room`]).
    /// Never waits for a worker.
    pub fn offer(&mut self, kind: &str, about: &About, ts_ms: u64, line: Vec<u8>) {
        let line: Arc<[u8]> = line.into();
        let node = about.name();
        let expected = self.expected.contains(node);
        let mut queue = self.shared.lock();
        for (_, command) in self.specs.iter().filter(|(s, _)| s.wants(kind)) {
            if !queue.make_room(expected) {
                queue.drop_job(node);
                continue;
            }
            queue.waiting.push_back(Job {
                command: Arc::clone(command),
                kind: kind.to_owned(),
                node: node.to_owned(),
                expected,
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
        let quiet = self
            .overflow_reported_at
            .is_some_and(|at| now < at + OVERFLOW_REPORT_EVERY);
        let (failed, dropped, dropped_of) = {
            let mut queue = self.shared.lock();
            let untold = queue.dropped > self.reported_dropped && !quiet;
            let dropped_of = untold.then(|| std::mem::take(&mut queue.dropped_of));
            (std::mem::take(&mut queue.failed), queue.dropped, dropped_of)
        };
        said.extend(failed.iter().filter_map(|report| Said::new(report).ok()));
        if let Some(Dropped { nodes, unlisted }) = dropped_of {
            let report = Report::HookOverflow {
                dropped: dropped - self.reported_dropped,
                dropped_total: dropped,
                queue: QUEUE,
                nodes,
                unlisted,
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

/// A worker: takes the next job (see [`Queue::next`]), runs it, reports a
/// failure, until the hooks are dropped.
fn work(shared: &Shared, timeout: Duration) {
    loop {
        let job = {
            let mut queue = shared.lock();
            loop {
                if queue.closed {
                    return;
                }
                if let Some(job) = queue.next() {
                    queue.busy.insert(job.node.clone());
                    queue.running += 1;
                    break job;
                }
                queue = shared.work.wait(queue).unwrap_or_else(|e| e.into_inner());
            }
        };
        let failure = hook::run(&job, timeout);
        let mut queue = shared.lock();
        queue.busy.remove(&job.node);
        queue.running -= 1;
        queue.failed.extend(failure);
        drop(queue);
        // The node's next job may wait for another worker.
        shared.work.notify_all();
    }
}

#[cfg(test)]
mod tests;
