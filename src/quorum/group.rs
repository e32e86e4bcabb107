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

use crate::clock::Millis;
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
    /// `now` (wall clock `wall_ms`). Returns the nodes whose votes it
    /// carried, to be re-judged; refuses a replayed view.
    pub fn on_view<'v>(
        &mut self,
        peer: usize,
        view: &'v View<'_>,
        now: Millis,
        wall_ms: u64,
        max_skew_ms: Option<u64>,
    ) -> Result<Vec<&'v str>, Reject> {
        let Some(p) = self.peers.get_mut(peer) else {
            return Ok(Vec::new());
        };
        let claim = Claim {
            boot: view.boot.as_deref(),
            seq: Some(view.seq),
            ts_ms: view.ts_ms,
        };
        let fresh = Freshness {
            now_wall_ms: wall_ms,
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
    }
}

/// The default quorum of a group of `n` observers: a majority.
pub fn majority(n: usize) -> usize {
    n / 2 + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(peers: usize) -> Group {
        group_of(peers, 1000)
    }

    /// A group where a peer may vote on `max_votes` nodes.
    fn group_of(peers: usize, max_votes: usize) -> Group {
        Group::new(
            Config {
                observer: "me".into(),
                quorum: majority(peers + 1),
                peer_timeout: 300,
                max_votes,
            },
            peers,
        )
    }

    fn view<'a>(name: &'a str, up: &[&'a str], down: &[&'a str]) -> View<'a> {
        View {
            node: name.into(),
            seq: 1,
            boot: None,
            ts_ms: None,
            up: up.iter().map(|&n| n.into()).collect(),
            suspect: Vec::new(),
            down: down.iter().map(|&n| n.into()).collect(),
        }
    }

    fn local(state: State) -> Option<Local> {
        Some(Local {
            state,
            addr: None,
            silent_ms: 0,
        })
    }

    fn kinds(out: &[GroupEvent]) -> Vec<&'static str> {
        out.iter().map(GroupEvent::kind).collect()
    }

    #[test]
    fn majorities() {
        assert_eq!(
            (
                majority(1),
                majority(2),
                majority(3),
                majority(4),
                majority(5)
            ),
            (1, 2, 2, 3, 3)
        );
    }

    #[test]
    fn one_observer_alone_cannot_declare_down() {
        let mut g = group(2);
        let mut out = vec![];
        g.on_view(0, &view("p1", &["web"], &[]), 0, 0, None)
            .unwrap();
        g.on_view(1, &view("p2", &["web"], &[]), 0, 0, None)
            .unwrap();
        assert!(g.check_reachability(0, &mut out));
        g.judge("web", local(State::Up), 0, &mut out);
        assert_eq!(kinds(&out), ["quorum", "up"]);
        out.clear();
        // My link to web is bad; the others still see it up.
        g.judge("web", local(State::Down), 10, &mut out);
        assert!(out.is_empty(), "{out:?}");
        // A second observer agrees: now it is down, with the votes.
        g.on_view(0, &view("p1", &[], &["web"]), 20, 0, None)
            .unwrap();
        g.judge("web", local(State::Down), 20, &mut out);
        assert_eq!(kinds(&out), ["down"]);
        let GroupEvent::Down { votes, quorum, .. } = &out[0] else {
            panic!()
        };
        assert_eq!(*quorum, 2);
        assert_eq!(votes["me"], State::Down);
        assert_eq!(votes["p1"], State::Down);
        assert_eq!(votes["p2"], State::Up);
    }

    #[test]
    fn a_silent_peer_is_unknown_not_a_vote_and_quorum_is_held() {
        let mut g = group(2);
        let mut out = vec![];
        g.on_view(0, &view("p1", &[], &["web"]), 0, 0, None)
            .unwrap();
        g.on_view(1, &view("p2", &["web"], &[]), 0, 0, None)
            .unwrap();
        g.check_reachability(0, &mut out);
        out.clear();
        // Both peers go silent; I alone see web down.
        g.check_reachability(301, &mut out);
        assert_eq!(kinds(&out), ["no-quorum"]);
        let GroupEvent::NoQuorum { reachable, .. } = &out[0] else {
            panic!()
        };
        assert_eq!(reachable, &["me"]);
        out.clear();
        g.judge("web", local(State::Down), 301, &mut out);
        assert!(out.is_empty(), "held without quorum: {out:?}");
        // One peer is back and agrees.
        g.on_view(0, &view("p1", &[], &["web"]), 400, 0, None)
            .unwrap();
        assert!(g.check_reachability(400, &mut out));
        g.judge("web", local(State::Down), 400, &mut out);
        assert_eq!(kinds(&out), ["quorum", "down"]);
    }

    #[test]
    fn stale_votes_do_not_count() {
        let mut g = group(2);
        let mut out = vec![];
        g.on_view(0, &view("p1", &[], &["web"]), 0, 0, None)
            .unwrap();
        g.on_view(1, &view("p2", &[], &[]), 0, 0, None).unwrap();
        g.check_reachability(0, &mut out);
        // p1 keeps sending views, but web left them long ago.
        g.on_view(0, &view("p1", &[], &[]), 350, 0, None).unwrap();
        g.on_view(1, &view("p2", &[], &[]), 350, 0, None).unwrap();
        g.judge("web", local(State::Down), 350, &mut out);
        assert_eq!(kinds(&out), ["quorum"], "{out:?}");
    }

    #[test]
    fn pending_is_no_vote_and_suspect_is_neither_up_nor_down() {
        let mut g = group(2);
        let mut out = vec![];
        let mut v = view("p1", &[], &[]);
        v.suspect.push("web".into());
        g.on_view(0, &v, 0, 0, None).unwrap();
        g.on_view(1, &view("p2", &["web"], &[]), 0, 0, None)
            .unwrap();
        g.check_reachability(0, &mut out);
        out.clear();
        g.judge("web", local(State::Pending), 0, &mut out);
        assert!(out.is_empty());
        g.judge("web", local(State::Up), 0, &mut out);
        assert_eq!(kinds(&out), ["up"]);
    }

    #[test]
    fn a_group_of_one_decides_alone() {
        let mut g = group(0);
        let mut out = vec![];
        g.judge("web", local(State::Down), 0, &mut out);
        assert_eq!(kinds(&out), ["down"]);
        assert_eq!(g.next_deadline(), None);
    }

    fn names(prefix: &str, n: usize) -> Vec<String> {
        (0..n).map(|i| format!("{prefix}{i}")).collect()
    }

    fn view_of<'a>(name: &'a str, up: &'a [String]) -> View<'a> {
        View {
            up: up.iter().map(|n| n.as_str().into()).collect(),
            ..view(name, &[], &[])
        }
    }

    /// A peer cannot make this observer remember more than `max_votes`
    /// nodes: names beyond are ignored (not re-judged, no vote), while
    /// nodes it already votes on still change.
    #[test]
    fn a_peer_votes_on_max_votes_nodes_at_most() {
        let mut g = group_of(1, 3);
        let many = names("n", 10);
        let v = view_of("p1", &many);
        let carried = g.on_view(0, &v, 0, 0, None).unwrap();
        assert_eq!(carried, ["n0", "n1", "n2"]);
        assert_eq!(g.peers[0].votes.len(), 3);
        let mut out = vec![];
        g.check_reachability(0, &mut out);
        out.clear();
        // quorum 2: my vote alone is not enough, the peer's does not count.
        g.judge("n5", local(State::Up), 0, &mut out);
        assert!(out.is_empty(), "{out:?}");
        // A known node's vote still changes at the limit.
        let v = view("p1", &["n9"], &["n0"]);
        let carried = g.on_view(0, &v, 10, 0, None).unwrap();
        assert_eq!(carried, ["n0"]);
        assert_eq!(g.peers[0].votes.len(), 3);
        assert_eq!(g.peers[0].votes["n0"], (ViewState::Down, 10));
        // Once its old votes are stale, a full table frees up: the peer's
        // new nodes are heard.
        let renamed = names("m", 3);
        let v = view_of("p1", &renamed);
        let carried = g.on_view(0, &v, 311, 0, None).unwrap();
        assert_eq!(carried, ["m0", "m1", "m2"]);
        assert!(g.peers[0].votes.keys().all(|n| n.starts_with('m')));
    }

    /// Votes nobody repeated for a peer timeout are dropped: a peer
    /// renaming its nodes does not pile up votes up to `max_votes`.
    #[test]
    fn votes_not_repeated_for_a_peer_timeout_are_dropped() {
        let mut g = group_of(1, 100_000);
        let old = names("old", 1000);
        g.on_view(0, &view_of("p1", &old), 0, 0, None).unwrap();
        assert_eq!(g.peers[0].votes.len(), 1000);
        // The peer renames them all, 1 ms past their timeout: the old
        // 1000 go.
        let new = names("new", 25);
        g.on_view(0, &view_of("p1", &new), 301, 0, None).unwrap();
        assert_eq!(g.peers[0].votes.len(), 25);
        assert!(g.peers[0].votes.keys().all(|n| n.starts_with("new")));
    }

    /// A peer that went silent is counted unreachable once; after that its
    /// old deadline is not the group's next deadline any more (which would
    /// be in the past and wake the listener at once, again and again).
    #[test]
    fn a_gone_peer_does_not_keep_the_deadline_in_the_past() {
        let mut g = group(2);
        let mut out = vec![];
        g.on_view(0, &view("p1", &[], &[]), 0, 0, None).unwrap();
        g.on_view(1, &view("p2", &[], &[]), 200, 0, None).unwrap();
        g.check_reachability(200, &mut out);
        // p1 unreachable at 301 (timeout 300), p2 at 501.
        assert_eq!(g.next_deadline(), Some(301));
        g.check_reachability(301, &mut out);
        assert_eq!(g.reachable(301), ["me", "p2"]);
        assert_eq!(g.next_deadline(), Some(501));
        g.check_reachability(501, &mut out);
        assert_eq!(kinds(&out), ["quorum", "no-quorum"]);
        assert_eq!(g.next_deadline(), None, "both peers gone: nothing due");
        // Still none while they stay gone.
        g.check_reachability(10_000, &mut out);
        assert_eq!(g.next_deadline(), None);
        // A peer back: its deadline is in the future again.
        g.on_view(0, &view("p1", &[], &[]), 10_100, 0, None)
            .unwrap();
        g.check_reachability(10_100, &mut out);
        assert_eq!(g.next_deadline(), Some(10_401));
    }
}
