//! The membership snapshot: the `status` line, and the `--state` file that
//! keeps the latest one for load balancers and scripts that read a file
//! rather than a stream.

use std::io::{self, Write};
use std::path::PathBuf;

use serde::Serialize;

use super::Listener;
use crate::clock::Millis;
use crate::detector::{Detector, Snapshot};
use crate::intake::{Counters, Intake};
use crate::output::Output;
use crate::quorum::link::{GroupLink, GroupStatus};

/// The `status` line: membership for routing decisions, plus counters.
#[derive(Serialize)]
#[serde(tag = "type", rename = "status")]
pub(super) struct Status<'a> {
    #[serde(flatten)]
    members: Snapshot<'a>,
    #[serde(flatten)]
    counters: &'a Counters,
    #[serde(skip_serializing_if = "Option::is_none")]
    group: Option<GroupStatus>,
}

/// The `status` object: membership, counters, and the group if any.
pub(super) fn status<'a>(
    detector: &'a Detector,
    intake: &'a Intake,
    group: Option<&GroupLink>,
    now: Millis,
) -> Status<'a> {
    Status {
        members: detector.snapshot(now),
        counters: &intake.counters,
        group: group.map(|g| g.status(now)),
    }
}

pub(super) struct StateFile {
    path: PathBuf,
    /// Membership changed since the file was written.
    pub(super) dirty: bool,
}

impl<W: Write> Listener<W> {
    /// Keeps `path` holding the membership snapshot (a `status` object),
    /// rewritten whenever a node's state or check status changes: for load
    /// balancers and scripts that read a file rather than a stream.
    pub fn keep_state_file(&mut self, path: PathBuf) {
        self.state_file = Some(StateFile { path, dirty: true });
    }

    /// Writes the state file if something changed, atomically: a reader
    /// sees the old snapshot or the new one, never half of one.
    pub(super) fn write_state(&mut self, now: Millis, wall: u64) -> io::Result<()> {
        let Some(state) = &self.state_file else {
            return Ok(());
        };
        if !state.dirty {
            return Ok(());
        }
        let mut out = Output::new(Vec::new());
        out.emit(
            wall,
            &status(&self.detector, &self.intake, self.group.as_ref(), now),
        )?;
        let tmp = state
            .path
            .with_extension(format!("tmp.{}", std::process::id()));
        std::fs::write(&tmp, out.into_inner())
            .and_then(|()| std::fs::rename(&tmp, &state.path))
            .map_err(|e| {
                io::Error::new(e.kind(), format!("writing {}: {e}", state.path.display()))
            })?;
        if let Some(state) = &mut self.state_file {
            state.dirty = false;
        }
        Ok(())
    }
}
