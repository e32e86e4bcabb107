#![no_main]
//! A quorum group (`quorum::Group`) fed views from its peers, this
//! observer's own opinion of nodes, and time steps. Views are built
//! directly or go through the wire (`quorum::view::encode_views`, then
//! `wire::decode`). After every step:
//!
//! - nothing panicked;
//! - a verdict (`up`, `down`) comes only while the group has quorum, with
//!   at least `quorum` votes for it, all from observers reachable now, and
//!   never twice in a row for a node;
//! - `quorum` and `no-quorum` alternate and say the truth about how many
//!   observers are reachable; after `check_reachability(now)` the next
//!   deadline is not in the past;
//! - a peer's votes stay within `max_votes`: the nodes its views carried
//!   within the last peer timeout (which the group must still remember)
//!   are never more than that;
//! - on the wire, every part of a view fits a datagram and decodes, and
//!   the parts carry exactly the nodes given.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use arbitrary::Arbitrary;
use hb::clock::{Millis, Moment};
use hb::detector::State;
use hb::quorum::view::{encode_views, ViewState};
use hb::quorum::{Config, Group, GroupEvent, Local};
use hb::wire::{decode, Message, View, MAX_DATAGRAM};
use libfuzzer_sys::fuzz_target;

/// Node and observer names: short ones, and names at the length limit
/// whose every byte needs escaping (twice as long on the wire).
const NAMES: [&str; 6] = ["a", "b", "web-1", "c", "q253", "b253"];
const BOOTS: [&str; 3] = ["b0", "b1", "0123456789abcdef"];
const WALL_START: u64 = 1_700_000_000_000;

fn name(i: u8) -> String {
    match NAMES[usize::from(i) % NAMES.len()] {
        "q253" => "\"".repeat(253),
        "b253" => "\\".repeat(253),
        n => n.to_owned(),
    }
}

#[derive(Arbitrary, Debug)]
struct Input {
    peers: u8,
    quorum: u8,
    peer_timeout: u16,
    max_votes: u8,
    max_skew_ms: Option<u16>,
    ops: Vec<Op>,
}

#[derive(Arbitrary, Debug)]
enum Op {
    View(ViewOp),
    /// This observer's own detector changed its mind about a node.
    Local {
        node: u8,
        state: u8,
    },
    Judge {
        node: u8,
    },
    Step {
        ms: u16,
    },
}

#[derive(Arbitrary, Debug)]
struct ViewOp {
    /// Peer index; out of range is ignored by the group.
    peer: u8,
    observer: u8,
    seq: u8,
    boot: Option<u8>,
    ts_skew_ms: i16,
    nodes: Vec<(u8, u8)>,
    wire: bool,
}

fn view_state(s: u8) -> ViewState {
    const STATES: [ViewState; 5] = [
        ViewState::Up,
        ViewState::Suspect,
        ViewState::Down,
        ViewState::Left,
        ViewState::Away,
    ];
    STATES[usize::from(s) % STATES.len()]
}

fn local_of(s: u8) -> Option<Local> {
    let state = match s % 5 {
        0 => return None,
        1 => State::Pending,
        2 => State::Up,
        3 => State::Suspect,
        _ => State::Down,
    };
    Some(Local {
        state,
        addr: None,
        silent_ms: 7,
        degraded: false,
    })
}

