//! Planned absences, said by the node itself rather than read from its
//! silence: it leaves (`leave`), or goes away until a deadline (`away`).
//!
//! A left node has no deadline: its silence is no failure, and its next
//! beat is `up` with `"was":"left"`. An away node has one deadline, its
//! announced return: no `suspect` nor `down` before it, `down` with
//! `"cause":"away-expired"` at it unless it beat again; a beat before it
//! is `up` with `"was":"away"`. Absences are rare: their deadlines and
//! reasons live in a table of their own, by name, so nodes that never go
//! away pay nothing for them, and a node's position may change.

use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;

use compact_str::CompactString;

use super::table::healthy;
use super::verdict::down_event;
use super::{admits, Arrival, Detector, Event, State};
use crate::clock::Millis;
use crate::replay::{Claim, LastSeen};
use crate::wire::{Message, Reject};

/// What a node announces of itself, and where that stands in its
/// sender's life (boot, seq and clock, for replay protection).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Notice<'a> {
    pub node: &'a str,
    pub claim: Claim<'a>,
    pub intent: Intent<'a>,
}

/// What the node is about to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Intent<'a> {
    /// It stops on purpose.
    Leave,
    /// It will be gone for `for_ms` from now, for `reason`.
    Away {
        for_ms: Millis,
        reason: Option<&'a str>,
    },
}

impl<'a> Notice<'a> {
    /// The notice a message carries: a `leave` or an `away`.
    pub fn of(message: &'a Message<'_>) -> Option<Notice<'a>> {
        let (node, boot, seq, ts_ms, intent) = match message {
            Message::Leave(l) => (&l.node, &l.boot, l.seq, l.ts_ms, Intent::Leave),
            Message::Away(a) => {
                let intent = Intent::Away {
                    for_ms: a.for_ms,
                    reason: a.reason.as_deref(),
                };
                (&a.node, &a.boot, a.seq, a.ts_ms, intent)
            }
            _ => return None,
        };
        let claim = Claim {
            boot: Some(boot),
            seq: Some(seq),
            ts_ms,
        };
        Some(Notice {
            node,
            claim,
            intent,
        })
    }
}

/// One node's announced absence.
#[derive(Debug)]
pub(super) struct Absence {
    /// The deadline, on the monotonic clock and on the wall clock.
    pub(super) until: Millis,
    pub(super) until_wall: u64,
    pub(super) reason: Option<Box<str>>,
    /// The absence as announced, to tell a copy from a new announcement.
    for_ms: Millis,
    /// The boot that was beating when another process (another boot:
    /// `hb-send --away` run by hand) announced the absence. That service
    /// is about to be stopped for the maintenance announced: its last
    /// beats do not end the absence, the beats of any other boot do.
    winding_down: Option<CompactString>,
    /// That other process's boot and seq, so that its message replayed is
    /// refused like a replayed beat.
    announcer: Option<LastSeen>,
}

impl Absence {
    /// An absence read back from a state file: its deadline and reason
    /// (who announced it is not kept there).
    pub(super) fn restored(until: Millis, until_wall: u64, reason: Option<&str>) -> Self {
        Absence {
            until,
            until_wall,
            reason: reason.map(Into::into),
            for_ms: 0,
            winding_down: None,
            announcer: None,
        }
    }
}

/// The absences of the nodes that announced one, and their deadlines.
#[derive(Debug, Default)]
pub(super) struct Absences {
    by_node: HashMap<CompactString, Absence>,
    due: BTreeSet<(Millis, CompactString)>,
    /// The process that announced each node's last absence, once that
    /// ended: its notice replayed must not start another. One record per
    /// node that ever announced one from another process.
    announced: HashMap<CompactString, LastSeen>,
}

impl Absences {
    /// The earliest deadline.
    pub(super) fn next(&self) -> Option<Millis> {
        self.due.first().map(|(at, _)| *at)
    }

    pub(super) fn get(&self, name: &str) -> Option<&Absence> {
        self.by_node.get(name)
    }

    pub(super) fn insert(&mut self, name: &str, absence: Absence) {
        self.due.insert((absence.until, name.into()));
        if let Some(old) = self.by_node.insert(name.into(), absence) {
            if old.until != self.by_node[name].until {
                self.due.remove(&(old.until, name.into()));
            }
        }
    }

