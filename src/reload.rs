//! What SIGHUP does to a running tool: its files are read again (key
//! file, expected nodes, targets) and one `reloaded` event says what
//! changed. A file that cannot be used keeps the configuration it had, and
//! stderr says why in one line: a typo made while editing a file must
//! neither stop the service nor change what it does.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use serde::Serialize;

use crate::auth::Codec;

/// A tool's request to reload: a flag SIGHUP sets, taken once per signal.
#[derive(Clone)]
pub struct Reload {
    asked: Arc<AtomicBool>,
    /// The web side, whose `--web-config` is read again too.
    web: Option<Arc<dyn Rereads>>,
}

/// A part of a tool that reads a file of its own again on SIGHUP, and
/// keeps what it had when the file cannot be used (the web side).
pub trait Rereads: Send + Sync {
    /// Reads the file again; None when the part has none.
    fn reread(&self) -> Option<anyhow::Result<()>>;

    /// What is kept on failure, for the stderr line.
    fn kept(&self) -> &'static str;
}

impl std::fmt::Debug for Reload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reload")
            .field("asked", &self.asked)
            .field("web", &self.web.is_some())
            .finish()
    }
}

impl Reload {
    pub fn new(asked: Arc<AtomicBool>) -> Self {
        Reload { asked, web: None }
    }

    /// Reads `web`'s `--web-config` again on each reload too.
    pub fn with_web(mut self, web: Option<Arc<dyn Rereads>>) -> Self {
        self.web = web;
        self
    }

    /// Whether a reload was asked for since the last call.
    pub fn requested(&self) -> bool {
        self.asked.swap(false, Ordering::Relaxed)
    }

    /// Reads the codec's key file again ([`Codec::reload_keys`]); None for
    /// a codec without one. Every tool that signs or verifies does it this
    /// way.
    pub fn keys(&self, codec: &mut Codec) -> Option<Outcome> {
        Some(match codec.reload_keys()? {
            Ok(true) => Outcome::Reloaded,
            Ok(false) => Outcome::Unchanged,
            Err(e) => self.failed("the old keys", e.into()),
        })
    }

    /// The files every tool has read again: the codec's key file and the
    /// web configuration, and the event that says so (a tool adds its
    /// lists to it).
    pub fn files(&self, codec: &mut Codec) -> Reloaded {
        Reloaded {
            keys: self.keys(codec),
            web: self.web.as_ref().and_then(|web| {
                Some(match web.reread()? {
                    Ok(()) => Outcome::Reloaded,
                    Err(e) => self.failed(web.kept(), e),
                })
            }),
            ..Reloaded::default()
        }
    }

    /// For a tool whose only files are its key file and web configuration:
    /// when a reload was asked for, those read again and the event that
    /// says so.
    pub fn files_if_requested(&self, codec: &mut Codec) -> Option<Reloaded> {
        self.requested().then(|| self.files(codec))
    }

    /// A list (expected nodes, targets) read again by `read`, compared with
    /// `current`, which it replaces when it could be read. `kept` names
    /// what stays on failure, for the stderr line.
    pub fn list(
        &self,
        current: &mut Vec<String>,
        read: anyhow::Result<Vec<String>>,
        kept: &str,
    ) -> ListChange {
        let new = match read {
            Ok(new) => new,
            Err(e) => return ListChange::failed(self.failed(kept, e)),
        };
        let old: BTreeSet<&String> = current.iter().collect();
        let now: BTreeSet<&String> = new.iter().collect();
        let added: Vec<String> = now.difference(&old).map(|s| s.to_string()).collect();
        let removed: Vec<String> = old.difference(&now).map(|s| s.to_string()).collect();
        let outcome = match added.is_empty() && removed.is_empty() {
            true => Outcome::Unchanged,
            false => Outcome::Reloaded,
        };
        *current = new;
        ListChange {
            outcome,
            added,
            removed,
        }
    }

    /// Says on stderr why a file could not be used (with its causes), and
    /// what is kept.
    pub fn failed(&self, kept: &str, why: anyhow::Error) -> Outcome {
        crate::say!("reload: {why:#}; keeping {kept}");
        Outcome::Failed
    }
}

/// What a reload did to one source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// Read again, and different.
    Reloaded,
    /// Read again, the same as before.
    Unchanged,
    /// Could not be used: the configuration is as it was.
    Failed,
}

/// What a reload did to a list of names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListChange {
    pub outcome: Outcome,
    pub added: Vec<String>,
    pub removed: Vec<String>,
}

impl ListChange {
    fn failed(outcome: Outcome) -> Self {
        ListChange {
            outcome,
            added: Vec::new(),
            removed: Vec::new(),
        }
    }
}

/// The `reloaded` event: one field for each source the tool read again
/// (absent for a source it does not have), and for a list what was added
/// and removed.
#[derive(Debug, Default, Serialize)]
#[serde(tag = "type", rename = "reloaded")]
pub struct Reloaded {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keys: Option<Outcome>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected: Option<Outcome>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected_added: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected_removed: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub targets: Option<Outcome>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub targets_added: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub targets_removed: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub web: Option<Outcome>,
}

impl Reloaded {
    /// Adds what happened to the expected nodes.
    pub fn with_expected(mut self, change: ListChange) -> Self {
        self.expected = Some(change.outcome);
        self.expected_added = Some(change.added);
        self.expected_removed = Some(change.removed);
        self
    }

    /// Adds what happened to the targets.
    pub fn with_targets(mut self, change: ListChange) -> Self {
        self.targets = Some(change.outcome);
        self.targets_added = Some(change.added);
        self.targets_removed = Some(change.removed);
        self
    }
}

#[cfg(test)]
mod tests;
