//! Verdicts: how a beat and a silence change a node's state, and the
//! events those changes print.

use super::faults::Over;
use super::path::{loss_before, note_came_back, note_held, note_seq, pauses};
use super::table::{all_ok, credit_after, healthy, Node};
use super::{claim_of, Arrival, Detector, Event, Flap, Reading, Rule, State};
use crate::checks::{worst, CheckStatus};
use crate::clock::Millis;
use crate::detector::phi::{Arrivals, Phi, PhiConfig};
use crate::net::pktinfo::Local;
use crate::output::round;
use crate::wire::Beat;

impl Detector {
    /// [`Detector::observe`] for a node whose position is already known
    /// (None: a new node), from `addr` to this host's address `to`.
    pub(super) fn record(
        &mut self,
        position: Option<usize>,
        came: Arrival,
        to: Local,
        beat: &Beat<'_>,
        out: &mut Vec<Event>,
    ) {
        let (at, addr) = (came.at, came.from);
        let now = at.mono;
        let idx = match position {
            Some(idx) => idx,
            None => self.insert(&beat.node, State::Pending),
        };
        let emit_beats = self.cfg.emit_beats;
        let default_every = self.cfg.default_every_ms;
        let node = &mut self.nodes[idx];

        let mut gap = 0;
        let mut step = None;
        match (&node.last.boot, beat.boot.as_deref()) {
            (Some(old), Some(new)) if **old != *new => {
                out.push(Event::Restart {
                    node: node.name.to_string(),
                    addr,
                    old_boot: old.to_string(),
                    new_boot: new.to_owned(),
                });
            }
            _ => {
                if let (Some(last), Some(seq)) = (node.last.seq, beat.seq) {
                    gap = seq.saturating_sub(last).saturating_sub(1);
                    step = seq.checked_sub(last).filter(|&s| s > 0);
                }
            }
        }
        note_seq(node, beat.seq.map(|_| step));
        // A beat clears the grace of stalls before it; one that waited in
        // the socket through a stall keeps the part of it after arrival.
        node.grace = self.faults.grace_after(now);

        let silent_ms = node.last_seen.map(|t| now.saturating_sub(t));
        // An outage is not a sample of the node's cadence: learning it
        // would make phi lax for a long while after every failure.
        // Nor is a planned absence.
        let planned = matches!(node.state, State::Left | State::Away);
        let outage = planned || node.state == State::Down;
        if let (Some(arrivals), Some(silent), false) = (&mut node.arrivals, silent_ms, outage) {
            arrivals.push(silent.min(u64::from(u32::MAX)) as u32);
        }
        // A silence shorter than its deadline was a pause, or a burst of
        // loss, whatever was declared of it (a `down` by unanswered
        // probes too): no evidence in its next suspicion. A longer one was
        // an outage, and says nothing of how the node pauses.
        if let Some(silent) = silent_ms.filter(|&s| s < node.down_after && !planned) {
            note_came_back(node, silent);
            // The next seq, late: the beat was held, not lost, unless by
            // this listener's own stall.
            if step == Some(1) && self.faults.over(now.saturating_sub(silent)) == Over::Ok {
                note_held(node, silent.saturating_sub(node.every_ms));
            }
        }
        if node.state == State::Down {
            node.recovering += 1;
        }
        // The checks this beat carries, else the last ones.
        let degraded = !beat.checks.as_deref().map_or_else(|| healthy(node), all_ok);
        let back = match node.state {
            State::Up => false,
            State::Pending => {
                out.push(Event::Up {
                    node: node.name.to_string(),
                    addr,
                    was: None,
                    silent_ms: None,
                    down_ms: None,
                    refuted: false,
                    degraded,
                });
                true
            }
            // Flap damping: a down node stays down until enough beats.
            State::Down if node.recovering < self.cfg.up_after => false,
            // The last beats of a service stopping for the absence another
            // process announced: still away.
            State::Away if !self.absences.ended_by(&node.name, beat.boot.as_deref()) => false,
            was @ (State::Left | State::Away) => {
                self.absences.remove(&node.name);
                out.push(Event::Up {
                    node: node.name.to_string(),
                    addr,
                    was: Some(was),
                    silent_ms,
                    down_ms: None,
                    refuted: false,
                    degraded,
                });
                true
            }
            was @ (State::Suspect | State::Down) => {
                out.push(Event::Up {
                    node: node.name.to_string(),
                    addr,
                    was: Some(was),
                    silent_ms,
                    down_ms: (was == State::Down).then(|| now.saturating_sub(node.since)),
                    refuted: false,
                    degraded,
                });
                if was == State::Down {
                    note_change(node, now, self.cfg.flap, out);
                }
                true
            }
        };
        if back {
            node.state = State::Up;
            node.since = now;
            node.recovering = 0;
        }

        node.last.remember(&claim_of(beat));
        let every_ms = beat.every_ms.unwrap_or(default_every).max(1);
        if let (Rule::Phi(cfg), true) = (&self.cfg.rule, every_ms != node.every_ms) {
            // Phi's prior comes from the declared interval: a node that
            // beats every 4 s is not judged by a 1 s guess (nor by what it
            // did under an interval it no longer declares).
            node.arrivals = Some(Box::new(Arrivals::new(cfg.window, every_ms)));
        }
        node.every_ms = every_ms;
        self.faults.note_interval(every_ms);
        (node.suspect_after, node.down_after) = patience(&self.cfg.rule, node);
        node.credit = credit_after(node, addr, came.bytes);
        node.addr = addr;
        node.to = to;
        node.answers = beat.answers;
        node.last_seen = Some(now);
        node.wall_at_last_beat = at.wall;
        if let Some(health) = beat.health {
            Reading::store(&mut node.health, health);
        }
        if let Some(checks) = &beat.checks {
            let was = node.checks.as_deref().and_then(worst);
            let status = worst(checks).unwrap_or(CheckStatus::Ok);
            if was != Some(status) {
                out.push(Event::Health {
                    node: node.name.to_string(),
                    addr,
                    status,
                    was,
                    checks: checks.clone(),
                });
            }
            // Most beats repeat the last results: no copy for those.
            if node.checks.as_deref() != Some(checks.as_slice()) {
                node.checks = Some(checks.as_slice().into());
            }
        }
        if emit_beats {
            out.push(Event::Beat {
                node: node.name.to_string(),
                addr,
                seq: beat.seq,
                gap,
                boot: node.last.boot.as_deref().map(str::to_owned),
                every_ms: node.every_ms,
                health: beat.health.map(ToOwned::to_owned),
                checks: beat.checks.clone(),
            });
        }
        self.beat_due(idx, at, beat.ts_ms, beat.due);
        self.arm(idx);
    }

