//! The network half of a quorum group: this listener's views go to its
//! peers, the peers' views come in as votes, and every node whose votes
//! changed is judged again. hb-listen's loop drives it: it hands over the
//! detector's local events (which become votes instead of output) and
//! prints the group's verdicts.

use std::net::{SocketAddr, UdpSocket};

use serde::Serialize;

use crate::auth::Codec;
use crate::clock::wall_ms;
use crate::clock::{Millis, Moment};
use crate::detector::{Detector, Event, State};
use crate::quorum::view::{encode_views, ViewState};
use crate::quorum::{majority, Config, Group, GroupEvent, Local};
use crate::wire::{self, Reject, View};

/// This listener as a member of a quorum group: the peers it shares views
/// with, and the group's votes and verdicts.
pub struct Membership {
    pub group: Group,
    pub observer: String,
    /// This observer's boot id, in its views (replay protection).
    pub boot: String,
    /// The other observers' listening addresses: views go there, and only
    /// views from there count.
    pub peers: Vec<SocketAddr>,
    /// How often views are sent (also at once after a local change).
    pub view_every: Millis,
}

/// A quorum larger than the group: no verdict could ever be reached.
#[derive(Debug, thiserror::Error)]
#[error("--quorum {quorum} is more than the {size} observers of the group")]
pub struct QuorumTooLarge {
    pub quorum: u64,
    pub size: usize,
}

/// Views missed before a peer counts as unreachable: one lost view is not
/// a gone peer.
pub const PEER_TIMEOUT_VIEWS: u64 = 3;

impl Membership {
    /// The group of `observer` and `peers`, agreeing with `quorum` votes
    /// (None: a majority), sharing views every `view_every`; a peer votes
    /// on `max_votes` nodes at most.
    pub fn new(
        observer: String,
        peers: Vec<SocketAddr>,
        quorum: Option<u64>,
        view_every: Millis,
        max_votes: usize,
    ) -> Result<Self, QuorumTooLarge> {
        let size = peers.len() + 1;
        let quorum = match quorum {
            None => majority(size),
            Some(k) if k as usize <= size => k as usize,
            Some(k) => return Err(QuorumTooLarge { quorum: k, size }),
        };
        let cfg = Config {
            observer: observer.clone(),
            quorum,
            peer_timeout: PEER_TIMEOUT_VIEWS * view_every,
            max_votes,
        };
        Ok(Membership {
            group: Group::new(cfg, peers.len()),
            observer,
            boot: wire::new_boot_id(),
            peers,
            view_every,
        })
    }
}

/// The quorum group in a `status` line.
#[derive(Debug, Clone, Serialize)]
pub struct GroupStatus {
    quorum: usize,
    reachable: Vec<String>,
    has_quorum: bool,
}

/// A membership in motion: when views go out, and the nodes and events
/// waiting to be judged and printed.
pub struct GroupLink {
    m: Membership,
    next_view: Millis,
    seq: u64,
    /// A local state changed since the last view was sent.
    dirty: bool,
    last_sent: Millis,
    /// Nodes whose verdict must be re-judged.
    rejudge: Vec<String>,
    events: Vec<GroupEvent>,
}

impl GroupLink {
    /// Starts sharing views at `start`.
    pub fn new(m: Membership, start: Millis) -> Self {
        GroupLink {
            next_view: start,
            m,
            seq: 0,
            dirty: false,
            last_sent: 0,
            rejudge: Vec::new(),
            events: Vec::new(),
        }
    }

    /// When a view for a local change may go out: at once, but at most ten
    /// a view interval, so a burst of changes (a fleet restarting, a flood
    /// of invented names) is not a burst of full views to every peer.
    fn next_change_view(&self) -> Millis {
        self.last_sent + (self.m.view_every / 10).max(10)
    }

    /// The earliest time the link has something to do: a view to send, or
    /// a peer about to become unreachable.
    pub fn next_wake(&self) -> Option<Millis> {
        let view = match self.dirty {
            true => self.next_view.min(self.next_change_view()),
            false => self.next_view,
        };
        Some(view)
            .into_iter()
            .chain(self.m.group.next_deadline())
            .min()
    }

