//! A node's last health report, kept compactly: hb's own health object
//! (what `hb-send --health` sends) as numbers in place, without an
//! allocation per beat; anything else exactly as it was sent.

use serde::{Serialize, Serializer};
use serde_json::value::RawValue;

use crate::health::Health;

/// The health a node reported last.
#[derive(Debug, Clone)]
pub enum Reading {
    /// hb's health object, written as hb writes it.
    Known(Health),
    /// Anything else a sender put in `health`.
    Other(Box<RawValue>),
}

impl Reading {
    /// Keeps `raw` in `slot`: in place when it is hb's own health object
    /// written as hb writes it (so printing it gives back the very bytes
    /// that came), else as sent (allocating only when it changed).
    pub(super) fn store(slot: &mut Option<Reading>, raw: &RawValue) {
        if let Some(health) = exact(raw) {
            *slot = Some(Reading::Known(health));
            return;
        }
        match slot {
            Some(Reading::Other(kept)) if kept.get() == raw.get() => {}
            _ => *slot = Some(Reading::Other(raw.to_owned())),
        }
    }

    /// The CPU usage, available and total memory, as far as the report
    /// says.
    pub fn cpu_and_memory(&self) -> (Option<f64>, Option<u64>, Option<u64>) {
        match self {
            Reading::Known(h) => (
                h.cpu_pct.map(f64::from),
                Some(h.mem_avail),
                Some(h.mem_total),
            ),
            Reading::Other(raw) => {
                #[derive(serde::Deserialize)]
                struct Partial {
                    cpu_pct: Option<f64>,
                    mem_avail: Option<u64>,
                    mem_total: Option<u64>,
                }
                // serde reads a struct from an array too, by position: only
                // an object has named readings.
                let object = raw.get().trim_start().starts_with('{');
                serde_json::from_str::<Partial>(raw.get())
                    .ok()
                    .filter(|_| object)
                    .map_or((None, None, None), |p| {
                        (p.cpu_pct, p.mem_avail, p.mem_total)
                    })
            }
        }
    }
}

impl Serialize for Reading {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Reading::Known(health) => health.serialize(s),
            Reading::Other(raw) => raw.serialize(s),
        }
    }
}

/// `raw` as hb's health object, if writing that object back gives the
/// same bytes (nothing dropped, nothing reordered). Every beat of a fleet
/// comes through here, so hb's layout is read directly, field by field in
/// the order hb writes them, rather than parsed generically and written
/// back whole: an integer must be written as hb writes it (no sign, no
/// leading zero), a float must be what writing its value gives, which
/// costs only the floats' formatting, on the stack. Allocates nothing.
fn exact(raw: &RawValue) -> Option<Health> {
    let text = &mut raw.get();
    let cpu_pct = match field(text, "{\"cpu_pct\":") {
        true => Some(float::<f32>(text)?),
        false => None,
    };
    let first = match cpu_pct {
        Some(_) => ",\"mem_total\":",
        None => "{\"mem_total\":",
    };
    let health = Health {
        cpu_pct,
        mem_total: field(text, first).then(|| integer(text))??,
        mem_avail: field(text, ",\"mem_avail\":").then(|| integer(text))??,
        swap_used: field(text, ",\"swap_used\":").then(|| integer(text))??,
        load1: field(text, ",\"load1\":").then(|| float(text))??,
        load5: field(text, ",\"load5\":").then(|| float(text))??,
        load15: field(text, ",\"load15\":").then(|| float(text))??,
        uptime_s: field(text, ",\"uptime_s\":").then(|| integer(text))??,
    };
    (*text == "}").then_some(health)
}

/// Whether `text` starts with `name`; if so, moves past it.
fn field(text: &mut &str, name: &str) -> bool {
    match text.strip_prefix(name) {
        Some(rest) => {
            *text = rest;
            true
        }
        None => false,
    }
}

/// The number at the start of `text` (up to `,` or `}`), moving past it.
fn token<'a>(text: &mut &'a str) -> &'a str {
    let end = text
        .bytes()
        .position(|b| b == b',' || b == b'}')
        .unwrap_or(text.len());
    let (token, rest) = text.split_at(end);
    *text = rest;
    token
}

/// An unsigned integer as hb writes it: digits, no leading zero.
fn integer(text: &mut &str) -> Option<u64> {
    let token = token(text).as_bytes();
    if token.is_empty() || token.len() > 1 && token[0] == b'0' {
        return None;
    }
    token.iter().try_fold(0u64, |n, &b| {
        let digit = b.checked_sub(b'0').filter(|d| *d <= 9)?;
        n.checked_mul(10)?.checked_add(u64::from(digit))
    })
}

/// A float whose value, written back as hb writes it, gives the same text.
fn float<T>(text: &mut &str) -> Option<T>
where
    T: std::str::FromStr + Serialize,
{
    let token = token(text);
    let value: T = token.parse().ok()?;
    let mut buf = [0u8; 32];
    let mut written = std::io::Cursor::new(&mut buf[..]);
    serde_json::to_writer(&mut written, &value).ok()?;
    let len = usize::try_from(written.position()).ok()?;
    (&buf[..len] == token.as_bytes()).then_some(value)
}

#[cfg(test)]
mod tests;
