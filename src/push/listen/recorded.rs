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
use crate::clock::{Cadence, Clock, Millis};
use crate::net;
use crate::output::wall_ms;
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
        lines: &Receiver<String>,
        clock: &Clock,
        stop: &AtomicBool,
    ) -> io::Result<()> {
        while !stop.load(Ordering::Relaxed) {
            self.tick(clock.now(), wall_ms())?;
            let wait = self
                .next_wake()
                .map_or(net::STOP_CHECK, |at| clock.until(at));
            match lines.recv_timeout(wait.min(net::STOP_CHECK)) {
                Ok(line) => {
                    if let (Some(message), origin) = parse_line(&line) {
                        let from = origin.and_then(|o| o.from.or(o.addr));
                        self.accept_line(clock.now(), wall_ms(), message, from)?;
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
        }
        self.finish_state(clock.now(), wall_ms());
        Ok(())
    }

    /// Replays recorded lines on their own clock: every line's `ts_ms`
    /// (beat or not) moves time forward, firing each deadline at its own
    /// instant on the way, and beats are judged at their `ts_ms`. Lines
    /// without `ts_ms` happen at the current replay time. Ends with the
    /// input: nothing is judged past the last line.
    pub fn replay(&mut self, input: impl BufRead, stop: &AtomicBool) -> io::Result<()> {
        let mut now: Option<Millis> = None;
        for line in input.split(b'\n') {
            if stop.load(Ordering::Relaxed) {
                break;
            }
            // Invalid UTF-8 makes that line bad JSON, not the input unreadable.
            let line = String::from_utf8_lossy(&line?).into_owned();
            if line.trim().is_empty() {
                continue;
            }
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
            while let Some(due) = self.next_wake().filter(|&due| due < at) {
                self.tick(due, due)?;
            }
            self.tick(at, at)?;
            now = Some(at);
            if let Some(message) = message {
                self.accept_line(at, at, message, origin.from.or(origin.addr))?;
            }
        }
        if let Some(at) = now {
            self.finish_state(at, at);
        }
        Ok(())
    }
}

/// Reads lines on a thread of their own, so the listener can wait for a
/// line and a deadline at once. The channel closes at end of input.
pub fn spawn_line_reader(input: impl BufRead + Send + 'static) -> Receiver<String> {
    let (tx, rx) = std::sync::mpsc::sync_channel(1024);
    std::thread::Builder::new()
        .name("hb-lines".into())
        .spawn(move || {
            for line in input.split(b'\n').map_while(Result::ok) {
                if tx
                    .send(String::from_utf8_lossy(&line).into_owned())
                    .is_err()
                {
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
fn parse_line(line: &str) -> (Option<Result<Message<'_>, Reject>>, Option<Origin>) {
    let message = match wire::decode_record(line.as_bytes()) {
        Ok(Message::Beat(beat)) => Some(Ok(Message::Beat(beat))),
        Ok(_) | Err(Reject::UnknownType) => None,
        Err(why) => Some(Err(why)),
    };
    let origin = serde_json::from_str(line).ok();
    (message, origin)
}
