//! What the detector says: a node's [`State`], and the [`Event`]s that
//! become output lines.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::checks::{CheckResult, CheckStatus};
use crate::clock::Millis;
use crate::output::{rfc3339, serialize_rfc3339_opt};
use crate::wire::Ended;

/// Where a node stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// Expected (`--expect`) but not heard from yet.
    Pending,
    /// Read back from a state file, a `degraded` node is up (its checks
    /// say the rest).
    /// A job's `ok`, `running` and `failed` are up: it runs.
    #[serde(alias = "degraded", alias = "ok", alias = "running", alias = "failed")]
    Up,
    /// At least one beat is overdue; not yet `down`.
    Suspect,
    /// A job that is `late` is down.
    #[serde(alias = "late")]
    Down,
    /// Stopped on purpose and said so (`leave`): not a failure, and no
    /// verdict comes until it beats again.
    Left,
    /// Announced an absence (`away`): no `suspect` nor `down` until its
    /// deadline, then `down` unless it beat again.
    Away,
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
        /// Back from `suspect` because it answered a probe, not by a beat.
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        refuted: bool,
        /// Up with a plugin check not ok: alive, but not to be given
        /// requests. Said on the `up` itself, as a node back with the same
        /// failing check prints no `health` line.
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        degraded: bool,
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
        /// Why: `silence` (missed beats), `unreachable` (a probe of the
        /// suspect node met a closed port), `no-answer` (its probes went
        /// unanswered past the accepted chance), or `away-expired` (an
        /// announced absence ended without a beat).
        cause: &'static str,
        /// With `no-answer`: what was weighed.
        #[serde(flatten)]
        no_answer: Option<NoAnswer>,
        /// The node was seen to pause (a beat or an answer came over half
        /// an interval late): its silence was no evidence before its
        /// deadline. Printed only when true.
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        pauses: bool,
    },
    /// The node said it stops on purpose (`leave`): printed at once, and
    /// no `suspect` nor `down` follows its silence.
    Left {
        node: String,
        addr: Option<SocketAddr>,
    },
    /// The node announced an absence (`away`): muted until `until`.
    Away {
        node: String,
        addr: Option<SocketAddr>,
        /// Receiver wall clock at the deadline.
        #[serde(serialize_with = "serialize_rfc3339")]
        until: u64,
        until_ms: u64,
        /// The absence announced, counted from its receipt.
        for_ms: Millis,
        /// What the sender gave as the reason; null without one.
        reason: Option<String>,
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
        addr: Option<SocketAddr>,
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
    /// A job's run started (`start`, `hb-send --run`).
    Started {
        node: String,
        addr: Option<SocketAddr>,
        /// When its next run is due (receiver wall clock); null for a job
        /// without a schedule.
        #[serde(serialize_with = "serialize_rfc3339_opt")]
        due: Option<u64>,
        due_ms: Option<u64>,
        /// How long the run may take before it is `running-long`.
        max_run_ms: Option<Millis>,
    },
    /// A job's run ended with exit code 0.
    Ok {
        node: String,
        addr: Option<SocketAddr>,
        duration_ms: Millis,
        #[serde(serialize_with = "serialize_rfc3339_opt")]
        due: Option<u64>,
        due_ms: Option<u64>,
    },
    /// A job's run ended with another exit code (`exit`), or was killed
    /// by a signal (`signal`).
    Failed {
        node: String,
        addr: Option<SocketAddr>,
        #[serde(flatten)]
        ended: Ended,
        duration_ms: Millis,
        /// The last line of its standard error; null if it wrote none.
        stderr: Option<String>,
        #[serde(serialize_with = "serialize_rfc3339_opt")]
        due: Option<u64>,
        due_ms: Option<u64>,
    },
    /// A job's deadline and its grace passed without a start or a done:
    /// it did not run.
    Late {
        node: String,
        addr: Option<SocketAddr>,
        #[serde(serialize_with = "serialize_rfc3339")]
        due: u64,
        due_ms: u64,
        grace_ms: Millis,
        /// Receiver wall clock at its last message.
        #[serde(serialize_with = "serialize_rfc3339_opt")]
        last_seen: Option<u64>,
    },
    /// A job's run has taken longer than its `max_run_ms`, and goes on.
    #[serde(rename = "running-long")]
    RunningLong {
        node: String,
        addr: Option<SocketAddr>,
        running_ms: Millis,
        max_run_ms: Millis,
    },
    /// A job's run started while its last run was still going.
    Overlap {
        node: String,
        addr: Option<SocketAddr>,
        /// How long the run still going has been.
        running_ms: Millis,
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

/// `serialize_with` helper: a wall-clock millisecond value as RFC 3339.
pub(super) fn serialize_rfc3339<S: serde::Serializer>(ms: &u64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&rfc3339(*ms))
}

/// The `type` of every line the detector prints ([`Event::kind`]): what
/// the tools count and hook beside lines of their own.
pub const KINDS: [&str; 16] = [
    "up",
    "suspect",
    "down",
    "restart",
    "beat",
    "health",
    "flapping",
    "left",
    "away",
    "forgotten",
    "started",
    "ok",
    "failed",
    "late",
    "running-long",
    "overlap",
];

/// What a `"cause":"no-answer"` down weighed.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct NoAnswer {
    /// Probes sent after the longest silence the node came back from,
    /// each unanswered for a quarter interval at least.
    pub probes: u32,
    /// Its beats due after that silence, each half an interval late.
    pub late_beats: u32,
    /// The chance that a probe or its answer is lost, as measured.
    pub probe_loss: f64,
    /// The chance that a live node stays this silent, under that loss.
    pub chance: f64,
    /// The chance accepted (`--false-down-chance`).
    pub bound: f64,
}

impl Event {
    /// The `type` of its line, one of [`KINDS`].
    pub fn kind(&self) -> &'static str {
        match self {
            Event::Up { .. } => "up",
            Event::Suspect { .. } => "suspect",
            Event::Down { .. } => "down",
            Event::Restart { .. } => "restart",
            Event::Beat { .. } => "beat",
            Event::Health { .. } => "health",
            Event::Flapping { .. } => "flapping",
            Event::Left { .. } => "left",
            Event::Away { .. } => "away",
            Event::Forgotten { .. } => "forgotten",
            Event::Started { .. } => "started",
            Event::Ok { .. } => "ok",
            Event::Failed { .. } => "failed",
            Event::Late { .. } => "late",
            Event::RunningLong { .. } => "running-long",
            Event::Overlap { .. } => "overlap",
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
            | Event::Left { node, .. }
            | Event::Away { node, .. }
            | Event::Started { node, .. }
            | Event::Ok { node, .. }
            | Event::Failed { node, .. }
            | Event::Late { node, .. }
            | Event::RunningLong { node, .. }
            | Event::Overlap { node, .. } => node,
            Event::Forgotten { node, .. } => node,
        }
    }
}
