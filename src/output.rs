//! The output contract: one compact JSON object per line on stdout, `type`
//! first, then `ts` (RFC 3339 UTC, milliseconds) and `ts_ms`, flushed per
//! line so `hb-listen | jq` sees each event as it happens. A loop that
//! makes many events at once may hold its lines until it is about to wait
//! ([`Output::hold_lines`]): one write for all of them, never a line held
//! while the tool waits.
//!
//! Every line a tool prints goes through one [`Sink`], which prints it and
//! hands it to the line's other readers (metrics, hooks); diagnostics go
//! to stderr through [`say!`], named after the program once at start.

use std::io::{self, Write};
use std::sync::OnceLock;
use std::time::{Duration, UNIX_EPOCH};

use serde::Serialize;

mod sink;

pub use sink::{Line, Said, Sink, Subscriber};

/// The program's name, set once at start, for its diagnostics.
static PROGRAM: OnceLock<String> = OnceLock::new();

/// Names the program in its diagnostics ([`say!`]); the first name set
/// stays.
pub fn set_program(name: &str) {
    let _ = PROGRAM.set(name.to_owned());
}

/// The program's name, as [`set_program`] set it ("hb" before).
pub fn program() -> &'static str {
    PROGRAM.get().map_or("hb", String::as_str)
}

/// Prints a diagnostic on stderr, as `PROGRAM: message`: library code
/// never names the tool it runs in.
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::output::say_line(format_args!($($arg)*))
    };
}

/// Writes `PROGRAM: message` and its newline to stderr in one write, so
/// that the lines of two tools sharing a terminal or a log never mix
/// mid-line. A stderr that cannot be written to is no reason to stop.
pub fn say_line(message: std::fmt::Arguments<'_>) {
    let line = format!("{}: {message}\n", program());
    let _ = io::stderr().write_all(line.as_bytes());
}

/// Held lines written at once when they reach this many bytes: a turn's
/// lines cost one write, and memory bounded whatever the flood.
pub const HELD_MAX: usize = 64 * 1024;

/// Writes events as NDJSON lines.
pub struct Output<W: Write> {
    out: W,
    line: Vec<u8>,
    /// Whole lines written but not yet flushed, when lines are held.
    held: Vec<u8>,
    holding: bool,
    /// The last timestamps written, and the millisecond they say: the
    /// lines of one moment (a round's, a flood's) share them, formatted
    /// once rather than once a line.
    stamped: Option<(u64, String)>,
    /// What `out` is, for error messages: a full disk under stdout must
    /// say it was stdout.
    name: &'static str,
}

impl Output<io::StdoutLock<'static>> {
    pub fn stdout() -> Self {
        Output {
            name: "stdout",
            ..Output::new(io::stdout().lock())
        }
    }
}

impl<W: Write> Output<W> {
    pub fn new(out: W) -> Self {
        Output {
            out,
            line: Vec::with_capacity(512),
            held: Vec::new(),
            holding: false,
            stamped: None,
            name: "output",
        }
    }

    /// The writer back (for output to memory), held lines written.
    pub fn into_inner(mut self) -> W {
        let _ = self.flush();
        self.out
    }

    /// Holds lines from now on until [`Output::flush`], which the caller
    /// calls before it waits: under a flood of events the lines of one
    /// turn of its loop go out in one write, not a write (and a wakeup of
    /// the reader) each. Held lines beyond [`HELD_MAX`] are written at once.
    pub fn hold_lines(&mut self) {
        self.holding = true;
    }

    /// Writes the held lines, if any, and flushes.
    pub fn flush(&mut self) -> io::Result<()> {
        if self.held.is_empty() {
            return Ok(());
        }
        let written = self
            .out
            .write_all(&self.held)
            .and_then(|()| self.out.flush());
        self.held.clear();
        if self.held.capacity() > HELD_MAX {
            self.held = Vec::new();
        }
        written.map_err(|e| self.failed(e))
    }

    /// Writes `self.line`, a whole line: held, or at once and flushed.
    fn write_line(&mut self) -> io::Result<()> {
        if self.holding {
            self.held.extend_from_slice(&self.line);
            return match self.held.len() > HELD_MAX {
                true => self.flush(),
                false => Ok(()),
            };
        }
        self.out
            .write_all(&self.line)
            .and_then(|()| self.out.flush())
            .map_err(|e| self.failed(e))
    }

    /// Writes one event stamped with the wall-clock time `at_ms`.
    ///
    /// `event` must serialize to an object whose first field is `type`
    /// (a `#[serde(tag = "type")]` enum does); the timestamps are spliced in
    /// right after it. The whole line is written at once, so a reader never
    /// sees a partial line, and a closed stdout surfaces as `BrokenPipe`.
    pub fn emit<E: Serialize>(&mut self, at_ms: u64, event: &E) -> io::Result<()> {
        self.line.clear();
        serde_json::to_writer(&mut self.line, event).map_err(io::Error::other)?;
        self.stamp_and_write(at_ms)
    }