    /// The verdict of the node's deadline, reached at `now`: `suspect`,
    /// then `down`; a recovering down node only starts its count over.
    /// Returns whether the node's timer is to be armed again: not for a
    /// node due to be forgotten, which waits for [`Detector::forget_due`].
    pub(super) fn fire(&mut self, idx: usize, now: Millis, out: &mut Vec<Event>) -> bool {
        let phi_cfg = match &self.cfg.rule {
            Rule::Phi(cfg) => Some(cfg),
            Rule::Fixed { .. } => None,
        };
        let faults = self.faults;
        let node = &mut self.nodes[idx];
        // Never beaten: silent since it was expected.
        let since = node.last_seen.unwrap_or(node.since);
        let silent_ms = now.saturating_sub(since);
        let phi = phi_cfg.and_then(|cfg| phi_of(cfg, node, silent_ms));
        match node.state {
            // A recovering node whose beats stopped starts its count over.
            State::Down if node.recovering > 0 => {
                node.recovering = 0;
                return true;
            }
            // Down or left for the time after which it is forgotten.
            State::Down | State::Left => {
                self.forgettable.push(idx);
                return false;
            }
            // Its deadline is its absence's, not the silence's (see
            // `lifecycle`).
            State::Away => return true,
            State::Up if silent_ms < node.down_after.saturating_add(node.grace.into()) => {
                if let Some(until) = faults.hold_until(since, node.every_ms).filter(|&u| u > now) {
                    // Dropped beats could explain this silence too: the
                    // suspicion waits until one of its intervals passed
                    // without drops, its `down` keeps its own deadline.
                    // An overloaded listener that flipped nodes to suspect
                    // and back would print, and write to its state file,
                    // the more the more overloaded it is.
                    let base = since.saturating_add(node.grace.into());
                    node.suspect_after = until.saturating_sub(base);
                    return true;
                }
                node.state = State::Suspect;
                out.push(Event::Suspect {
                    node: node.name.to_string(),
                    addr: node.addr,
                    silent_ms,
                    phi,
                });
            }
            _ => {
                if let Some(until) = faults.hold_until(since, node.every_ms) {
                    // Dropped beats could explain this silence: held until
                    // one of its intervals passed without drops. The
                    // deadline moves to that time exactly (from the
                    // deadline that fired, however late it is judged), so
                    // it fires once more, not again and again.
                    let fired = since
                        .saturating_add(node.grace.into())
                        .saturating_add(node.down_after);
                    let grace = u32::try_from(until.saturating_sub(fired))
                        .ok()
                        .and_then(|more| node.grace.checked_add(more));
                    if let (true, Some(grace)) = (until > now, grace) {
                        node.grace = grace;
                        return true;
                    }
                }
                let was_up = node.state != State::Pending;
                node.state = State::Down;
                out.push(down_event(
                    node,
                    silent_ms,
                    phi,
                    faults.over(since),
                    "silence",
                ));
                if was_up {
                    note_change(node, now, self.cfg.flap, out);
                }
            }
        }
        node.since = now;
        true
    }
}

