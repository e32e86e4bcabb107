//! Heartbeats with quorum: a node is declared `down` (or `up`) only when
//! `quorum` observers of a static group agree, which keeps one observer's
//! bad link from taking a live node out of rotation.
//!
//! Each observer runs its own detector and shares its view with its peers
//! (see [`crate::wire::View`]). A peer's votes count only while its views
//! keep arriving; a silent peer is unknown, never a vote. When fewer than
//! `quorum` observers (self included) are reachable, verdicts are held and
//! `no-quorum` is reported instead of guessing. Pure: time is passed in.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;

use serde::Serialize;

use crate::clock::{Millis, Moment};
use crate::detector::State;
use crate::quorum::view::ViewState;
use crate::replay::{Claim, Freshness, LastSeen};
use crate::wire::{Reject, View};

/// The group as this observer sees it.
#[derive(Debug, Clone)]
pub struct Config {
    /// This observer's name.
    pub observer: String,
    /// Observers (self included) that must agree on a verdict.
    pub quorum: usize,
    /// A peer whose views stop for this long is unreachable.
    pub peer_timeout: Millis,
    /// Votes remembered per peer, at most (`--max-nodes`).
    pub max_votes: usize,
}

/// A group verdict or a change in the group's reachability.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum GroupEvent {
    /// `quorum` observers see the node up.
    Up {
        node: String,
        addr: Option<SocketAddr>,
        votes: BTreeMap<String, State>,
        quorum: usize,
        /// This observer's last beat of the node carried a plugin check
        /// not ok, as on a single listener's `up`.
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        degraded: bool,
    },
    /// `quorum` observers see the node down.
    Down {
        node: String,
        addr: Option<SocketAddr>,
        /// This observer's own measure of the silence.
        silent_ms: Millis,
        votes: BTreeMap<String, State>,
        quorum: usize,
    },
    /// Fewer than `quorum` observers are reachable: verdicts are held.
    NoQuorum {
        reachable: Vec<String>,
        quorum: usize,
    },
    /// Enough observers are reachable again.
    Quorum {
        reachable: Vec<String>,
        quorum: usize,
    },
}

impl GroupEvent {
    /// The `type` of its line.
    pub fn kind(&self) -> &'static str {
        match self {
            GroupEvent::Up { .. } => "up",
            GroupEvent::Down { .. } => "down",
            GroupEvent::NoQuorum { .. } => "no-quorum",
            GroupEvent::Quorum { .. } => "quorum",
        }
    }
}

/// What this observer knows of one node, for a verdict.
#[derive(Debug, Clone, Copy)]
pub struct Local {
    pub state: State,
    pub addr: Option<SocketAddr>,
    pub silent_ms: Millis,
    /// Up with a plugin check not ok.
    pub degraded: bool,
}

#[derive(Debug, Default)]
struct Peer {
    name: Option<String>,
    /// The last accepted view's boot and seq (replay protection).
    last: LastSeen,
    last_view: Option<Millis>,
    /// Each node's state in this peer's views, and when it was heard.
    votes: HashMap<String, (ViewState, Millis)>,
    /// When stale votes were last dropped.
    pruned_at: Millis,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Up,
    Down,
}

/// Votes from peers and the verdicts printed so far.
#[derive(Debug)]
pub struct Group {
    cfg: Config,
    peers: Vec<Peer>,
    verdicts: HashMap<String, Verdict>,
    has_quorum: bool,
    /// When reachability was last checked.
    checked_at: Millis,
}

impl Group {
    /// A group of this observer and `peers` others. It starts with quorum
    /// only if it needs no peer: until views arrive, peers are unknown.
    pub fn new(cfg: Config, peers: usize) -> Self {
        Group {
            has_quorum: cfg.quorum <= 1,
            cfg,
            peers: (0..peers).map(|_| Peer::default()).collect(),
            verdicts: HashMap::new(),
            checked_at: 0,
        }
    }

