//! What the detector says: a node's [`State`], and the [`Event`]s that
//! become output lines.

use std::net::SocketAddr;

use serde::Serialize;
use serde_json::value::RawValue;

use crate::checks::{CheckResult, CheckStatus};
use crate::clock::Millis;
use crate::output::serialize_rfc3339_opt;

/// Where a node stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// Expected (`--expect`) but not heard from yet.
    Pending,
    Up,
    /// At least one beat is overdue; not yet `down`.
    Suspect,
    Down,
}

/// A verdict or observation, serialized as an output line.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Event {
    /// First beat, or back from `suspect` or `down`.
    Up {
        node: String,
        addr: Option<SocketAddr>,
        #[serde(skip_serializing_if = "Option::is_none")]
        was: Option<State>,
        /// Silence that just ended (absent on a first beat).
        #[serde(skip_serializing_if = "Option::is_none")]
        silent_ms: Option<Millis>,
        /// How long the node was declared down.
        #[serde(skip_serializing_if = "Option::is_none")]
        down_ms: Option<Millis>,
    },
    /// The first beat is overdue.
    Suspect {
        node: String,
        addr: Option<SocketAddr>,
        silent_ms: Millis,
        /// With the phi detector: phi now.
        #[serde(skip_serializing_if = "Option::is_none")]
        phi: Option<f64>,
    },
    /// `misses` intervals of silence (or phi at its threshold).
    Down {
        node: String,
        addr: Option<SocketAddr>,
        silent_ms: Millis,
        missed: u64,
        /// Receiver wall clock at the last beat; null if never seen.
        #[serde(serialize_with = "serialize_rfc3339_opt")]
        last_seen: Option<u64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        phi: Option<f64>,
        /// Share of the node's beats lost in its last 20 intervals before
        /// the silence (by their seq): a path that was losing beats rather
        /// than a clean stop; null when its beats carry no seq.
        loss_before: Option<f64>,
        /// What the observer knows of itself over the silence: `ok`, or
        /// `stalled` / `overloaded` when its own fault overlapped it.
        observer: &'static str,
    },
    /// The node's worst plugin check status changed (its beats carry
    /// `checks`): alive, but healthy or not.
    Health {
        node: String,
        addr: Option<SocketAddr>,
        status: CheckStatus,
        #[serde(skip_serializing_if = "Option::is_none")]
        was: Option<CheckStatus>,
        checks: Vec<CheckResult>,
    },
    /// The node went between up and down more than `changes` times
    /// within `window_ms`; printed once, again only after it calmed down.
    Flapping {
        node: String,
        addr: Option<SocketAddr>,
        changes: usize,
        window_ms: Millis,
    },
    /// The node was down for `--forget-after`: removed from the table,
    /// the status, the state file and the metrics. A beat brings it back
    /// as a new node (`up`).
    Forgotten {
        node: String,
        silent_ms: Millis,
        #[serde(serialize_with = "serialize_rfc3339_opt")]
        last_seen: Option<u64>,
    },
    /// The node's boot id changed: it restarted, however quickly.
    Restart {
        node: String,
        addr: Option<SocketAddr>,
        old_boot: String,
        new_boot: String,
    },
    /// One beat (only with [`crate::detector::Config::emit_beats`]).
    Beat {
        node: String,
        addr: Option<SocketAddr>,
        #[serde(skip_serializing_if = "Option::is_none")]
        seq: Option<u64>,
        /// Beats lost since the previous one of the same boot.
        gap: u64,
        #[serde(skip_serializing_if = "Option::is_none")]
        boot: Option<String>,
        every_ms: Millis,
        #[serde(skip_serializing_if = "Option::is_none")]
        health: Option<Box<RawValue>>,
        #[serde(skip_serializing_if = "Option::is_none")]
        checks: Option<Vec<CheckResult>>,
    },
}

impl Event {
    /// The `type` of its line.
    pub fn kind(&self) -> &'static str {
        match self {
            Event::Up { .. } => "up",
            Event::Suspect { .. } => "suspect",
            Event::Down { .. } => "down",
            Event::Restart { .. } => "restart",
            Event::Beat { .. } => "beat",
            Event::Health { .. } => "health",
            Event::Flapping { .. } => "flapping",
            Event::Forgotten { .. } => "forgotten",
        }
    }

    pub fn node(&self) -> &str {
        match self {
            Event::Up { node, .. }
            | Event::Suspect { node, .. }
            | Event::Down { node, .. }
            | Event::Restart { node, .. }
            | Event::Beat { node, .. }
            | Event::Health { node, .. }
            | Event::Flapping { node, .. }
            | Event::Forgotten { node, .. } => node,
        }
    }
}
