//! The durations `hb-poll --every` prints, in real time.

use std::collections::HashMap;

use crate::clock::Millis;
use crate::detector::Event;

/// The durations of the poller's lines on its monotonic clock. Its
/// detector counts rounds, each one interval however long it took, so
/// that a round stretched by a long `-t` is one miss and not several; but
/// what a line says of time is real: `silent_ms` is the time since the
/// target last answered (so that it agrees with its `last_seen`), and an
/// `up`'s `down_ms` the time since its `down`.
#[derive(Debug, Default)]
pub(super) struct RealTime {
    /// When each target last answered; before its first answer, since
    /// when it is watched.
    heard: HashMap<String, Millis>,
    /// When each target that is down was declared down.
    down_since: HashMap<String, Millis>,
    /// The silences that the answers since the last [`RealTime::restate`]
    /// ended.
    ended: HashMap<String, Millis>,
}

impl RealTime {
    /// `target` is watched from `now` on.
    pub fn watch(&mut self, target: &str, now: Millis) {
        self.heard.insert(target.to_owned(), now);
    }

    /// `target` is watched no more.
    pub fn forget(&mut self, target: &str) {
        self.heard.remove(target);
        self.down_since.remove(target);
        self.ended.remove(target);
    }

    /// `target` answered at `at`.
    pub fn answered(&mut self, target: &str, at: Millis) {
        if let Some(before) = self.heard.insert(target.to_owned(), at) {
            self.ended
                .insert(target.to_owned(), at.saturating_sub(before));
        }
    }

    /// Sets the durations `events` carry to the real ones at `now`.
    pub fn restate(&mut self, now: Millis, events: &mut [Event]) {
        for event in events {
            if let Event::Down { node, .. } = event {
                self.down_since.insert(node.clone(), now);
            }
            match event {
                Event::Suspect {
                    node, silent_ms, ..
                }
                | Event::Down {
                    node, silent_ms, ..
                }
                | Event::Forgotten {
                    node, silent_ms, ..
                } => {
                    if let Some(since) = self.heard.get(node.as_str()) {
                        *silent_ms = now.saturating_sub(*since);
                    }
                }
                Event::Up {
                    node,
                    silent_ms,
                    down_ms,
                    ..
                } => {
                    if let (Some(ms), Some(ended)) = (silent_ms.as_mut(), self.ended.get(node)) {
                        *ms = *ended;
                    }
                    let since = self.down_since.remove(node.as_str());
                    if let (Some(ms), Some(since)) = (down_ms.as_mut(), since) {
                        *ms = now.saturating_sub(since);
                    }
                }
                _ => {}
            }
        }
        self.ended.clear();
    }
}

#[cfg(test)]
mod tests;