    /// A view (or one part of a view) from peer `peer` (by index), at
    /// `at`. Returns the nodes whose votes it
    /// carried, to be re-judged; refuses a replayed view.
    pub fn on_view<'v>(
        &mut self,
        peer: usize,
        view: &'v View<'_>,
        at: Moment,
        max_skew_ms: Option<u64>,
    ) -> Result<Vec<&'v str>, Reject> {
        let now = at.mono;
        let Some(p) = self.peers.get_mut(peer) else {
            return Ok(Vec::new());
        };
        let claim = Claim {
            boot: view.boot.as_deref(),
            seq: Some(view.seq),
            ts_ms: view.ts_ms,
        };
        let fresh = Freshness {
            now_wall_ms: at.wall,
            max_skew_ms,
        };
        LastSeen::admits(Some(&p.last), &claim, fresh)?;
        p.last.remember(&claim);
        if p.name.as_deref() != Some(view.node.as_ref()) {
            p.name = Some(view.node.to_string());
        }
        p.last_view = Some(now);
        // Votes nobody repeated for a peer timeout are dead weight: dropped
        // once per timeout (not on every view part: with a large fleet a
        // view is thousands of parts), so a peer that renamed its nodes is
        // heard on its new ones even when its table was full.
        let timeout = self.cfg.peer_timeout;
        if now.saturating_sub(p.pruned_at) > timeout {
            p.votes
                .retain(|_, (_, heard)| now.saturating_sub(*heard) <= timeout);
            p.pruned_at = now;
        }
        let mut nodes = Vec::new();
        for (list, state) in [
            (&view.up, ViewState::Up),
            (&view.suspect, ViewState::Suspect),
            (&view.down, ViewState::Down),
            (&view.left, ViewState::Left),
            (&view.away, ViewState::Away),
        ] {
            for name in list {
                if p.votes.len() >= self.cfg.max_votes && !p.votes.contains_key(name.as_ref()) {
                    // A peer cannot make this observer remember more nodes
                    // than it tracks itself.
                    continue;
                }
                p.votes.insert(name.to_string(), (state, now));
                nodes.push(name.as_ref());
            }
        }
        Ok(nodes)
    }

    /// Re-checks which peers are reachable at `now`; reports a loss or a
    /// return of quorum. Returns true when quorum came back, so every node
    /// must be re-judged.
    pub fn check_reachability(&mut self, now: Millis, out: &mut Vec<GroupEvent>) -> bool {
        self.checked_at = self.checked_at.max(now);
        let reachable = self.reachable(now);
        let has = reachable.len() >= self.cfg.quorum;
        if has == self.has_quorum {
            return false;
        }
        self.has_quorum = has;
        let quorum = self.cfg.quorum;
        out.push(if has {
            GroupEvent::Quorum { reachable, quorum }
        } else {
            GroupEvent::NoQuorum { reachable, quorum }
        });
        has
    }

    /// Judges `node` from this observer's own view and its peers' votes;
    /// prints a verdict when `quorum` observers agree on a new one.
    pub fn judge(
        &mut self,
        node: &str,
        local: Option<Local>,
        now: Millis,
        out: &mut Vec<GroupEvent>,
    ) {
        if !self.has_quorum {
            return;
        }
        let mut votes = BTreeMap::new();
        if let Some(l) = local.filter(|l| l.state != State::Pending) {
            votes.insert(self.cfg.observer.clone(), l.state);
        }
        for p in &self.peers {
            let (Some(name), true) = (&p.name, self.is_reachable(p, now)) else {
                continue;
            };
            if let Some(&(vote, heard)) = p.votes.get(node) {
                if now.saturating_sub(heard) <= self.cfg.peer_timeout {
                    votes.insert(name.clone(), state_of(vote));
                }
            }
        }
        let count = |s: State| votes.values().filter(|v| **v == s).count();
        let verdict = if count(State::Down) >= self.cfg.quorum {
            Verdict::Down
        } else if count(State::Up) >= self.cfg.quorum {
            Verdict::Up
        } else {
            return;
        };
        if self.verdicts.get(node) == Some(&verdict) {
            return;
        }
        self.verdicts.insert(node.to_owned(), verdict);
        let quorum = self.cfg.quorum;
        let addr = local.and_then(|l| l.addr);
        out.push(match verdict {
            Verdict::Up => GroupEvent::Up {
                node: node.to_owned(),
                addr,
                votes,
                quorum,
                degraded: local.is_some_and(|l| l.degraded),
            },
            Verdict::Down => GroupEvent::Down {
                node: node.to_owned(),
                addr,
                silent_ms: local.map_or(0, |l| l.silent_ms),
                votes,
                quorum,
            },
        });
    }

    /// Forgets the group's verdict on `node`, which announced its own
    /// absence: the next verdict on it is printed, whatever it is.
    pub fn forget_verdict(&mut self, node: &str) {
        self.verdicts.remove(node);
    }

    /// When a peer next becomes unreachable, if any is reachable now.
    /// (Only peers not already counted as unreachable: a peer that stays
    /// gone must not keep the listener waking up.)
    pub fn next_deadline(&self) -> Option<Millis> {
        self.peers
            .iter()
            .filter_map(|p| p.last_view)
            .map(|t| t + self.cfg.peer_timeout + 1)
            .filter(|&due| self.reachable_until_known(due))
            .min()
    }

    /// Whether the reachability recorded so far still expects a peer
    /// whose views stop at `due`: false once quorum accounting has seen
    /// the time pass.
    fn reachable_until_known(&self, due: Millis) -> bool {
        due > self.checked_at
    }

    /// Observers reachable at `now`, self first.
    pub fn reachable(&self, now: Millis) -> Vec<String> {
        let mut names = vec![self.cfg.observer.clone()];
        names.extend(
            self.peers
                .iter()
                .filter(|p| self.is_reachable(p, now))
                .filter_map(|p| p.name.clone()),
        );
        names
    }

    pub fn quorum(&self) -> usize {
        self.cfg.quorum
    }

    pub fn has_quorum(&self) -> bool {
        self.has_quorum
    }

    fn is_reachable(&self, p: &Peer, now: Millis) -> bool {
        p.last_view
            .is_some_and(|t| now.saturating_sub(t) <= self.cfg.peer_timeout)
    }
}

fn state_of(v: ViewState) -> State {
    match v {
        ViewState::Up => State::Up,
        ViewState::Suspect => State::Suspect,
        ViewState::Down => State::Down,
        ViewState::Left => State::Left,
        ViewState::Away => State::Away,
    }
}

/// The default quorum of a group of `n` observers: a majority.
pub fn majority(n: usize) -> usize {
    n / 2 + 1
}

#[cfg(test)]
mod tests;
