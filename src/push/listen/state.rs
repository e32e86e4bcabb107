//! The membership snapshot: the `status` line, the `--state` file that
//! keeps the latest one for load balancers and scripts that read a file
//! rather than a stream, and the node samples handed to metrics scrapes.
//!
//! The receive loop never waits for the disk nor for a scrape. The state
//! file's JSON is serialized a slice of nodes per turn of the loop, each
//! piece handed to a writer thread that appends it to a temporary file
//! and renames that over the file once the snapshot is whole; a scrape's
//! samples are copied a slice per turn too. The file is rewritten at most
//! once per `--state-every`, and only when the membership changed (or a
//! message was taken, see below) since the last snapshot, so learning a
//! fleet costs a few writes, not one per node; and a snapshot costs a few
//! bytes a node, not a copy of the table.
//!
//! A taken message counts because the file holds each sender's boot and
//! seq, which a restart believes: a file behind what was accepted would
//! let the beats in between be replayed after a restart. So the file is
//! at most [`SEQS_EVERY`] behind while the listener runs (what a crash
//! reopens), and not at all once it stopped cleanly (the last write
//! carries every node's latest seq, changed or not).
//!
//! The temporary file is created afresh for each snapshot, exclusively,
//! without following a link, readable by the listener's user alone: in a
//! directory others can write, a link planted at its name fails the write
//! instead of turning it onto the file the link names.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::Arc;
use std::thread::{self, JoinHandle};

use serde::Serialize;

use super::Listener;
use crate::clock::{Millis, Moment};
use crate::detector::{Detector, SnapshotStream};
use crate::intake::{Counters, Intake};
use crate::output;
use crate::quorum::link::{GroupLink, GroupStatus};
use crate::self_watch::SelfWatchStatus;
use crate::web::StatusShare;

/// Nodes serialized per turn of the loop for the state file: a piece of
/// about 300 KiB with health in every node.
const PIECE_NODES: usize = 1024;

/// Pieces of a snapshot queued for the writer at most: a disk slower than
/// the loop holds the loop's serializing back, never the loop itself, and
/// a snapshot in flight is about a megabyte, whatever the fleet's size.
const QUEUED_PIECES: usize = 2;

/// How long the loop waits before offering a piece again to a writer whose
/// queue was full.
const FULL_QUEUE_RETRY: Millis = 5;

/// What a `status` object holds after its membership.
#[derive(Serialize)]
struct Tail<'a> {
    #[serde(flatten)]
    counters: &'a Counters,
    #[serde(skip_serializing_if = "Option::is_none")]
    group: Option<GroupStatus>,
    /// The listener's own record: stalls and the socket's drops.
    observer: SelfWatchStatus,
}

impl Tail<'_> {
    /// The tail's fields as JSON, to follow others (`,"received":...`).
    /// Serializing to memory fails only for maps without string keys,
    /// which it has none of; the object would end without them, still
    /// valid, all the same.
    fn json(
        intake: &Intake,
        group: Option<&GroupLink>,
        observer: SelfWatchStatus,
        now: Millis,
    ) -> Vec<u8> {
        let tail = Tail {
            counters: &intake.counters,
            group: group.map(|g| g.status(now)),
            observer,
        };
        let mut json = serde_json::to_vec(&tail).unwrap_or_default();
        if json.len() <= 2 {
            return Vec::new();
        }
        json[0] = b',';
        json.pop();
        json
    }
}

/// Appends the next share of a `status` object after its timestamps: at
/// most `max` nodes of `stream`'s snapshot, and once every node is in,
/// `tail`'s fields and the closing brace. Returns whether it is complete.
fn status_piece(
    stream: &mut SnapshotStream,
    detector: &Detector,
    now: Millis,
    max: usize,
    out: &mut Vec<u8>,
    tail: impl FnOnce() -> Vec<u8>,
) -> bool {
    let whole = stream.write(detector, now, max, out);
    if whole {
        out.extend_from_slice(&tail());
        out.push(b'}');
    }
    whole
}

/// How soon after the last snapshot the file catches up with seqs alone
/// (beats, no state changed), at the earliest: rewriting a large fleet's
/// file every period only because it beats would cost a serialization
/// and a write of megabytes a second; this bounds what a crash of the
/// listener reopens to the beats of the last 10 s instead.
const SEQS_EVERY: Millis = 10_000;