/// The `down` line of `node`, silent for `silent_ms`, for `cause`.
pub(super) fn down_event(
    node: &Node,
    silent_ms: Millis,
    phi: Option<f64>,
    observer: Over,
    cause: &'static str,
) -> Event {
    Event::Down {
        node: node.name.to_string(),
        addr: node.addr,
        silent_ms,
        missed: silent_ms / node.every_ms,
        last_seen: node.last_seen_wall(),
        phi,
        loss_before: loss_before(node),
        observer: observer.as_str(),
        cause,
        no_answer: None,
        pauses: pauses(node),
    }
}

/// The silences after which `node` is suspect and down under `rule`.
pub(super) fn patience(rule: &Rule, node: &Node) -> (Millis, Millis) {
    let every = node.every_ms;
    match rule {
        Rule::Fixed { misses } => (
            // A beat counts as missed once it is half an interval late:
            // jitter of a few milliseconds must not make nodes flap.
            every.saturating_add(every / 2),
            every.saturating_mul((*misses).into()),
        ),
        Rule::Phi(cfg) => {
            let arrivals = node.arrivals.as_deref().expect("phi nodes keep arrivals");
            let phi = Phi::new(cfg, arrivals);
            (phi.silence_for(cfg.suspect), phi.silence_for(cfg.threshold))
        }
    }
}

/// phi after `silent_ms`, rounded to 2 decimals for display.
pub(super) fn phi_of(cfg: &PhiConfig, node: &Node, silent_ms: Millis) -> Option<f64> {
    let arrivals = node.arrivals.as_deref()?;
    let phi = Phi::new(cfg, arrivals).at(silent_ms as f64);
    Some(round(phi, 2))
}

/// Records a change between up and down at `now`; reports `flapping` when
/// there were too many within the window (once, until it calms down).
pub(super) fn note_change(node: &mut Node, now: Millis, flap: Option<Flap>, out: &mut Vec<Event>) {
    let Some(flap) = flap else {
        return;
    };
    let changes = node.changes.get_or_insert_with(Default::default);
    changes.push_back(now);
    while changes
        .front()
        .is_some_and(|&t| now.saturating_sub(t) > flap.window_ms)
    {
        changes.pop_front();
    }
    // Only the last changes + 1 matter: memory stays bounded.
    while changes.len() > flap.changes as usize + 1 {
        changes.pop_front();
    }
    let count = changes.len();
    let too_many = count > flap.changes as usize;
    if too_many && !node.flapping {
        out.push(Event::Flapping {
            node: node.name.to_string(),
            addr: node.addr,
            changes: count,
            window_ms: flap.window_ms,
        });
    }
    node.flapping = too_many;
}
