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

    /// The CPU usage and available memory, as far as the report says.
    pub fn cpu_and_memory(&self) -> (Option<f64>, Option<u64>) {
        match self {
            Reading::Known(h) => (h.cpu_pct.map(f64::from), Some(h.mem_avail)),
            Reading::Other(raw) => {
                #[derive(serde::Deserialize)]
                struct Partial {
                    cpu_pct: Option<f64>,
                    mem_avail: Option<u64>,
                }
                // serde reads a struct from an array too, by position: only
                // an object has named readings.
                let object = raw.get().trim_start().starts_with('{');
                serde_json::from_str::<Partial>(raw.get())
                    .ok()
                    .filter(|_| object)
                    .map_or((None, None), |p| (p.cpu_pct, p.mem_avail))
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
/// same bytes (nothing dropped, nothing reordered); checked in a buffer on
/// the stack, so a beat allocates nothing.
fn exact(raw: &RawValue) -> Option<Health> {
    let text = raw.get();
    let health: Health = serde_json::from_str(text).ok()?;
    let mut buf = [0u8; 512];
    let mut written = std::io::Cursor::new(&mut buf[..]);
    serde_json::to_writer(&mut written, &health).ok()?;
    let len = usize::try_from(written.position()).ok()?;
    (&buf[..len] == text.as_bytes()).then_some(health)
}

#[cfg(test)]
mod tests;