/// Where a snapshot goes.
pub(super) enum Destination {
    /// The `--state` file.
    File(PathBuf),
    /// The web side's `/status`, when a client asks for it.
    Web(Arc<StatusShare>),
}

/// The `--state` file (or the web side's `/status`) and the thread that
/// writes it.
pub(super) struct StateFile {
    /// For `/status`: snapshots are due when a client asks, not on change.
    asked: Option<Arc<StatusShare>>,
    /// For `/status`: the lines printed when the snapshot under way began.
    printed: u64,
    /// Membership changed since the last snapshot was started.
    pub(super) dirty: bool,
    /// The detector's count of messages taken when the last snapshot was
    /// started ([`Detector::taken`]): once it moved, a sender's boot or seq
    /// on disk is behind what was accepted. A counter the detector keeps
    /// anyway, compared once a turn: a beat costs the file nothing.
    taken: u64,
    every: Millis,
    /// The earliest time the next snapshot may be started: for a change
    /// of membership, and for seqs alone.
    next: Millis,
    next_seqs: Millis,
    stream: SnapshotStream,
    /// A snapshot is under way: being serialized, or its last piece waits
    /// for room in the writer's queue.
    writing: bool,
    /// The start of the next piece (the snapshot's opening).
    opening: Vec<u8>,
    /// A piece the writer's queue had no room for, and when to offer it
    /// again.
    held: Option<(Piece, Millis)>,
    pieces: Option<SyncSender<Piece>>,
    /// The last write failed: the next snapshot retries it.
    failed: Arc<AtomicBool>,
    writer: Option<JoinHandle<()>>,
}

/// A piece of a snapshot's JSON, in order; the last one completes it.
struct Piece {
    bytes: Vec<u8>,
    last: bool,
    /// For `/status`: the lines printed when the snapshot began, all of
    /// which it holds.
    printed: u64,
}

impl StateFile {
    pub(super) fn new(destination: Destination, every: Millis) -> io::Result<Self> {
        let (pieces, queue) = mpsc::sync_channel(QUEUED_PIECES);
        let failed = Arc::new(AtomicBool::new(false));
        let asked = match &destination {
            Destination::Web(share) => Some(share.clone()),
            Destination::File(_) => None,
        };
        let writer = {
            let failed = failed.clone();
            let work = move || match destination {
                Destination::File(path) => write_pieces(&path, &queue, &failed),
                Destination::Web(share) => share_pieces(&share, &queue),
            };
            thread::Builder::new().name("hb-state".into()).spawn(work)?
        };
        Ok(StateFile {
            asked,
            printed: 0,
            dirty: true,
            taken: 0,
            every,
            next: 0,
            next_seqs: 0,
            stream: SnapshotStream::default(),
            writing: false,
            opening: Vec::new(),
            held: None,
            pieces: Some(pieces),
            failed,
            writer: Some(writer),
        })
    }

    /// Whether a snapshot is under way: the node table must not move.
    pub(super) fn is_writing(&self) -> bool {
        self.writing
    }

    /// When the file is due to catch up with `detector`, if it is behind:
    /// its membership changed, or it took a message, since the last
    /// snapshot was started.
    fn due(&self, detector: &Detector) -> Option<Millis> {
        if let Some(share) = &self.asked {
            return share.wanted().then_some(0);
        }
        match (self.dirty, detector.taken() != self.taken) {
            (true, _) => Some(self.next),
            (false, true) => Some(self.next_seqs),
            (false, false) => None,
        }
    }

    /// When the loop should wake for the file: at once while a snapshot
    /// is being serialized (a little later when the writer's queue was
    /// full), and for the next snapshot when one is waiting.
    pub(super) fn next_wake(&self, detector: &Detector) -> Option<Millis> {
        match (self.writing, &self.held) {
            (true, Some((_, retry_at))) => Some(*retry_at),
            (true, None) => Some(0),
            (false, _) => self.due(detector),
        }
    }

