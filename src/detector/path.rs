//! What the listener learnt of a node's path and habits from its beats
//! and answers: its last seqs (the loss before a silence), the longest
//! silence it came back from, and whether it pauses. The verdicts note
//! them; the verdicts and the evidence of unanswered probes read them.

use super::table::Node;
use crate::clock::Millis;
use crate::output::round;

/// Seqs remembered for the loss before a silence: its last 20 intervals.
pub(super) const LOSS_WINDOW: u8 = 20;

/// Notes a beat's seq in the node's last seqs: `Some(Some(step))` when it
/// is `step` after the last one of the same boot, `Some(None)` when it
/// starts afresh (first beat, new boot, an older seq), None without seq.
pub(super) fn note_seq(node: &mut Node, seq: Option<Option<u64>>) {
    match seq {
        None => node.known = 0,
        Some(None) => (node.recent, node.known) = (1, 1),
        Some(Some(step)) => {
            let shifted = u32::try_from(step)
                .ok()
                .and_then(|s| node.recent.checked_shl(s));
            node.recent = shifted.unwrap_or(0) | 1;
            let step = u8::try_from(step).unwrap_or(u8::MAX);
            node.known = node.known.saturating_add(step).min(LOSS_WINDOW);
        }
    }
}

/// The share of the node's last seqs (up to [`LOSS_WINDOW`]) that never
/// came, to two decimals; None when its beats carry no seq.
pub(super) fn loss_before(node: &Node) -> Option<f64> {
    let (lost, known) = lost_before(node)?;
    Some(round(f64::from(lost) / f64::from(known), 2))
}

/// How many of the node's last seqs (up to [`LOSS_WINDOW`]) never came,
/// and how many are known; None when its beats carry no seq.
pub(super) fn lost_before(node: &Node) -> Option<(u32, u32)> {
    if node.known == 0 {
        return None;
    }
    let known = u32::from(node.known);
    let mask = if known >= 32 {
        u32::MAX
    } else {
        (1 << known) - 1
    };
    let came = (node.recent & mask).count_ones();
    Some((known - came, known))
}

/// [`Node::survived`] of a node seen to pause: as if it had come back from
/// a silence past any deadline, so that its silence is evidence only past
/// its deadline.
const PAUSES: u8 = u8::MAX;

/// Notes that something of `node` the rule would count as lost came
/// `late_ms` after it was due (a beat with the next seq, an answer to a
/// probe): held, not lost, if over half an interval, and the node pauses.
/// The caller makes sure the lateness was not this listener's own.
pub(super) fn note_held(node: &mut Node, late_ms: Millis) {
    if late_ms > node.every_ms / 2 {
        node.survived = PAUSES;
    }
}

/// Notes that `node` was heard from after `silent_ms` of silence, in
/// quarters of its interval, rounded up: never less than it was.
pub(super) fn note_came_back(node: &mut Node, silent_ms: Millis) {
    let quarter = (node.every_ms / 4).max(1);
    let quarters = u8::try_from(silent_ms.div_ceil(quarter)).unwrap_or(u8::MAX);
    node.survived = node.survived.max(quarters);
}

/// The longest silence `node` was heard from again after, in ms.
pub(super) fn survived_ms(node: &Node) -> Millis {
    Millis::from(node.survived) * (node.every_ms / 4).max(1)
}

/// Whether `node` was seen to pause ([`note_held`]).
pub(super) fn pauses(node: &Node) -> bool {
    node.survived == PAUSES
}

#[cfg(test)]
mod tests;
