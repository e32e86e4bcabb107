//! The membership snapshot: the `status` line, the `--state` file that
//! keeps the latest one for load balancers and scripts that read a file
//! rather than a stream, and the node table handed to metrics scrapes.
//!
//! The receive loop never waits for the disk nor for a scrape: the node
//! table is copied out a slice per turn of the loop, and a finished copy
//! goes to a writer thread (the state file) or to the waiting scrape. The
//! file is rewritten at most once per `--state-every`, and only when the
//! membership changed, so learning a fleet costs a few writes, not one per
//! node.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::Arc;
use std::thread::{self, JoinHandle};

use serde::Serialize;

use super::Listener;
use crate::clock::Millis;
use crate::detector::{Detector, NodeRecord, Snapshot};
use crate::intake::{Counters, Intake};
use crate::metrics::nodes::NodeTable;
use crate::metrics::Metrics;
use crate::observer::ObserverStatus;
use crate::output::Output;
use crate::quorum::link::{GroupLink, GroupStatus};

/// Nodes copied per turn of the loop: a few milliseconds of work at most,
/// which the socket's buffer absorbs at full ingest.
const SLICE: usize = 4096;

/// The `status` line: membership for routing decisions, plus counters.
#[derive(Serialize)]
#[serde(tag = "type", rename = "status")]
pub(super) struct Status<'a> {
    #[serde(flatten)]
    members: Snapshot<'a>,
    #[serde(flatten)]
    counters: &'a Counters,
    #[serde(skip_serializing_if = "Option::is_none")]
    group: Option<GroupStatus>,
    /// The listener's own record: stalls and the socket's drops.
    observer: ObserverStatus,
}

/// The `status` object: membership, counters, and the group if any.
pub(super) fn status<'a>(
    detector: &'a Detector,
    intake: &'a Intake,
    group: Option<&GroupLink>,
    observer: ObserverStatus,
    now: Millis,
) -> Status<'a> {
    Status {
        members: detector.snapshot(now),
        counters: &intake.counters,
        group: group.map(|g| g.status(now)),
        observer,
    }
}

/// The `--state` file and the thread that writes it.
pub(super) struct StateFile {
    /// Membership changed since the last snapshot was taken.
    pub(super) dirty: bool,
    every: Millis,
    /// The earliest time the next snapshot may be taken.
    next: Millis,
    jobs: Option<SyncSender<Job>>,
    /// A snapshot is queued for the writer or being written.
    busy: Arc<AtomicBool>,
    /// The last write failed: the next snapshot retries it.
    failed: Arc<AtomicBool>,
    writer: Option<JoinHandle<()>>,
    path: PathBuf,
}

/// A snapshot for the writer thread.
struct Job {
    records: Arc<Vec<NodeRecord>>,
    counters: Counters,
    group: Option<GroupStatus>,
    observer: ObserverStatus,
    wall: u64,
}

impl StateFile {
    fn new(path: PathBuf, every: Millis) -> io::Result<Self> {
        let (jobs, queue) = mpsc::sync_channel(1);
        let busy = Arc::new(AtomicBool::new(false));
        let failed = Arc::new(AtomicBool::new(false));
        let writer = {
            let (path, busy, failed) = (path.clone(), busy.clone(), failed.clone());
            thread::Builder::new()
                .name("hb-state".into())
                .spawn(move || write_jobs(&path, &queue, &busy, &failed, every))?
        };
        Ok(StateFile {
            dirty: true,
            every,
            next: 0,
            jobs: Some(jobs),
            busy,
            failed,
            writer: Some(writer),
            path,
        })
    }

    /// When the loop should wake for the file: the next write, if one is
    /// waiting and the writer is free (a loop waits a quarter second at
    /// most, so it sees the writer free soon enough without spinning).
    pub(super) fn next_wake(&self) -> Option<Millis> {
        let idle = !self.busy.load(Ordering::Acquire);
        (self.dirty && idle).then_some(self.next)
    }

    /// Whether a snapshot should be taken now.
    fn due(&mut self, now: Millis) -> bool {
        if self.failed.swap(false, Ordering::AcqRel) {
            self.dirty = true;
        }
        self.dirty && now >= self.next && !self.busy.load(Ordering::Acquire)
    }

    fn send(&mut self, job: Job, now: Millis) {
        let Some(jobs) = &self.jobs else {
            return;
        };
        // Busy before the writer can see the job: it clears the flag when
        // done, which must not come before this.
        self.busy.store(true, Ordering::Release);
        match jobs.try_send(job) {
            Ok(()) => {
                self.dirty = false;
                self.next = now.saturating_add(self.every);
            }
            // Only taken when the writer is idle, so never full; a writer
            // that is gone leaves the membership dirty for the final write.
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.busy.store(false, Ordering::Release);
            }
        }
    }

    /// Lets the writer finish what it has, then stops it.
    fn stop(&mut self) {
        self.jobs = None;
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
    }
}

