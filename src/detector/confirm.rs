//! What asking a suspect node found out: it answered (the suspicion is
//! refuted, the node is `up` again at once), or its port is closed (no
//! process is behind it: `down` at once, `"cause":"unreachable"`). The
//! asking itself is the listener's; the detector only hears the outcome,
//! and keeps what each node's address may still be sent: never more than
//! three times the bytes that came from it ([`Detector::spend`]).

use std::net::{IpAddr, SocketAddr};

use super::faults::Over;
use super::path::{note_came_back, note_held};
use super::table::{credit_after, healthy};
use super::verdict::{down_event, note_change, phi_of};
use super::{Detector, Event, Rule, State};
use crate::clock::{Millis, Moment};

impl Detector {
    /// The boot `name`'s beats come from, if they say one: an answer to a
    /// probe carries it.
    pub fn boot(&self, name: &str) -> Option<&str> {
        self.nodes[self.nodes.find(name)?].last.boot.as_deref()
    }

    /// `bytes` came from `addr` for `name` (an answer to its probe): its
    /// address may be sent three times as many, as for a beat.
    pub fn earn(&mut self, name: &str, addr: Option<SocketAddr>, bytes: usize) {
        if let Some(idx) = self.nodes.find(name) {
            let bytes = u32::try_from(bytes).unwrap_or(u32::MAX);
            let node = &mut self.nodes[idx];
            node.credit = credit_after(node, addr, bytes);
        }
    }

    /// Spends `bytes` of what the listener may send `name`'s address:
    /// false, and nothing spent, when its credit is short (the probe is
    /// not sent; the node is judged by its silence).
    pub fn spend(&mut self, name: &str, bytes: usize) -> bool {
        let Some(idx) = self.nodes.find(name) else {
            return false;
        };
        let node = &mut self.nodes[idx];
        match u32::try_from(bytes).ok().filter(|&b| b <= node.credit) {
            Some(b) => {
                node.credit -= b;
                true
            }
            None => false,
        }
    }

    /// Where to ask `name` whether it is alive, from which of this host's
    /// addresses, and its interval: the address its beats come from, and
    /// the one they were sent to (the one it answers; None where unknown),
    /// if it is suspect and its beats say it answers; else None.
    pub fn askable(&self, name: &str) -> Option<(SocketAddr, Option<IpAddr>, Millis)> {
        let node = &self.nodes[self.nodes.find(name)?];
        let addr = node
            .addr
            .filter(|_| node.state == State::Suspect && node.answers)?;
        Some((addr, self.locals.address(node.to), node.every_ms))
    }

    /// `name` answered a probe at `at`: if it is
    /// still suspect, it is `up` again (`"refuted":true`) and its deadlines
    /// count from the answer, as from a beat (so does the interval phi
    /// learns at the next beat); the silence it answered after is no
    /// evidence in its next suspicion (`evidence`), and an answer to a
    /// probe sent at `asked_at` that came over half an interval later was
    /// held, not lost: the node pauses. Says whether the suspicion was
    /// refuted.
    pub fn refute(
        &mut self,
        at: Moment,
        name: &str,
        asked_at: Millis,
        out: &mut Vec<Event>,
    ) -> bool {
        let now = at.mono;
        let Some(idx) = self.nodes.find(name) else {
            return false;
        };
        let node = &mut self.nodes[idx];
        if node.state != State::Suspect {
            return false;
        }
        out.push(Event::Up {
            node: node.name.to_string(),
            addr: node.addr,
            was: Some(State::Suspect),
            silent_ms: node.last_seen.map(|t| now.saturating_sub(t)),
            down_ms: None,
            refuted: true,
            degraded: !healthy(node),
        });
        if let Some(since) = node.last_seen {
            note_came_back(node, now.saturating_sub(since));
        }
        // Late by this listener's own stall proves nothing of the node.
        if self.faults.over(asked_at) == Over::Ok {
            note_held(node, now.saturating_sub(asked_at));
        }
        node.state = State::Up;
        node.since = now;
        node.grace = 0;
        node.last_seen = Some(now);
        node.wall_at_last_beat = at.wall;
        self.arm(idx);
        true
    }

    /// A probe of `name` at `to` met a closed port at `now`: if the node is
    /// still suspect and still beats from `to`, it is `down` at once with
    /// `"cause":"unreachable"`. Says whether it was declared down.
    pub fn unreachable(
        &mut self,
        now: Millis,
        name: &str,
        to: SocketAddr,
        out: &mut Vec<Event>,
    ) -> bool {
        let Some(idx) = self.nodes.find(name) else {
            return false;
        };
        let phi_cfg = match &self.cfg.rule {
            Rule::Phi(cfg) => Some(cfg),
            Rule::Fixed { .. } => None,
        };
        let node = &mut self.nodes[idx];
        let same = |a: SocketAddr| {
            a.ip().to_canonical() == to.ip().to_canonical() && a.port() == to.port()
        };
        if node.state != State::Suspect || !node.addr.is_some_and(same) {
            return false;
        }
        let since = node.last_seen.unwrap_or(node.since);
        let silent_ms = now.saturating_sub(since);
        let phi = phi_cfg.and_then(|cfg| phi_of(cfg, node, silent_ms));
        node.state = State::Down;
        out.push(down_event(
            node,
            silent_ms,
            phi,
            self.faults.over(since),
            "unreachable",
        ));
        note_change(node, now, self.cfg.flap, out);
        node.since = now;
        self.arm(idx);
        true
    }
}

#[cfg(test)]
mod tests;