    /// Sends this observer's view of `detector` to every peer when it is
    /// due, or at once after a local change, so agreement takes at most
    /// one view interval.
    pub fn share_view(
        &mut self,
        socket: &UdpSocket,
        now: Millis,
        detector: &Detector,
        codec: &Codec,
    ) {
        if now < self.next_view && !(self.dirty && now >= self.next_change_view()) {
            return;
        }
        self.last_sent = now;
        self.seq += 1;
        let states = detector.states().filter_map(|(name, state)| {
            let shared = match state {
                State::Up => ViewState::Up,
                State::Suspect => ViewState::Suspect,
                State::Down => ViewState::Down,
                // Shared, but not a vote either way: a node that left or
                // is away is neither alive nor failed.
                State::Left => ViewState::Left,
                State::Away => ViewState::Away,
                State::Pending => return None,
            };
            Some((name, shared))
        });
        let parts = encode_views(&self.m.observer, &self.m.boot, self.seq, wall_ms(), states);
        self.seq += parts.len() as u64 - 1;
        for mut part in parts {
            if codec.seal(&mut part).is_err() {
                continue; // views are split with room for the MAC
            }
            for peer in &self.m.peers {
                // Best effort: a peer that is down is what views detect.
                let _ = socket.send_to(&part, peer);
            }
        }
        self.dirty = false;
        self.next_view = now + self.m.view_every;
    }

    /// Time passed: a peer may have gone (quorum lost) or quorum may be
    /// back, in which case every node is judged again, as verdicts were held.
    pub fn tick(&mut self, now: Millis, detector: &Detector) {
        if self.m.group.check_reachability(now, &mut self.events) {
            self.rejudge_all(detector);
        }
    }

    /// A view that arrived from `from`: votes of a peer if `from` is one.
    pub fn on_view(
        &mut self,
        view: &View<'_>,
        from: Option<SocketAddr>,
        at: Moment,
        max_skew_ms: Option<u64>,
        detector: &Detector,
    ) -> Result<(), Reject> {
        let now = at.mono;
        let from = from.map(crate::net::canonical).ok_or(Reject::UnknownPeer)?;
        let peer = self
            .m
            .peers
            .iter()
            .position(|&p| crate::net::canonical(p) == from)
            .ok_or(Reject::UnknownPeer)?;
        let nodes = self.m.group.on_view(peer, view, at, max_skew_ms)?;
        self.rejudge.extend(nodes.into_iter().map(str::to_owned));
        self.tick(now, detector);
        Ok(())
    }

    /// Takes a local event of the detector. Its `up`, `suspect` and `down`
    /// are only this observer's vote: shared in views and judged with the
    /// peers' votes, never printed (true: taken). A local suspicion printed
    /// would never be closed, as local `up`s are not.
    pub fn take_vote(&mut self, event: &Event) -> bool {
        match event {
            Event::Up { node, .. } | Event::Down { node, .. } => {
                self.dirty = true;
                self.rejudge.push(node.clone());
                true
            }
            Event::Suspect { .. } => {
                self.dirty = true;
                true
            }
            // Said by the node itself to every observer, so printed by
            // each; the group's last verdict is forgotten, so that its
            // return is a verdict again. A forgotten node: this observer
            // no longer tracks it, and its next view says so.
            Event::Left { node, .. } | Event::Away { node, .. } | Event::Forgotten { node, .. } => {
                self.dirty = true;
                self.m.group.forget_verdict(node);
                false
            }
            Event::Restart { .. }
            | Event::Beat { .. }
            | Event::Flapping { .. }
            | Event::Health { .. }
            | Event::Started { .. }
            | Event::Ok { .. }
            | Event::Failed { .. }
            | Event::Late { .. }
            | Event::RunningLong { .. }
            | Event::Overlap { .. } => false,
        }
    }

    /// Judges every node whose votes changed; their verdicts, and any
    /// change of quorum, wait in [`GroupLink::drain_events`].
    pub fn judge(&mut self, detector: &Detector, now: Millis) {
        for node in self.rejudge.drain(..) {
            let local = detector.node(&node, now).map(|v| Local {
                state: v.state,
                addr: v.addr,
                silent_ms: v.silent_ms,
                degraded: v.routing_state == "degraded",
            });
            self.m.group.judge(&node, local, now, &mut self.events);
        }
    }

    /// Whether group events wait to be printed.
    pub fn has_events(&self) -> bool {
        !self.events.is_empty()
    }

    /// The group events to print, in order.
    pub fn drain_events(&mut self) -> std::vec::Drain<'_, GroupEvent> {
        self.events.drain(..)
    }

    /// The group as a `status` line shows it.
    pub fn status(&self, now: Millis) -> GroupStatus {
        GroupStatus {
            quorum: self.m.group.quorum(),
            reachable: self.m.group.reachable(now),
            has_quorum: self.m.group.has_quorum(),
        }
    }

    fn rejudge_all(&mut self, detector: &Detector) {
        self.rejudge
            .extend(detector.states().map(|(n, _)| n.to_owned()));
    }
}

#[cfg(test)]
mod tests;
