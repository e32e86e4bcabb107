//! Unanswered probes as evidence: a suspect node that answers probes is
//! `down` (`"cause":"no-answer"`) as soon as the chance that it is alive
//! and was only unlucky falls below the bound the listener accepts
//! (`--false-down-chance`), without waiting for its deadline.
//!
//! That chance is weighed from what this listener measured on the node's
//! path. A beat is lost with `p`, the share of its last seqs that never
//! came, counted as if one more had been lost and one more had come (so
//! twenty clean beats still say 1 in 22, never 0); a probe goes unanswered
//! with `r`, the chance that either the probe or its answer is lost,
//! `1 - (1 - p)²`, or the share of its probes that went unanswered in the
//! suspicions it answered (the last ones weighing most), whichever is
//! larger. A live node stays silent through `k` late beats
//! and `n` unanswered probes with `p^k · r^n`, losses taken one by one.
//!
//! Losses come in bursts, and a node may stop for a while (a pause, a busy
//! host) and come back: the longest silence this node came back from is
//! no evidence at all. Only the beats due and the probes sent after it
//! count, so a node that was once silent for three intervals and came back
//! is declared down only by what went unanswered after three intervals.
//! A node whose beats carry no seq has no measured loss: its deadline
//! judges it, as it judges nodes that cannot be asked.
//!
//! Loss is not the only reason for silence: a node may stop (a pause, a
//! starved host) and come back, and a paused node answers no probe at
//! all, so its probes are no independent evidence of anything. Evidence
//! the rule would count as lost that comes after all gives a pause away:
//! a beat with the next seq more than half an interval late, an answer
//! more than half an interval after its probe. Pauses have no bound this
//! listener could learn (a longer one may always come), so a node seen to
//! pause is judged by its deadline alone from then on. Nor is silence
//! evidence before the listener has watched a node for [`LOSS_WINDOW`]
//! seqs (after a start, or a restart): time to see its loss and its
//! pauses.
//!
//! On a lossy path each unanswered probe weighs less, so a suspect is
//! asked more often ([`probe_gap`]): the verdict comes from more probes,
//! not from a longer wait.

use std::collections::VecDeque;

use super::faults::Over;
use super::path::{lost_before, pauses, survived_ms, LOSS_WINDOW};
use super::table::Node;
use super::verdict::{down_event, note_change};
use super::{Detector, Event, NoAnswer, State};
use crate::clock::Millis;
use crate::output::round;

/// How much each suspicion a node answered weighs in its answer rate: an
/// eighth, so that the last few suspicions say the most.
const ANSWER_WEIGHT: f64 = 1.0 / 8.0;

/// What asking a suspect found so far, as the listener tells it.
pub struct Asked<'a> {
    /// When its probes left, newest last.
    pub sent: &'a VecDeque<Millis>,
    /// How long a probe may take to be answered: one not answered within
    /// it is unanswered.
    pub wait: Millis,
    /// The share of its probes that went unanswered in the suspicions it
    /// answered ([`answer_rate_after`]).
    pub unanswered: f64,
    /// The chance of a false down accepted (`--false-down-chance`).
    pub bound: f64,
}

impl Detector {
    /// `name` is still silent at `now`, asked as `asked` says: `down` with
    /// `"cause":"no-answer"` if a live node stays this silent with a
    /// chance below its bound (see the module's words). Says whether it
    /// was declared down.
    pub fn no_answer(
        &mut self,
        now: Millis,
        name: &str,
        asked: &Asked<'_>,
        out: &mut Vec<Event>,
    ) -> bool {
        let Some(idx) = self.nodes.find(name) else {
            return false;
        };
        let node = &mut self.nodes[idx];
        let Some(since) = node.last_seen.filter(|_| node.state == State::Suspect) else {
            return false;
        };
        // Beats this listener dropped, or a stall, explain silence too.
        if self.faults.over(since) != Over::Ok {
            return false;
        }
        let Some(weighed) = weigh(node, now, asked) else {
            return false;
        };
        let silent_ms = now.saturating_sub(since);
        node.state = State::Down;
        let mut down = down_event(node, silent_ms, None, Over::Ok, "no-answer");
        if let Event::Down { no_answer, .. } = &mut down {
            *no_answer = Some(weighed);
        }
        out.push(down);
        note_change(node, now, self.cfg.flap, out);
        node.since = now;
        self.arm(idx);
        true
    }