    /// Drops all that is kept of `name`: the node is forgotten.
    pub(super) fn forget(&mut self, name: &str) {
        if let Some(absence) = self.by_node.remove(name) {
            self.due.remove(&(absence.until, name.into()));
        }
        self.announced.remove(name);
    }

    /// Ends the node's absence, if it has one.
    pub(super) fn remove(&mut self, name: &str) {
        if let Some(absence) = self.by_node.remove(name) {
            self.due.remove(&(absence.until, name.into()));
            self.keep_announcer(name, absence);
        }
    }

    fn keep_announcer(&mut self, name: &str, absence: Absence) {
        if let Some(announcer) = absence.announcer {
            self.announced.insert(name.into(), announcer);
        }
    }

    /// The record of the process that announced the node's absence, the
    /// current one or the last.
    fn announcer(&self, name: &str) -> Option<&LastSeen> {
        match self.by_node.get(name) {
            Some(absence) => absence.announcer.as_ref(),
            None => self.announced.get(name),
        }
    }

    /// Whether a beat of `boot` ends the node's absence: any beat but one
    /// of the service winding down.
    pub(super) fn ended_by(&self, name: &str, boot: Option<&str>) -> bool {
        self.by_node
            .get(name)
            .and_then(|a| a.winding_down.as_deref())
            .is_none_or(|winding_down| Some(winding_down) != boot)
    }

    /// The name of a node whose deadline `now` has reached, its absence
    /// ended.
    fn pop_due(&mut self, now: Millis) -> Option<CompactString> {
        let (at, _) = self.due.first()?;
        if *at > now {
            return None;
        }
        let (_, name) = self.due.pop_first()?;
        if let Some(absence) = self.by_node.remove(&name) {
            self.keep_announcer(&name, absence);
        }
        Some(name)
    }
}

/// Which record of the node's boots and seqs a notice is checked against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Speaker {
    /// The boot the node beats with (or, for a node never heard beating,
    /// the first to speak): the node's own record, as for beats.
    Beating,
    /// The process that announced the node's current absence.
    Announcer,
    /// Another process: only an `away` may come from one.
    Other,
}

