//! An observer's view on the wire: the nodes it sees up, suspect and down,
//! split into as many `view` datagrams as it takes (see
//! [`crate::wire::View`] for the message itself).

use std::borrow::Cow;

use serde::Serialize;

use crate::wire::{encode, Message, View, MAX_DATAGRAM};

/// Encodes `observer`'s view of `nodes` (name and state, as
/// `"up"`/`"suspect"`/`"down"`/`"left"`/`"away"` lists) into as many datagrams as it takes to
/// keep each within [`MAX_DATAGRAM`] (with room for a MAC), numbered from
/// `first_seq`.
pub fn encode_views<'n>(
    observer: &'n str,
    boot: &'n str,
    first_seq: u64,
    ts_ms: u64,
    nodes: impl IntoIterator<Item = (&'n str, ViewState)>,
) -> Vec<Vec<u8>> {
    // Room for the envelope: type, observer name (escaped), seq, boot,
    // list keys, and a MAC should the views be signed.
    let envelope = 200 + 2 * observer.len();
    let mut seq = first_seq;
    let mut empty = || {
        seq += 1;
        View {
            node: Cow::Borrowed(observer),
            seq: seq - 1,
            boot: Some(Cow::Borrowed(boot)),
            ts_ms: Some(ts_ms),
            up: Vec::new(),
            suspect: Vec::new(),
            down: Vec::new(),
            left: Vec::new(),
            away: Vec::new(),
        }
    };
    let mut parts = Vec::new();
    let mut view = empty();
    let mut size = envelope;
    let mut flush = |view: &mut View<'n>, parts: &mut Vec<Vec<u8>>| {
        let mut buf = Vec::new();
        encode(&Message::View(std::mem::replace(view, empty())), &mut buf)
            .expect("views are split below the datagram limit");
        parts.push(buf);
    };
    for (name, state) in nodes {
        // A name's escaped length plus quotes and a comma.
        let cost = serde_json::to_string(name).map_or(2 * name.len() + 3, |s| s.len() + 1);
        if size + cost > MAX_DATAGRAM && size > envelope {
            flush(&mut view, &mut parts);
            size = envelope;
        }
        size += cost;
        let list = match state {
            ViewState::Up => &mut view.up,
            ViewState::Suspect => &mut view.suspect,
            ViewState::Down => &mut view.down,
            ViewState::Left => &mut view.left,
            ViewState::Away => &mut view.away,
        };
        list.push(name.into());
    }
    if size > envelope || parts.is_empty() {
        flush(&mut view, &mut parts);
    }
    parts
}

/// A node's state as an observer shares it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ViewState {
    Up,
    Suspect,
    Down,
    /// Said it stops (`leave`), or is away until a deadline: shared so
    /// that peers know, never a vote for up or down.
    Left,
    Away,
}

#[cfg(test)]
mod tests;
