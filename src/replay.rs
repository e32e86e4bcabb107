//! Replay protection: what a receiver remembers of each sender (its boot
//! and the highest seq of that boot), and what it then believes.
//!
//! Within a boot, seq must grow; a new boot is believed only if its wall
//! clock is within `max_skew_ms` of ours (when given: with a key), so a
//! recorded old boot cannot be replayed either. That is also what a sender
//! whose clock is off meets, at every new boot: refused as `skew`, not as
//! `replay`, so that the operator looks at the clock. The detector keeps one
//! [`LastSeen`] in each node's record, hb-ack one per sender in
//! [`Senders`], a quorum group one per peer.

use std::collections::HashMap;

use compact_str::CompactString;

use crate::wire::Reject;

/// What a message says about where it stands in its sender's life.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Claim<'a> {
    pub boot: Option<&'a str>,
    pub seq: Option<u64>,
    /// The sender's wall clock when it sent the message.
    pub ts_ms: Option<u64>,
}

/// How a new boot's clock is checked: against ours, within the skew (None:
/// without a key, where anyone can send anything anyway).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Freshness {
    pub now_wall_ms: u64,
    pub max_skew_ms: Option<u64>,
}

/// A sender's last accepted boot and seq.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LastSeen {
    pub boot: Option<CompactString>,
    pub seq: Option<u64>,
}

impl LastSeen {
    /// Whether `claim` may be believed from a sender last seen as `known`
    /// (None: never seen).
    pub fn admits(
        known: Option<&LastSeen>,
        claim: &Claim<'_>,
        fresh: Freshness,
    ) -> Result<(), Reject> {
        let same_boot =
            matches!(known, Some(LastSeen { boot: Some(k), .. }) if Some(k.as_str()) == claim.boot);
        if same_boot {
            if let (Some(last), Some(seq)) = (known.and_then(|k| k.seq), claim.seq) {
                if seq <= last {
                    return Err(Reject::Replay);
                }
            }
            return Ok(());
        }
        if let Some(skew) = fresh.max_skew_ms {
            let Some(ts) = claim.ts_ms else {
                return Err(Reject::Skew);
            };
            if ts.abs_diff(fresh.now_wall_ms) > skew {
                return Err(Reject::Skew);
            }
        }
        Ok(())
    }

    /// Remembers an accepted claim: a new boot starts its seq afresh; within
    /// a boot the seq never moves backwards (a recording may hold an older
    /// beat, which proves life but must not count phantom gaps later).
    pub fn remember(&mut self, claim: &Claim<'_>) {
        if let Some(boot) = claim.boot {
            if self.boot.as_deref() != Some(boot) {
                self.boot = Some(boot.into());
                self.seq = None;
            }
        }
        if let Some(seq) = claim.seq {
            self.seq = Some(self.seq.map_or(seq, |last| last.max(seq)));
        }
    }
}

/// The senders a receiver remembers, by name, at most `max` of them: a
/// flood of invented names cannot grow memory without bound.
#[derive(Debug)]
pub struct Senders {
    seen: HashMap<String, LastSeen>,
    max: usize,
}

impl Senders {
    pub fn new(max: usize) -> Self {
        Senders {
            seen: HashMap::new(),
            max,
        }
    }

    /// Checks `claim` from `name` and remembers it if it is believed.
    pub fn admit(&mut self, name: &str, claim: &Claim<'_>, fresh: Freshness) -> Result<(), Reject> {
        let known = self.seen.get(name);
        if known.is_none() && self.seen.len() >= self.max {
            return Err(Reject::TooManyNodes);
        }
        LastSeen::admits(known, claim, fresh)?;
        match self.seen.get_mut(name) {
            Some(last) => last.remember(claim),
            None => {
                let mut last = LastSeen::default();
                last.remember(claim);
                self.seen.insert(name.to_owned(), last);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