    /// Writes one event already serialized (`json`, an object whose first
    /// field is `type`), stamped as [`Output::emit`] stamps.
    pub fn emit_json(&mut self, at_ms: u64, json: &[u8]) -> io::Result<()> {
        self.line.clear();
        self.line.extend_from_slice(json);
        self.stamp_and_write(at_ms)
    }

    /// The last line written by [`Output::emit`] or [`Output::emit_json`],
    /// newline included: what the line's other readers are handed.
    pub fn last_line(&self) -> &[u8] {
        &self.line
    }

    /// Splices the timestamps into `self.line` after its type, ends it and
    /// writes it.
    fn stamp_and_write(&mut self, at_ms: u64) -> io::Result<()> {
        let after_type = type_field_end(&self.line).ok_or_else(|| {
            io::Error::other("internal error: event does not start with a type field")
        })?;
        if self.stamped.as_ref().is_none_or(|(ms, _)| *ms != at_ms) {
            self.stamped = Some((at_ms, stamp(at_ms)));
        }
        let (_, stamped) = self.stamped.as_ref().expect("just stamped");
        self.line.splice(after_type..after_type, stamped.bytes());
        self.line.push(b'\n');
        self.write_line()
    }

    /// Writes one event of type `kind` too large to build whole in memory
    /// (the `status` of a large fleet), stamped like [`Output::emit`]:
    /// `next` appends the fields after the timestamps a piece at a time,
    /// each piece beginning where the last ended, and says when the
    /// object is complete (its closing brace written). A reader of the
    /// stream still sees the line only once it ends.
    pub fn emit_pieces(
        &mut self,
        at_ms: u64,
        kind: &str,
        mut next: impl FnMut(&mut Vec<u8>) -> bool,
    ) -> io::Result<()> {
        self.flush()?;
        self.line.clear();
        self.line.extend_from_slice(&opening(kind, at_ms));
        loop {
            let whole = next(&mut self.line);
            if whole {
                self.line.push(b'\n');
            }
            if let Err(e) = self.out.write_all(&self.line) {
                return Err(self.failed(e));
            }
            self.line.clear();
            if whole {
                return self.out.flush().map_err(|e| self.failed(e));
            }
        }
    }

    /// An error writing the output, saying which output it was. The kind
    /// stays, so a closed stdout is still told apart.
    fn failed(&self, e: io::Error) -> io::Error {
        io::Error::new(e.kind(), format!("writing {}: {e}", self.name))
    }
}

/// The start of an event of type `kind` stamped `at_ms`, up to its
/// timestamps: `{"type":"kind","ts":"...","ts_ms":N`.
pub fn opening(kind: &str, at_ms: u64) -> Vec<u8> {
    let mut line = format!(r#"{{"type":"{kind}""#).into_bytes();
    line.extend_from_slice(stamp(at_ms).as_bytes());
    line
}

/// The type of a line or serialized event: `up` of `{"type":"up",...`.
pub fn type_of(json: &[u8]) -> Option<&str> {
    let end = type_field_end(json)?;
    std::str::from_utf8(&json[br#"{"type":""#.len()..end - 1]).ok()
}

/// The index just past `{"type":"..."`, or None when the object does not
/// start that way. Type names never contain quotes or escapes.
fn type_field_end(json: &[u8]) -> Option<usize> {
    let rest = json.strip_prefix(br#"{"type":""#)?;
    let close = rest.iter().position(|&b| b == b'"')?;
    Some(br#"{"type":""#.len() + close + 1)
}

/// The timestamps that follow an event's `type`: `,"ts":"...","ts_ms":N`.
fn stamp(at_ms: u64) -> String {
    format!(",\"ts\":\"{}\",\"ts_ms\":{at_ms}", rfc3339(at_ms))
}

/// The last wall-clock millisecond RFC 3339 can write:
/// 9999-12-31T23:59:59.999Z. Receivers refuse later timestamps from
/// datagrams and recordings (`bad-field`).
pub const MAX_WALL_MS: u64 = 253_402_300_799_999;

/// Milliseconds since the Unix epoch, as RFC 3339 UTC with milliseconds.
/// A time past [`MAX_WALL_MS`] is written as that last millisecond: a
/// timestamp never stops an output.
pub fn rfc3339(ms: u64) -> String {
    let ms = ms.min(MAX_WALL_MS);
    humantime::format_rfc3339_millis(UNIX_EPOCH + Duration::from_millis(ms)).to_string()
}

/// `v` rounded to `places` decimals: outputs carry what is meaningful
/// (microseconds, tenths of a percent, a phi of 8.43), not float noise.
pub fn round(v: f64, places: i32) -> f64 {
    let scale = 10f64.powi(places);
    (v * scale).round() / scale
}

/// A duration in milliseconds to the microsecond, as `rtt_ms` shows it.
pub fn ms(d: Duration) -> f64 {
    round(d.as_secs_f64() * 1000.0, 3)
}

/// `serialize_with` helper: an optional wall-clock millisecond value as an
/// RFC 3339 string.
pub fn serialize_rfc3339_opt<S: serde::Serializer>(
    ms: &Option<u64>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match ms {
        Some(ms) => s.serialize_str(&rfc3339(*ms)),
        None => s.serialize_none(),
    }
}

#[cfg(test)]
mod tests;