/// The writer thread: one snapshot at a time, written atomically (a
/// reader sees the old file or the new one, never half of one). A failure
/// (a full disk, a missing directory) is reported once, when it starts,
/// and again when writing works again; the loop retries with its next
/// snapshot, and the monitor goes on either way.
fn write_jobs(
    path: &Path,
    queue: &Receiver<Job>,
    busy: &AtomicBool,
    failed: &AtomicBool,
    every: Millis,
) {
    let mut reported = false;
    for job in queue {
        match write_snapshot(path, &job) {
            Ok(()) if reported => {
                eprintln!("hb-listen: {}: written again", path.display());
                reported = false;
            }
            Ok(()) => {}
            Err(e) => {
                if !reported {
                    eprintln!(
                        "hb-listen: warning: writing {}: {e}; retrying every {every} ms",
                        path.display()
                    );
                    reported = true;
                }
                failed.store(true, Ordering::Release);
            }
        }
        busy.store(false, Ordering::Release);
    }
}

/// Writes the snapshot to a file beside `path`, then renames it over
/// `path`; the temporary file never stays behind.
fn write_snapshot(path: &Path, job: &Job) -> io::Result<()> {
    let status = Status {
        members: Snapshot::of_records(&job.records),
        counters: &job.counters,
        group: job.group.clone(),
        observer: job.observer,
    };
    let mut out = Output::new(Vec::new());
    out.emit(job.wall, &status)?;
    let tmp = path.with_extension(format!("tmp.{}", std::process::id()));
    let written = std::fs::write(&tmp, out.into_inner()).and_then(|()| std::fs::rename(&tmp, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

/// Nodes being copied out of the detector, a slice per turn.
#[derive(Default)]
pub(super) struct Copying {
    records: Vec<NodeRecord>,
    next: usize,
    for_state: bool,
    for_scrape: bool,
}

impl<W: Write> Listener<W> {
    /// Keeps `path` holding the membership snapshot (a `status` object),
    /// rewritten at most once per `every` when a node's state or checks
    /// changed: for load balancers and scripts that read a file rather
    /// than a stream.
    pub fn keep_state_file(&mut self, path: PathBuf, every: Millis) -> io::Result<()> {
        self.state_file = Some(StateFile::new(path, every)?);
        Ok(())
    }

    /// One turn's share of handing the node table out: starts a copy when
    /// the state file is due or a scrape waits, copies the next slice, and
    /// hands a finished copy to whoever asked.
    pub(super) fn hand_out(&mut self, now: Millis, wall: u64) {
        let state_due = self.state_file.as_mut().is_some_and(|s| s.due(now));
        let scrape = self.metrics.as_ref().is_some_and(Metrics::nodes_wanted);
        if !state_due && !scrape && self.copying.is_none() {
            return;
        }
        let copying = self.copying.get_or_insert_with(Copying::default);
        copying.for_state |= state_due;
        copying.for_scrape |= scrape;
        copying.next = self
            .detector
            .copy_nodes(copying.next, SLICE, now, &mut copying.records);
        if copying.next < self.detector.len() {
            return;
        }
        let done = self.copying.take().unwrap_or_default();
        let records = Arc::new(done.records);
        if let (true, Some(m)) = (done.for_scrape, &self.metrics) {
            m.answer_nodes(NodeTable {
                records: Arc::clone(&records),
                responders: None,
            });
        }
        if done.for_state {
            let job = self.job(records, now, wall);
            if let Some(state) = &mut self.state_file {
                state.send(job, now);
            }
        }
    }

    /// A snapshot of `records` with the listener's counters, group and
    /// own record as they are at `now`, for the writer.
    fn job(&self, records: Arc<Vec<NodeRecord>>, now: Millis, wall: u64) -> Job {
        Job {
            records,
            counters: self.intake.counters.clone(),
            group: self.group.as_ref().map(|g| g.status(now)),
            observer: self.watch.status(),
            wall,
        }
    }

    /// Writes the last changes out before the listener ends: the file
    /// holds the final membership.
    pub(super) fn finish_state(&mut self, now: Millis, wall: u64) {
        let Some(state) = &mut self.state_file else {
            return;
        };
        state.stop();
        if !state.dirty && !state.failed.load(Ordering::Acquire) {
            return;
        }
        let mut records = Vec::with_capacity(self.detector.len());
        self.detector.copy_nodes(0, usize::MAX, now, &mut records);
        let job = self.job(Arc::new(records), now, wall);
        let Some(state) = &self.state_file else {
            return;
        };
        if let Err(e) = write_snapshot(&state.path, &job) {
            eprintln!("hb-listen: warning: writing {}: {e}", state.path.display());
        }
    }
}