    /// The chance that a probe of `name` or its answer is lost, its past
    /// probes unanswered with the share `unanswered` ([`probe_loss`]);
    /// None while its silence is no evidence (see the module's words).
    pub fn probe_loss_of(&self, name: &str, unanswered: f64) -> Option<f64> {
        let node = &self.nodes[self.nodes.find(name)?];
        if !silence_weighs(node) {
            return None;
        }
        Some(probe_loss(beat_loss(node)?, unanswered))
    }
}

/// What `node`'s silence at `now` weighs (see the module's words): Some
/// when a live node stays this silent with a chance below the bound.
pub(super) fn weigh(node: &Node, now: Millis, asked: &Asked<'_>) -> Option<NoAnswer> {
    if !silence_weighs(node) {
        return None;
    }
    let beat_loss = beat_loss(node)?;
    let since = node.last_seen?;
    let every = node.every_ms.max(1);
    let came_back_after = survived_ms(node).max(every);
    let horizon = since.saturating_add(came_back_after);
    // Beats due after the horizon and half an interval late by now.
    let late = now.saturating_sub(every / 2).saturating_sub(since) / every;
    let late_beats = late.saturating_sub(came_back_after / every);
    let probes = asked
        .sent
        .iter()
        .filter(|&&t| t >= horizon && t.saturating_add(asked.wait) <= now)
        .count();
    let (late_beats, probes) = (
        i32::try_from(late_beats).unwrap_or(i32::MAX),
        i32::try_from(probes).unwrap_or(i32::MAX),
    );
    let probe_loss = probe_loss(beat_loss, asked.unanswered);
    let chance = beat_loss.powi(late_beats) * probe_loss.powi(probes);
    (chance < asked.bound).then(|| NoAnswer {
        probes: probes as u32,
        late_beats: late_beats as u32,
        probe_loss: round(probe_loss, 3),
        chance: significant(chance),
        bound: asked.bound,
    })
}

/// Whether `node`'s silence is evidence before its deadline: not before
/// it was watched for [`LOSS_WINDOW`] seqs, nor once it was seen to pause.
fn silence_weighs(node: &Node) -> bool {
    node.known >= LOSS_WINDOW && !pauses(node)
}

/// The chance that a beat of `node` is lost: its last seqs' loss, as if
/// one more had been lost and one more had come; None without seqs.
fn beat_loss(node: &Node) -> Option<f64> {
    let (lost, known) = lost_before(node)?;
    Some(f64::from(lost + 1) / f64::from(known + 2))
}

/// The chance that a probe or its answer is lost: both ways at
/// `beat_loss`, or the share of the node's probes that went unanswered in
/// its past suspicions, whichever is larger.
pub(super) fn probe_loss(beat_loss: f64, unanswered: f64) -> f64 {
    let both_ways = 1.0 - (1.0 - beat_loss) * (1.0 - beat_loss);
    both_ways.max(unanswered)
}

/// The probe loss of a path that lost none of its last [`LOSS_WINDOW`]
/// seqs and answered every probe: the least [`probe_loss`] says.
fn clean_probe_loss() -> f64 {
    probe_loss(1.0 / (f64::from(LOSS_WINDOW) + 2.0), 0.0)
}

/// How far apart the probes of a suspect with an interval of `every_ms`
/// go, its probes lost with `probe_loss` (None: not measured): a quarter
/// interval on a clean path; closer on a lossy one, where an unanswered
/// probe weighs `ln probe_loss / ln clean` of a clean path's, so that each
/// gap gathers as much evidence as a clean path's quarter interval. The
/// caller bounds it from below (the rate limits).
pub fn probe_gap(every_ms: Millis, probe_loss: Option<f64>) -> Millis {
    let quarter = every_ms / 4;
    let Some(loss) = probe_loss.filter(|l| *l > 0.0 && *l < 1.0) else {
        return quarter;
    };
    let weight = (loss.ln() / clean_probe_loss().ln()).clamp(0.0, 1.0);
    (quarter as f64 * weight) as Millis
}

/// The share of a node's probes that went unanswered, `was` before a
/// suspicion it answered after `asked` probes: all but one of those went
/// unanswered (a pause, or loss).
pub fn answer_rate_after(was: f64, asked: u32) -> f64 {
    let asked = f64::from(asked.max(1));
    let share = (asked - 1.0) / asked;
    was + ANSWER_WEIGHT * (share - was)
}

/// `x` to three significant digits, for display.
fn significant(x: f64) -> f64 {
    if x <= 0.0 || !x.is_finite() {
        return x;
    }
    let scale = 10f64.powi(2 - x.log10().floor() as i32);
    (x * scale).round() / scale
}

#[cfg(test)]
mod tests;