impl Detector {
    /// A node's `leave` or `away`, as it arrives, checked like a beat (the
    /// node limit; from the network, replay protection on its claim). The
    /// deadlines that passed while it was on its way are fired first.
    pub(super) fn announce(
        &mut self,
        notice: &Notice<'_>,
        came: Arrival,
        out: &mut Vec<Event>,
    ) -> Result<(), Reject> {
        let (at, addr, trust) = (came.at, came.from, came.trust);
        let now = at.mono;
        let Notice {
            node,
            claim,
            intent,
        } = notice;
        let position = self.nodes.find(node);
        self.room_for(position)?;
        let last = position.map(|i| &self.nodes[i].last);
        let announcer = self.absences.announcer(node);
        let speaker = if last.is_some_and(|l| l.boot.as_deref() == claim.boot) {
            Speaker::Beating
        } else if announcer.is_some_and(|a| a.boot.as_deref() == claim.boot) {
            Speaker::Announcer
        } else if *intent == Intent::Leave && last.is_none_or(|l| l.boot.is_none()) {
            Speaker::Beating
        } else {
            Speaker::Other
        };
        // A leave is said by the process that beats, as it stops: one of
        // another boot is an old one, replayed.
        if speaker == Speaker::Other && *intent == Intent::Leave {
            return Err(Reject::Replay);
        }
        // Unsigned, a notice of another process (`hb-send --away` run by
        // hand beside the service) could come from anyone: about a node
        // that beats, or one expected, it is believed only from the host
        // the node's beats come from. A name nobody watches yet has
        // nothing to mute: its first beat of a boot of its own ends it.
        let watched = position
            .map(|i| &self.nodes[i])
            .filter(|n| n.addr.is_some() || n.expected);
        if let (true, Speaker::Announcer | Speaker::Other, Some(n)) =
            (trust.unsigned(), speaker, watched)
        {
            if !same_host(n.addr, addr) {
                return Err(Reject::NotAllowed);
            }
        }
        let known = match speaker {
            Speaker::Beating => last,
            Speaker::Announcer => announcer,
            Speaker::Other => None,
        };
        admits(known, claim, at.wall, trust)?;
        self.expire(now, out);
        let idx = match position {
            Some(idx) => idx,
            None => self.insert(node, State::Pending),
        };
        let to = self.locals.number(came.to);
        let node = &mut self.nodes[idx];
        node.addr = addr;
        node.to = to;
        if speaker == Speaker::Beating {
            node.last.remember(claim);
        }
        let Intent::Away { for_ms, reason } = *intent else {
            // Leaving while away changes nothing: the announced return
            // stands, and is still checked.
            if !matches!(node.state, State::Left | State::Away) {
                node.state = State::Left;
                node.since = now;
                out.push(Event::Left {
                    node: node.name.to_string(),
                    addr,
                });
            }
            return Ok(());
        };
        if let Some(old) = self.absences.by_node.get_mut(node.name.as_str()) {
            let same_process = match speaker {
                Speaker::Beating => old.announcer.is_none(),
                Speaker::Announcer => true,
                Speaker::Other => false,
            };
            if let (Speaker::Announcer, Some(a)) = (speaker, &mut old.announcer) {
                a.remember(claim);
            }
            // The second copy of the same notice, from the same process:
            // the absence stands as the first copy set it.
            if same_process && old.for_ms == for_ms && old.reason.as_deref() == reason {
                return Ok(());
            }
        }
        let old = self.absences.get(node.name.as_str());
        let (winding_down, announcer) = match (speaker, old) {
            (Speaker::Beating, _) => (None, None),
            (Speaker::Announcer, Some(old)) => (old.winding_down.clone(), old.announcer.clone()),
            _ => {
                let mut announcer = match speaker {
                    Speaker::Announcer => self.absences.announcer(&node.name).cloned(),
                    _ => None,
                }
                .unwrap_or_default();
                announcer.remember(claim);
                (node.last.boot.clone(), Some(announcer))
            }
        };
        let absence = Absence {
            until: now.saturating_add(for_ms),
            until_wall: at.wall.saturating_add(for_ms),
            reason: reason.map(Into::into),
            for_ms,
            winding_down,
            announcer,
        };
        if node.state != State::Away {
            node.state = State::Away;
            node.since = now;
        }
        out.push(Event::Away {
            node: node.name.to_string(),
            addr,
            until: absence.until_wall,
            until_ms: absence.until_wall,
            for_ms,
            reason: reason.map(str::to_owned),
        });
        self.absences.insert(node.name.as_str(), absence);
        Ok(())
    }

    /// Turns every absence whose deadline `now` has reached into `down`
    /// with `"cause":"away-expired"`.
    pub(super) fn expire_absences(&mut self, now: Millis, out: &mut Vec<Event>) {
        while let Some(name) = self.absences.pop_due(now) {
            let Some(idx) = self.nodes.find(&name) else {
                continue;
            };
            let node = &mut self.nodes[idx];
            if node.state != State::Away {
                continue;
            }
            // Still beating (the service another process announced away
            // was never stopped): a node that beats is not down.
            let silent = node.last_seen.map(|t| now.saturating_sub(t));
            if silent.is_some_and(|s| s < node.down_after.saturating_add(node.grace.into())) {
                node.state = State::Up;
                node.since = now;
                out.push(Event::Up {
                    node: node.name.to_string(),
                    addr: node.addr,
                    was: Some(State::Away),
                    silent_ms: silent,
                    down_ms: None,
                    refuted: false,
                    degraded: !healthy(node),
                });
                self.arm(idx);
                continue;
            }
            let silent_ms = now.saturating_sub(node.last_seen.unwrap_or(self.started));
            let observer = self.faults.over(node.last_seen.unwrap_or(self.started));
            node.state = State::Down;
            node.since = now;
            out.push(down_event(node, silent_ms, None, observer, "away-expired"));
            self.arm(idx);
        }
    }
}

/// Whether two addresses are of one host (ports differ between a service
/// and a command run beside it; an IPv4 peer of a dual-stack socket is
/// the same host as its IPv4 address).
fn same_host(a: Option<SocketAddr>, b: Option<SocketAddr>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => a.ip().to_canonical() == b.ip().to_canonical(),
        _ => false,
    }
}

#[cfg(test)]
mod tests;
