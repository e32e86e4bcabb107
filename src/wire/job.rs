//! What a job's messages carry (`start`, `done`, and a beat's deadline):
//! see `docs/protocol.md`.

use std::borrow::Cow;

use serde::Serialize;

use super::{Reject, MAX_JOB_MS};

/// When a job's next message is due: the sender's schedule, stated in
/// each of its messages, so the receiver needs none of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Due {
    /// Sender wall clock by which the next run is due.
    pub due_ms: u64,
    /// How long after `due_ms` silence is still no failure.
    pub grace_ms: u64,
}

/// "My job starts": `hb-send --run` before it runs its command. Checked for
/// replays as a [`super::Leave`] is.
#[derive(Debug, Clone, Serialize)]
pub struct Start<'a> {
    pub node: Cow<'a, str>,
    pub seq: u64,
    pub boot: Cow<'a, str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ts_ms: Option<u64>,
    #[serde(flatten)]
    pub due: Option<Due>,
    /// How long the run may take before it is `running-long`, from its
    /// receipt.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_run_ms: Option<u64>,
}

/// "My job ended": how, how long it took, and what it said last.
#[derive(Debug, Clone, Serialize)]
pub struct Done<'a> {
    pub node: Cow<'a, str>,
    pub seq: u64,
    pub boot: Cow<'a, str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ts_ms: Option<u64>,
    #[serde(flatten)]
    pub due: Option<Due>,
    /// How the command ended: its exit code, or the signal that killed it.
    #[serde(flatten)]
    pub ended: Ended,
    pub duration_ms: u64,
    /// The last line of its standard error: at most [`super::MAX_STDERR_LEN`]
    /// bytes, printable.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stderr: Option<Cow<'a, str>>,
}

/// How a job's command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Ended {
    /// It exited with this code.
    Exit(u8),
    /// A signal killed it.
    Signal(u8),
}

impl Ended {
    /// Whether the command succeeded: exit code 0.
    pub fn ok(self) -> bool {
        self == Ended::Exit(0)
    }
}

/// A job's deadline: `due_ms` a wall-clock time that prints (as `ts_ms`
/// is), and `grace_ms`, which needs it, at most [`MAX_JOB_MS`].
pub(super) fn due_of(due_ms: Option<u64>, grace_ms: Option<u64>) -> Result<Option<Due>, Reject> {
    match (due_ms, grace_ms) {
        (None, None) => Ok(None),
        (Some(due_ms), grace_ms)
            if due_ms <= crate::output::MAX_WALL_MS && grace_ms.is_none_or(|g| g <= MAX_JOB_MS) =>
        {
            Ok(Some(Due {
                due_ms,
                grace_ms: grace_ms.unwrap_or(0),
            }))
        }
        _ => Err(Reject::BadField),
    }
}