    /// One turn's share of the file: starts a snapshot when one is due,
    /// serializes the next slice of it and queues that for the writer;
    /// `tail` gives the end of the snapshot's object once it is whole.
    fn step(&mut self, detector: &Detector, at: Moment, tail: impl FnOnce() -> Vec<u8>) {
        let now = at.mono;
        if self.failed.swap(false, Ordering::AcqRel) {
            self.dirty = true;
        }
        if !self.writing {
            if self.due(detector).is_none_or(|due| now < due) {
                return;
            }
            self.start(detector, at);
        }
        if let Some((piece, retry_at)) = self.held.take() {
            match now < retry_at {
                true => self.held = Some((piece, retry_at)),
                false => self.queue(piece, now),
            }
            return;
        }
        let piece = self.serialize(detector, now, PIECE_NODES, tail);
        self.queue(piece, now);
    }

    /// Starts a snapshot of `detector`, stamped `wall`: changes from now
    /// on are the next snapshot's.
    fn start(&mut self, detector: &Detector, at: Moment) {
        let now = at.mono;
        self.stream.start(detector);
        if let Some(share) = &self.asked {
            self.printed = share.starting();
        }
        self.opening = output::opening("status", at.wall);
        self.writing = true;
        self.dirty = false;
        self.taken = detector.taken();
        self.next = now.saturating_add(self.every);
        self.next_seqs = now.saturating_add(self.every.max(SEQS_EVERY));
    }

    /// The next piece: at most `max` nodes, and the snapshot's end once
    /// every node is in.
    fn serialize(
        &mut self,
        detector: &Detector,
        now: Millis,
        max: usize,
        tail: impl FnOnce() -> Vec<u8>,
    ) -> Piece {
        let mut bytes = std::mem::take(&mut self.opening);
        let last = status_piece(&mut self.stream, detector, now, max, &mut bytes, tail);
        if last {
            bytes.push(b'\n');
        }
        Piece {
            bytes,
            last,
            printed: self.printed,
        }
    }

    /// Queues `piece` for the writer, or holds it for a retry shortly.
    fn queue(&mut self, piece: Piece, now: Millis) {
        let Some(pieces) = &self.pieces else {
            return;
        };
        let last = piece.last;
        match pieces.try_send(piece) {
            Ok(()) => self.writing &= !last,
            Err(TrySendError::Full(piece)) => {
                self.held = Some((piece, now.saturating_add(FULL_QUEUE_RETRY)));
            }
            // The writer is gone: nothing can be written any more.
            Err(TrySendError::Disconnected(_)) => self.writing = false,
        }
    }

    /// Completes the snapshot under way and one of the latest changes if
    /// any, waiting for the writer, then stops it: the file holds the
    /// final membership, and every sender's latest boot and seq.
    fn finish(&mut self, detector: &Detector, at: Moment, tail: impl Fn() -> Vec<u8>) {
        let now = at.mono;
        let Some(pieces) = self.pieces.take() else {
            return;
        };
        if let Some((piece, _)) = self.held.take() {
            let _ = pieces.send(piece);
        } else if self.writing {
            let _ = pieces.send(self.serialize(detector, now, usize::MAX, &tail));
        }
        if self.failed.swap(false, Ordering::AcqRel) {
            self.dirty = true;
        }
        if self.due(detector).is_some() {
            self.start(detector, at);
            let _ = pieces.send(self.serialize(detector, now, usize::MAX, &tail));
        }
        drop(pieces);
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
    }
}

/// The writer thread: appends each piece to a temporary file beside
/// `path` (see [`create_tmp`]), and renames that over `path` with the last
/// piece, so a reader sees the old file or the new one, never half of one;
/// the rename replaces whatever is at `path` (a link, a FIFO) without
/// following it. A failure (a full disk, a missing directory) is reported
/// once, when it starts, and again when writing works again; the loop
/// retries with its next snapshot, the temporary file is removed, and the
/// monitor goes on either way.
fn write_pieces(path: &Path, queue: &Receiver<Piece>, failed: &AtomicBool) {
    crate::export::lower_priority();
    let tmp = path.with_extension(format!("tmp.{}", std::process::id()));
    // The snapshot being written: its file, or the error that ended it.
    let mut file: Option<io::Result<File>> = None;
    let mut reported = false;
    for piece in queue {
        let open = file.get_or_insert_with(|| create_tmp(&tmp));
        if let Ok(f) = open {
            if let Err(e) = f.write_all(&piece.bytes) {
                *open = Err(e);
            }
        }
        if !piece.last {
            continue;
        }
        drop(piece);
        crate::export::release_freed();
        let written = match file.take() {
            Some(Ok(f)) => {
                drop(f);
                std::fs::rename(&tmp, path)
            }
            Some(Err(e)) => Err(e),
            None => Ok(()),
        };
        match written {
            Ok(()) if reported => {
                crate::say!("{}: written again", path.display());
                reported = false;
            }
            Ok(()) => {}
            Err(e) => {
                let _ = std::fs::remove_file(&tmp);
                if !reported {
                    crate::say!(
                        "warning: writing {}: {e}; retrying with the next change",
                        path.display()
                    );
                    reported = true;
                }
                failed.store(true, Ordering::Release);
            }
        }
    }
    if file.is_some() {
        let _ = std::fs::remove_file(&tmp);
    }
}

