//! SIGHUP in `hb-listen`: the key file and the expected nodes read again.
//! Nodes added to the expected ones are `pending` from the reload on;
//! nodes removed are no longer expected ([`Detector::unexpect`]).
//!
//! [`Detector::unexpect`]: crate::detector::Detector::unexpect

use std::io::{self, Write};

use super::Listener;
use crate::clock::Moment;
use crate::reload::Reload;

/// Reads the expected nodes again: the `--expect` ones and those of
/// `--expect-file`, or why they cannot be read.
pub type ReadExpected = Box<dyn FnMut() -> anyhow::Result<Vec<String>>>;

/// What a listener reads again on SIGHUP.
pub(super) struct Reloading {
    reload: Reload,
    /// With `--expect-file`: how to read the expected nodes, and the ones
    /// expected now.
    expected: Option<(ReadExpected, Vec<String>)>,
}

impl<W: Write> Listener<W> {
    /// Reads the key file again when `reload` asks (SIGHUP), and with
    /// `expected` the expected nodes: `read`, which gave `now` at the
    /// start.
    pub fn reload_on(&mut self, reload: Reload, expected: Option<(ReadExpected, Vec<String>)>) {
        self.reload = Some(Reloading { reload, expected });
    }

    /// Reloads if SIGHUP asked, and prints the `reloaded` event.
    pub(super) fn reload_if_asked(&mut self, at: Moment) -> io::Result<()> {
        let now = at.mono;
        let Some(r) = self.reload.as_mut().filter(|r| r.reload.requested()) else {
            return Ok(());
        };
        let mut event = r.reload.files(&mut self.intake.codec);
        if let Some((read, current)) = &mut r.expected {
            let mut change = r
                .reload
                .list(current, read(), "the expected nodes as they were");
            for name in &change.removed {
                self.detector.unexpect(name);
            }
            let mut refused = Vec::new();
            for name in &change.added {
                if self.detector.expect_from(name, now).is_err() {
                    refused.push(name.clone());
                }
            }
            if !refused.is_empty() {
                let why = anyhow::anyhow!("{} more expected nodes than --max-nodes", refused.len());
                r.reload
                    .failed(&format!("{} not expected", refused.join(", ")), why);
                // Not expected: the next reload tries them again.
                current.retain(|n| !refused.contains(n));
                change.added.retain(|n| !refused.contains(n));
            }
            if let Some(state) = &mut self.state_file {
                state.dirty |= !change.added.is_empty();
            }
            event = event.with_expected(change);
        }
        self.out.emit(at, &event)
    }
}
