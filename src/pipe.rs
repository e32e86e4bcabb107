//! What a child process writes, read without ever blocking the reader nor
//! growing without bound: a check's first line ([`crate::checks`]), and
//! the last line of a hook's or a job's standard error ([`Tail`], one
//! reader for [`crate::hooks`] and [`crate::push::job`]).
//!
//! A child may write gigabytes, or leave a process in the background that
//! holds its pipe open long after it exited. So the pipe is read in pieces
//! of bounded size by the thread that watches the child, between its looks
//! at whether the child has exited; only what the reader needs is kept;
//! and once the child has exited and a short grace has passed, the pipe is
//! closed, whoever still holds its other end. No thread of its own, no
//! descriptor left behind.

use std::io::{self, Read, Write};
use std::os::fd::AsFd;
use std::process::ChildStderr;
use std::time::{Duration, Instant};

use crate::text::clean_text;

/// How long a child's standard error may stay open after the child exited
/// before what it said is taken as it stands and the pipe is closed. The
/// child's own last words are in the pipe when it exits; this is for a
/// process it left in the background that finishes a line a moment later,
/// and short, as a watcher waits it out once per run.
pub const GRACE: Duration = Duration::from_millis(100);

/// Bytes read at most in one piece.
const PIECE: usize = 16 * 1024;

/// Bytes read at most per look: a child that writes without pause still
/// leaves its watcher time to look at its end and its deadline.
const READ_AT_ONCE: usize = 1024 * 1024;

/// A child's pipe, read without blocking: what is there, in pieces, to a
/// reader that keeps what it needs.
pub struct Pipe<R> {
    pipe: R,
    eof: bool,
}

impl<R: Read + AsFd> Pipe<R> {
    /// A pipe that never blocks: reads take what is there.
    pub fn new(pipe: R) -> Self {
        let _ = rustix::io::ioctl_fionbio(&pipe, true);
        Pipe { pipe, eof: false }
    }

    /// Whether every writer has closed it.
    pub fn eof(&self) -> bool {
        self.eof
    }

    /// Waits up to `wait` for output, then reads what is there, each piece
    /// to `take`. At the end of the pipe, only waits.
    pub fn read_for(&mut self, wait: Duration, take: &mut impl FnMut(&[u8])) {
        if self.eof {
            std::thread::sleep(wait);
            return;
        }
        let timeout = rustix::event::Timespec {
            tv_sec: i64::try_from(wait.as_secs()).unwrap_or(i64::MAX),
            tv_nsec: i64::from(wait.subsec_nanos()),
        };
        let mut fds = [rustix::event::PollFd::new(
            &self.pipe,
            rustix::event::PollFlags::IN,
        )];
        if matches!(rustix::event::poll(&mut fds, Some(&timeout)), Ok(1..)) {
            self.drain(take);
        }
    }

    /// Reads what is there now, up to [`READ_AT_ONCE`] bytes, each piece
    /// to `take`.
    pub fn drain(&mut self, take: &mut impl FnMut(&[u8])) {
        let mut piece = [0u8; PIECE];
        let mut read = 0;
        while read < READ_AT_ONCE {
            match self.pipe.read(&mut piece) {
                Ok(0) => {
                    self.eof = true;
                    return;
                }
                Ok(n) => {
                    read += n;
                    take(&piece[..n]);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // WouldBlock: empty for now; anything else: nothing more
                // to read.
                Err(_) => return,
            }
        }
    }
}

/// The one reader of a child's standard error, for hooks and jobs: read
/// as it comes ([`Tail::read_for`], called by the child's watcher instead
/// of sleeping), its last non-empty line kept in bounded memory, and
/// closed a [`GRACE`] after the child exited ([`Tail::finish`]).
pub struct Tail {
    pipe: Pipe<ChildStderr>,
    last: LastLine,
    /// Passed on to our own standard error as it comes (a job's).
    pass_through: bool,
}

impl Tail {
    /// Keeps the last line, made one of at most `max` bytes.
    pub fn new(stderr: ChildStderr, max: usize) -> Tail {
        Tail {
            pipe: Pipe::new(stderr),
            last: LastLine::new(max),
            pass_through: false,
        }
    }

    /// Passes what the child writes on to our standard error too.
    pub fn passing_through(mut self) -> Tail {
        self.pass_through = true;
        self
    }

    /// Waits up to `wait` for the child's output, and reads what is there.
    pub fn read_for(&mut self, wait: Duration) {
        let Tail {
            pipe,
            last,
            pass_through,
        } = self;
        pipe.read_for(wait, &mut |piece| take(last, *pass_through, piece));
    }

    /// The child has exited: reads until every writer has closed the pipe,
    /// or [`GRACE`] has passed, then closes it; the last non-empty line.
    pub fn finish(mut self) -> Option<String> {
        let deadline = Instant::now() + GRACE;
        while !self.pipe.eof() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            self.read_for(left);
        }
        // The pipe closes here: a process that still holds its other end
        // writes into nothing from now on (EPIPE), and our end is free.
        self.last.finish()
    }
}

fn take(last: &mut LastLine, pass_through: bool, piece: &[u8]) {
    if pass_through {
        // Ours closed: the child still runs, unheard.
        let _ = io::stderr().write_all(piece);
    }
    last.feed(piece);
}

/// The last non-empty line of a stream fed a piece at a time, in bounded
/// memory: a line is kept up to a few times `max` bytes, and made one of
/// at most `max` bytes by [`clean_text`].
#[derive(Debug)]
pub struct LastLine {
    max: usize,
    line: Vec<u8>,
    last: Option<String>,
}

impl LastLine {
    pub fn new(max: usize) -> LastLine {
        LastLine {
            max,
            line: Vec::new(),
            last: None,
        }
    }

    /// Bytes of a line kept: enough to fill `max` after control characters
    /// and blanks are cut, and to know that it was cut.
    fn kept(&self) -> usize {
        self.max.saturating_mul(4)
    }

    pub fn feed(&mut self, bytes: &[u8]) {
        let mut pieces = bytes.split(|&b| b == b'\n').peekable();
        while let Some(piece) = pieces.next() {
            let room = self.kept().saturating_sub(self.line.len());
            self.line.extend_from_slice(&piece[..piece.len().min(room)]);
            if pieces.peek().is_some() {
                self.end_line();
            }
        }
    }

    fn end_line(&mut self) {
        let text = String::from_utf8_lossy(&self.line);
        let clean = clean_text(&text, self.max);
        if !clean.is_empty() {
            self.last = Some(clean.into_owned());
        }
        self.line.clear();
    }

    pub fn finish(mut self) -> Option<String> {
        self.end_line();
        self.last
    }

    /// Bytes held, whatever was fed: the tests' look at the bound.
    #[cfg(test)]
    fn held(&self) -> usize {
        self.line.capacity() + self.last.as_ref().map_or(0, String::capacity)
    }
}

#[cfg(test)]
mod tests;