/// The writer of `/status`: joins each snapshot's pieces and publishes
/// the whole object for the requests waiting for it.
fn share_pieces(share: &StatusShare, queue: &Receiver<Piece>) {
    crate::export::lower_priority();
    // Kept as the pieces they came in: joining them would need the whole
    // object twice over while its buffer grows.
    let mut pieces = Vec::new();
    for mut piece in queue {
        piece.bytes.shrink_to_fit();
        pieces.push(std::mem::take(&mut piece.bytes).into());
        if piece.last {
            share.publish(std::mem::take(&mut pieces), piece.printed);
            crate::export::release_freed();
        }
    }
}

/// Creates a snapshot's temporary file at `tmp`, for the listener's user
/// alone. Whatever has the name goes first (left by an earlier listener
/// that had our process id and was killed, or planted there): unlinking
/// never follows a link. The new file is created exclusively and without following a
/// link, so a link planted between the two fails this write (reported,
/// retried with the next snapshot) rather than redirecting it onto the
/// file it names.
fn create_tmp(tmp: &Path) -> io::Result<File> {
    match std::fs::remove_file(tmp) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(tmp)
}

impl<W: Write> Listener<W> {
    /// Prints a `status` line: membership, counters, and the group if
    /// any. Streamed a piece at a time, so a large fleet's line costs a
    /// few bytes a node in memory, not the line built whole.
    pub(super) fn emit_status(&mut self, at: Moment) -> io::Result<()> {
        let now = at.mono;
        let (intake, group, watch) = (&self.intake, self.group.as_ref(), &self.watch);
        let (stream, detector) = (&mut self.status_stream, &self.detector);
        stream.start(detector);
        let mut tail = Some(|| Tail::json(intake, group, watch.status(), now));
        self.out.emit_pieces(at, "status", |piece| {
            let tail = || tail.take().map(|t| t()).unwrap_or_default();
            status_piece(stream, detector, now, PIECE_NODES, piece, tail)
        })
    }

    /// Keeps `path` holding the membership snapshot (a `status` object),
    /// rewritten at most once per `every` when a node's state or checks
    /// changed or a message was taken: for load balancers and scripts that
    /// read a file rather than a stream, and for the next start.
    pub fn keep_state_file(&mut self, path: PathBuf, every: Millis) -> io::Result<()> {
        self.state_file = Some(StateFile::new(Destination::File(path), every)?);
        Ok(())
    }

    /// One turn's share of the state file and of `/status`: their next
    /// piece, if a snapshot is under way or due.
    pub(super) fn step_state(&mut self, at: Moment) {
        let now = at.mono;
        let (intake, group, watch) = (&self.intake, self.group.as_ref(), &self.watch);
        let tail = || Tail::json(intake, group, watch.status(), now);
        for state in [&mut self.state_file, &mut self.web_status]
            .into_iter()
            .flatten()
        {
            state.step(&self.detector, at, tail);
        }
    }

    /// Writes the last changes out before the listener ends: the file
    /// holds the final membership and every sender's latest seq.
    pub(super) fn finish_state(&mut self, at: Moment) {
        let now = at.mono;
        if let Some(state) = &mut self.state_file {
            let (intake, group, watch) = (&self.intake, self.group.as_ref(), &self.watch);
            let tail = || Tail::json(intake, group, watch.status(), now);
            state.finish(&self.detector, at, tail);
        }
    }
}

#[cfg(test)]
mod tests;
