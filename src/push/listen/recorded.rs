//! Beats from NDJSON lines (`hb-listen --from`): what hb-ack and
//! `hb-listen --beats` print, or any recorded file, judged on the real
//! clock as they arrive or (`--replay`) on the clock of the lines' own
//! `ts_ms`, which makes a recorded trace give in milliseconds exactly the
//! events the detector would have given live.

use std::io::{self, BufRead, Write};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};

use serde::Deserialize;

use super::Listener;
use crate::clock::{Cadence, Clock, Millis, Moment};
use crate::net;
use crate::output::MAX_WALL_MS;
use crate::wire::{self, Message, Reject};

/// Where a recorded line says its beat came from: `from` in hb-ack's
/// lines, `addr` in hb-listen's.
#[derive(Deserialize)]
struct Origin {
    from: Option<SocketAddr>,
    addr: Option<SocketAddr>,
    ts_ms: Option<u64>,
}

impl<W: Write> Listener<W> {
    /// Judges lines as they arrive (from a reader thread), on the real
    /// clock, until the input ends or `stop` is set.
    pub fn run_lines(
        &mut self,
        lines: &Receiver<Line>,
        clock: &Clock,
        stop: &AtomicBool,
    ) -> io::Result<()> {
        while !stop.load(Ordering::Relaxed) {
            self.tick(clock.moment())?;
            let wait = self
                .next_wake()
                .map_or(net::STOP_CHECK, |at| clock.until(at));
            match lines.recv_timeout(wait.min(net::STOP_CHECK)) {
                Ok(Ok(line)) => {
                    if let (Some(message), origin) = parse_line(&line) {
                        let from = origin.and_then(|o| o.from.or(o.addr));
                        self.accept_line(clock.moment(), message, from)?;
                    }
                }
                Ok(Err(why)) => self.accept_line(clock.moment(), Err(why), None)?,
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
        }
        self.finish_state(clock.moment());
        Ok(())
    }

    /// Replays recorded lines on their own clock: every line's `ts_ms`
    /// (beat or not) moves time forward, firing each deadline at its own
    /// instant on the way, and beats are judged at their `ts_ms`. Lines
    /// without `ts_ms` happen at the current replay time. Ends with the
    /// input: nothing is judged past the last line. A long gap in the
    /// recording prints no endless run of `status` lines (see
    /// `skip_quiet_status`).
    pub fn replay(&mut self, mut input: impl BufRead, stop: &AtomicBool) -> io::Result<()> {
        let mut now: Option<Millis> = None;
        let mut buf = Vec::new();
        while let Some(line) = read_line(&mut input, &mut buf)? {
            if stop.load(Ordering::Relaxed) {
                break;
            }
            let line = match line {
                Ok(line) if line.trim().is_empty() => continue,
                Ok(line) => line,
                Err(why) => {
                    self.accept_line(recorded(now.unwrap_or(0)), Err(why), None)?;
                    continue;
                }
            };
            let (message, origin) = parse_line(&line);
            let origin = origin.unwrap_or(Origin {
                from: None,
                addr: None,
                ts_ms: None,
            });
            // Lines slightly out of order never move time backwards.
            let at = match (now, origin.ts_ms) {
                (Some(now), Some(ts)) => now.max(ts),
                (Some(now), None) => now,
                (None, ts) => ts.unwrap_or(0),
            };
            if now.is_none() {
                // The first line's time is the replay's start.
                self.detector.set_start(at);
                self.status = self
                    .status_every
                    .map(|every| Cadence::new(at + every, every));
            }
            let mut quiet = 0;
            while let Some(due) = self.next_wake().filter(|&due| due < at) {
                let status_due = self.status.is_some_and(|c| c.due() <= due);
                let work_due = self.next_work().is_some_and(|w| w <= due);
                self.tick(recorded(due))?;
                quiet = match (work_due, status_due) {
                    (true, _) => 0,
                    (false, true) => quiet + 1,
                    (false, false) => quiet,
                };
                if quiet == QUIET_STATUS_LINES {
                    self.skip_quiet_status(at);
                    quiet = 0;
                }
            }
            self.tick(recorded(at))?;
            now = Some(at);
            if let Some(message) = message {
                self.accept_line(recorded(at), message, origin.from.or(origin.addr))?;
            }
        }
        if let Some(at) = now {
            self.finish_state(recorded(at));
        }
        Ok(())
    }

    /// Across a gap in a recording (a trace that jumps from 1970 to today,
    /// or from one night to the next), a `status` line at every slot would
    /// print the same membership again and again, millions of times: after
    /// [`QUIET_STATUS_LINES`] of them in a row with nothing else happening,
    /// the slots before whatever happens next (a deadline, the state file,
    /// the next line at `next_line`) are skipped, so the next status line
    /// is the first one after something happened. Shorter gaps print what
    /// they would live.
    fn skip_quiet_status(&mut self, next_line: Millis) {
        let next = self.next_work().map_or(next_line, |at| at.min(next_line));
        if let Some(cadence) = self.status.as_mut().filter(|c| c.due() < next) {
            cadence.advance(next - 1);
        }
    }
}

/// Status lines a replay prints in a row while nothing else happens, before
/// it skips to the next thing that does.
const QUIET_STATUS_LINES: u32 = 10;

/// A line of input: its text, or why it was refused without being read
/// whole (`too-large`).
pub type Line = Result<String, Reject>;

/// Reads the next line (without its line break) into `buf`; None at the end
/// of the input. A line longer than [`wire::MAX_LINE`] is read through to
/// its end but not kept: `Err(TooLarge)`. Invalid UTF-8 makes that line bad
/// JSON, not the input unreadable.
fn read_line(input: &mut impl BufRead, buf: &mut Vec<u8>) -> io::Result<Option<Line>> {
    buf.clear();
    let (mut read_any, mut too_long) = (false, false);
    loop {
        let chunk = match input.fill_buf() {
            Ok(chunk) => chunk,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if chunk.is_empty() {
            break;
        }
        read_any = true;
        let end = chunk.iter().position(|&b| b == b'\n');
        let part = &chunk[..end.unwrap_or(chunk.len())];
        too_long |= buf.len() + part.len() > wire::MAX_LINE;
        if !too_long {
            buf.extend_from_slice(part);
        }
        let used = end.map_or(chunk.len(), |end| end + 1);
        input.consume(used);
        if end.is_some() {
            break;
        }
    }
    Ok(read_any.then(|| match too_long {
        true => Err(Reject::TooLarge),
        false => Ok(String::from_utf8_lossy(buf).into_owned()),
    }))
}

/// Reads lines on a thread of their own, so the listener can wait for a
/// line and a deadline at once. The channel closes at end of input (or at
/// a read error, which ends the input the same way).
pub fn spawn_line_reader(mut input: impl BufRead + Send + 'static) -> Receiver<Line> {
    let (tx, rx) = std::sync::mpsc::sync_channel(1024);
    std::thread::Builder::new()
        .name("hb-lines".into())
        .spawn(move || {
            let mut buf = Vec::new();
            while let Ok(Some(line)) = read_line(&mut input, &mut buf) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        })
        .expect("spawning the line reader thread");
    rx
}

/// A recorded line as a message, and where and when it says it was seen.
/// Lines that are other events (`up`, `down`, `status` in a recorded
/// hb-listen output) are not beats but not garbage either: they come back
/// as `None`, to be skipped without counting.
/// A line stamped past year 9999 (which RFC 3339 cannot write) is refused
/// as `bad-field` and moves no clock.
fn parse_line(line: &str) -> (Option<Result<Message<'_>, Reject>>, Option<Origin>) {
    let origin: Option<Origin> = serde_json::from_str(line).ok();
    if origin
        .as_ref()
        .and_then(|o| o.ts_ms)
        .is_some_and(|ts| ts > MAX_WALL_MS)
    {
        return (Some(Err(Reject::BadField)), None);
    }
    let message = match wire::decode_record(line.as_bytes()) {
        Ok(Message::Beat(beat)) => Some(Ok(Message::Beat(beat))),
        Ok(_) | Err(Reject::UnknownType) => None,
        Err(why) => Some(Err(why)),
    };
    (message, origin)
}

/// An instant of a recording: its `ts_ms`, on both clocks (a recording
/// has only the one).
fn recorded(ts_ms: Millis) -> Moment {
    Moment::new(ts_ms, ts_ms)
}
