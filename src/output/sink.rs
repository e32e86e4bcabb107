//! One path for every line a tool prints: the [`Sink`] writes it to
//! stdout once and hands the same bytes to each [`Subscriber`] (the
//! metrics counting events, the hooks running on them). A new reader of
//! the lines subscribes here; the tools that make the lines do not change.

use std::io::{self, Write};

use serde::Serialize;

use super::{type_of, Output};
use crate::clock::{Millis, Moment};

/// A line just printed, as its subscribers see it.
#[derive(Debug, Clone, Copy)]
pub struct Line<'a> {
    /// Its `type`.
    pub kind: &'a str,
    /// When it was printed: its stamp is `at.wall`.
    pub at: Moment,
    /// The whole line as printed, newline included.
    pub json: &'a [u8],
}

/// A line a subscriber has to say of its own (a reminder, a hook's
/// report): printed and handed on like every other.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Said {
    /// The event serialized, `type` first, without timestamps.
    json: Vec<u8>,
}

impl Said {
    /// `event` must serialize to an object whose first field is `type`.
    pub fn new<E: Serialize>(event: &E) -> io::Result<Said> {
        let json = serde_json::to_vec(event).map_err(io::Error::other)?;
        Ok(Said { json })
    }

    /// The event serialized, without timestamps.
    pub fn json(&self) -> &[u8] {
        &self.json
    }
}

/// A reader of every line a tool prints, after it is printed.
pub trait Subscriber {
    /// Takes a line just printed. Cheap for lines it does not want: it is
    /// called on the loop that judges.
    fn take(&mut self, line: &Line<'_>);

    /// Adds the lines it has to say at `at` (reminders due, reports).
    fn tick(&mut self, _at: Moment, _said: &mut Vec<Said>) {}

    /// When [`Subscriber::tick`] has something to do next.
    fn next_wake(&self) -> Option<Millis> {
        None
    }
}

/// Where a tool's lines go: stdout, then each subscriber.
pub struct Sink<W: Write> {
    out: Output<W>,
    subscribers: Vec<Box<dyn Subscriber>>,
    /// The subscribers' own lines of the current tick, reused.
    said: Vec<Said>,
}

impl Sink<io::StdoutLock<'static>> {
    /// The sink of a tool's stdout, with no subscriber yet.
    pub fn stdout() -> Self {
        Sink::new(Output::stdout())
    }
}

impl<W: Write> Sink<W> {
    pub fn new(out: Output<W>) -> Self {
        Sink {
            out,
            subscribers: Vec::new(),
            said: Vec::new(),
        }
    }

    /// Hands every line printed from now on to `subscriber` too.
    pub fn subscribe(&mut self, subscriber: Box<dyn Subscriber>) {
        self.subscribers.push(subscriber);
    }

    /// Prints `event` stamped at `at`, then hands the line to the
    /// subscribers.
    pub fn emit<E: Serialize>(&mut self, at: Moment, event: &E) -> io::Result<()> {
        self.out.emit(at.wall, event)?;
        self.hand_on(at);
        Ok(())
    }

    /// Prints a report line (a poll round's `poll` and `summary` lines):
    /// a report is not an event, so it is printed only, never handed to
    /// subscribers.
    pub fn emit_report<E: Serialize>(&mut self, at: Moment, report: &E) -> io::Result<()> {
        self.out.emit(at.wall, report)
    }

    /// Prints a `status`-like snapshot too large to build whole (see
    /// [`Output::emit_pieces`]). A snapshot is a report: printed only.
    pub fn emit_pieces(
        &mut self,
        at: Moment,
        kind: &str,
        next: impl FnMut(&mut Vec<u8>) -> bool,
    ) -> io::Result<()> {
        self.out.emit_pieces(at.wall, kind, next)
    }

    /// Prints what the subscribers have to say at `at`, each line handed
    /// to every subscriber like any other.
    pub fn tick(&mut self, at: Moment) -> io::Result<()> {
        let mut said = std::mem::take(&mut self.said);
        for subscriber in &mut self.subscribers {
            subscriber.tick(at, &mut said);
        }
        let mut printed = Ok(());
        for line in said.drain(..) {
            printed = self.out.emit_json(at.wall, line.json());
            if printed.is_err() {
                break;
            }
            self.hand_on(at);
        }
        said.clear();
        self.said = said;
        printed
    }

    /// When a subscriber has something to say next.
    pub fn next_wake(&self) -> Option<Millis> {
        self.subscribers.iter().filter_map(|s| s.next_wake()).min()
    }

    /// See [`Output::hold_lines`].
    pub fn hold_lines(&mut self) {
        self.out.hold_lines();
    }

    /// Writes the held lines, if any, and flushes.
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    /// The writer back (for output to memory), held lines written.
    pub fn into_inner(self) -> W {
        self.out.into_inner()
    }

    /// Hands the line just printed to every subscriber.
    fn hand_on(&mut self, at: Moment) {
        if self.subscribers.is_empty() {
            return;
        }
        let json = self.out.last_line();
        let Some(kind) = type_of(json) else {
            return;
        };
        let line = Line { kind, at, json };
        for subscriber in &mut self.subscribers {
            subscriber.take(&line);
        }
    }
}

#[cfg(test)]
mod tests;