/// The views that go on the wire for `nodes`; checks that each fits a
/// datagram and decodes, and that together they carry `nodes`.
fn through_the_wire(
    observer: &str,
    boot: &str,
    seq: u64,
    ts_ms: u64,
    nodes: &[(String, ViewState)],
) -> Vec<Vec<u8>> {
    let parts = encode_views(
        observer,
        boot,
        seq,
        ts_ms,
        nodes.iter().map(|(n, s)| (n.as_str(), *s)),
    );
    let mut carried = Vec::new();
    for (i, part) in parts.iter().enumerate() {
        assert!(
            part.len() <= MAX_DATAGRAM,
            "a view part of {} bytes",
            part.len()
        );
        let Ok(Message::View(v)) = decode(part) else {
            panic!(
                "a view part that does not decode: {}",
                String::from_utf8_lossy(part)
            );
        };
        assert_eq!(v.seq, seq + i as u64);
        assert_eq!(v.node, observer);
        for (list, state) in [
            (&v.up, ViewState::Up),
            (&v.suspect, ViewState::Suspect),
            (&v.down, ViewState::Down),
            (&v.left, ViewState::Left),
            (&v.away, ViewState::Away),
        ] {
            carried.extend(list.iter().map(|n| (n.to_string(), state)));
        }
    }
    // Each part lists its nodes by state: compare as sorted lists.
    let sorted = |list: Vec<(String, ViewState)>| {
        let mut list: Vec<(String, u8)> = list.into_iter().map(|(n, s)| (n, s as u8)).collect();
        list.sort();
        list
    };
    assert_eq!(
        sorted(carried),
        sorted(nodes.to_vec()),
        "the parts carry the nodes given"
    );
    parts
}

struct Checker {
    quorum: usize,
    peer_timeout: Millis,
    max_votes: usize,
    /// The last verdict printed for each node.
    verdicts: HashMap<String, &'static str>,
    has_quorum: bool,
    /// Per peer, when its views last carried each node.
    carried: Vec<HashMap<String, Millis>>,
}

impl Checker {
    fn events(&mut self, group: &Group, now: Millis, out: &mut Vec<GroupEvent>) {
        let reachable: BTreeSet<String> = group.reachable(now).into_iter().collect();
        for event in out.drain(..) {
            match &event {
                GroupEvent::Up {
                    node,
                    votes,
                    quorum,
                    ..
                }
                | GroupEvent::Down {
                    node,
                    votes,
                    quorum,
                    ..
                } => {
                    assert!(
                        self.has_quorum && group.has_quorum(),
                        "a verdict without quorum"
                    );
                    assert_eq!(*quorum, self.quorum);
                    let state = if event.kind() == "up" {
                        State::Up
                    } else {
                        State::Down
                    };
                    let agree = votes.values().filter(|&&s| s == state).count();
                    assert!(agree >= self.quorum, "{event:?}: {agree} votes");
                    for voter in votes.keys() {
                        assert!(reachable.contains(voter), "{voter:?} voted, not reachable");
                    }
                    let last = self.verdicts.insert(node.clone(), event.kind());
                    assert_ne!(last, Some(event.kind()), "{event:?} twice");
                }
                GroupEvent::Quorum { reachable, quorum } => {
                    assert!(!self.has_quorum, "quorum twice");
                    assert!(reachable.len() >= *quorum);
                    self.has_quorum = true;
                }
                GroupEvent::NoQuorum { reachable, quorum } => {
                    assert!(self.has_quorum, "no-quorum twice");
                    assert!(reachable.len() < *quorum);
                    self.has_quorum = false;
                }
            }
        }
        assert_eq!(group.has_quorum(), self.has_quorum);
    }

    fn votes_bounded(&self, now: Millis) {
        for (peer, carried) in self.carried.iter().enumerate() {
            let recent = carried
                .values()
                .filter(|&&heard| now.saturating_sub(heard) <= self.peer_timeout)
                .count();
            assert!(
                recent <= self.max_votes,
                "peer {peer} voted on {recent} nodes, max {}",
                self.max_votes
            );
        }
    }
}

fuzz_target!(|input: Input| {
    let peers = usize::from(input.peers % 5);
    let quorum = 1 + usize::from(input.quorum) % (peers + 1);
    let cfg = Config {
        observer: "me".into(),
        quorum,
        peer_timeout: Millis::from(input.peer_timeout.max(1)),
        max_votes: usize::from(input.max_votes % 16),
    };
    let mut check = Checker {
        quorum,
        peer_timeout: cfg.peer_timeout,
        max_votes: cfg.max_votes,
        verdicts: HashMap::new(),
        has_quorum: quorum <= 1,
        carried: vec![HashMap::new(); peers],
    };
    let mut group = Group::new(cfg, peers);
    let max_skew_ms = input.max_skew_ms.map(u64::from);
    let mut locals: BTreeMap<String, Option<Local>> = BTreeMap::new();
    let mut now: Millis = 0;
    let mut out = Vec::new();
    for op in input.ops {
        let wall = WALL_START + now;
        match op {
            Op::View(v) => {
                let observer = name(v.observer);
                let boot = v.boot.map(|i| BOOTS[usize::from(i) % BOOTS.len()]);
                let ts_ms = wall.saturating_add_signed(v.ts_skew_ms.into());
                let nodes: Vec<(String, ViewState)> = v
                    .nodes
                    .iter()
                    .take(64)
                    .map(|&(n, s)| (name(n), view_state(s)))
                    .collect();
                let parts = match v.wire {
                    true => {
                        let boot = boot.unwrap_or(BOOTS[0]);
                        through_the_wire(&observer, boot, v.seq.into(), ts_ms, &nodes)
                    }
                    false => Vec::new(),
                };
                let views: Vec<View<'_>> = if v.wire {
                    let decoded = parts.iter().map(|p| match decode(p) {
                        Ok(Message::View(v)) => v,
                        _ => unreachable!("checked by through_the_wire"),
                    });
                    decoded.collect()
                } else {
                    let lists = |want: ViewState| {
                        nodes
                            .iter()
                            .filter(|(_, s)| *s == want)
                            .map(|(n, _)| n.as_str().into())
                            .collect()
                    };
                    vec![View {
                        node: observer.as_str().into(),
                        seq: v.seq.into(),
                        boot: boot.map(Into::into),
                        ts_ms: Some(ts_ms),
                        up: lists(ViewState::Up),
                        suspect: lists(ViewState::Suspect),
                        down: lists(ViewState::Down),
                        left: lists(ViewState::Left),
                        away: lists(ViewState::Away),
                    }]
                };
                let peer = usize::from(v.peer);
                for view in &views {
                    let Ok(judged) = group.on_view(peer, view, Moment::new(now, wall), max_skew_ms)
                    else {
                        continue;
                    };
                    let lists = [&view.up, &view.suspect, &view.down, &view.left, &view.away];
                    let in_view: BTreeSet<&str> =
                        lists.into_iter().flatten().map(|n| n.as_ref()).collect();
                    for node in &judged {
                        assert!(in_view.contains(node), "{node:?} was not in the view");
                        if let Some(carried) = check.carried.get_mut(peer) {
                            carried.insert(node.to_string(), now);
                        }
                    }
                    assert!(
                        peer < peers || judged.is_empty(),
                        "votes from a peer that does not exist"
                    );
                    for node in judged {
                        let local = locals.get(node).copied().flatten();
                        group.judge(node, local, now, &mut out);
                    }
                    check.events(&group, now, &mut out);
                }
                check.votes_bounded(now);
            }
            Op::Local { node, state } => {
                let node = name(node);
                let local = local_of(state);
                locals.insert(node.clone(), local);
                group.judge(&node, local, now, &mut out);
            }
            Op::Judge { node } => {
                let node = name(node);
                let local = locals.get(&node).copied().flatten();
                group.judge(&node, local, now, &mut out);
            }
            Op::Step { ms } => {
                now += Millis::from(ms);
                if group.check_reachability(now, &mut out) {
                    check.events(&group, now, &mut out);
                    for (node, local) in &locals {
                        group.judge(node, *local, now, &mut out);
                    }
                }
                if let Some(due) = group.next_deadline() {
                    assert!(due > now, "next deadline {due} not after now {now}");
                }
            }
        }
        check.events(&group, now, &mut out);
    }
});
