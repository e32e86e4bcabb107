#![no_main]
//! The failure detector fed a sequence of beats and clock steps: nodes from
//! a small alphabet, seq, boot and every_ms varied, beats from the network
//! (replay protection, the node limit) or observed directly (a recording,
//! `hb-poll --every`), under the fixed or the phi rule, with flap damping
//! and flap reporting, the observer's own stalls and dropped beats among
//! them. A run is live or a replay, as hb uses the detector: live, the
//! clock moves on as an observer's loop wakes, at every deadline on the
//! way, and the socket may drop beats; in a replay (a recording), the clock
//! jumps from one line's time to the next and nothing is dropped. After
//! every step:
//!
//! - nothing panicked;
//! - the events tell a consistent story: replayed in order onto a table of
//!   states (`up` only from pending, suspect or down, with the right `was`;
//!   `suspect` only from up; no `down` for a node already down without an
//!   `up` between), they give exactly the detector's own states;
//! - the snapshot puts every node in exactly one list, and in the list its
//!   routing state names; the node table copied out a slice at a time
//!   (as for the state file and a metrics scrape) tells the same;
//! - after `expire(now)` (and after a beat, which expires first), the next
//!   deadline is not in the past;
//! - the node limit holds.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use arbitrary::Arbitrary;
use hb::checks::{CheckResult, CheckStatus};
use hb::clock::Millis;
use hb::detector::{Config, Detector, Event, Flap, NodeRecord, Rule, Snapshot, State, Trust};
use hb::phi::PhiConfig;
use hb::wire::Beat;
use libfuzzer_sys::fuzz_target;
use serde_json::value::RawValue;

/// Node names: short and long, one at the length limit, one with characters
/// that need escaping in JSON.
const NAMES: [&str; 8] = [
    "a",
    "b",
    "web-1",
    "db.example.org",
    "n\u{e9}ud \"quoted\" \\",
    "c",
    "dd",
    "x253",
];
const BOOTS: [&str; 4] = ["b0", "b1", "0123456789abcdef", "b3"];
/// The receiver's wall clock when the detector starts.
const WALL_START: u64 = 1_700_000_000_000;

fn name(i: u8) -> String {
    match NAMES[usize::from(i) % NAMES.len()] {
        "x253" => "x".repeat(253),
        n => n.to_owned(),
    }
}

#[derive(Arbitrary, Debug)]
struct Input {
    rule: RuleChoice,
    default_every_ms: u16,
    emit_beats: bool,
    live: bool,
    up_after: u8,
    /// Flap reporting: more than `changes` (1 or more) within `window_ms`.
    flap: Option<(u8, u16)>,
    max_nodes: u8,
    /// Nodes expected before the start (`--expect`), and a start moved to
    /// the first line's time (a replayed recording).
    expect: Vec<u8>,
    start_at: Option<u16>,
    /// Nodes copied out of the detector per turn (1 to 4).
    slice: u8,
    ops: Vec<Op>,
}

/// A rule as the flags allow it: `--misses` 1 or more; phi levels positive,
/// suspect at most the threshold, a positive deviation floor, a window of
/// at least 2.
#[derive(Arbitrary, Debug)]
enum RuleChoice {
    Fixed {
        misses: u8,
    },
    Phi {
        suspect_tenths: u8,
        threshold_above_tenths: u8,
        min_std_dev_ms: u16,
        pause_ms: u16,
        window: u8,
    },
}

impl RuleChoice {
    fn rule(&self) -> Rule {
        match *self {
            RuleChoice::Fixed { misses } => Rule::Fixed {
                misses: u32::from(misses).max(1),
            },
            RuleChoice::Phi {
                suspect_tenths,
                threshold_above_tenths,
                min_std_dev_ms,
                pause_ms,
                window,
            } => {
                let suspect = f64::from(suspect_tenths.max(1)) / 10.0;
                Rule::Phi(PhiConfig {
                    suspect,
                    threshold: suspect + f64::from(threshold_above_tenths) / 10.0,
                    min_std_dev_ms: f64::from(min_std_dev_ms.max(1)),
                    acceptable_pause_ms: f64::from(pause_ms),
                    window: usize::from(window).max(2),
                })
            }
        }
    }
}

#[derive(Arbitrary, Debug)]
enum Op {
    Beat(BeatOp),
    /// The clock moves on, and the deadlines it reached fire.
    Step {
        ms: u16,
    },
    /// A long silence.
    Wait {
        seconds: u16,
    },
    /// A declaration after the start (a replay only: live, hb declares
    /// its nodes before it starts).
    Expect {
        node: u8,
    },
    /// The observer was not running for `ms` (the clock moved on without
    /// it): pending deadlines move by as much.
    Stall {
        ms: u16,
    },
    /// The observer's socket dropped beats for want of room (live only).
    Dropped,
}

#[derive(Arbitrary, Debug)]
struct BeatOp {
    node: u8,
    seq: Option<u16>,
    boot: Option<u8>,
    every: Every,
    /// The sender's clock, this far from ours (a replay check with a key).
    ts_skew_ms: Option<i16>,
    health: bool,
    checks: Option<Vec<u8>>,
    how: How,
}

#[derive(Arbitrary, Debug)]
enum Every {
    Unsaid,
    Ms(u16),
    Any(u64),
}

#[derive(Arbitrary, Debug)]
enum How {
    /// `receive` from the network, with or without a skew limit.
    Network { max_skew_ms: Option<u16> },
    /// `receive` of a recorded line.
    Recording,
    /// `admit`, then `observe` (hb-poll --every feeds replies this way).
    Observe,
}

const STATUSES: [CheckStatus; 4] = [
    CheckStatus::Ok,
    CheckStatus::Unknown,
    CheckStatus::Warning,
    CheckStatus::Critical,
];

/// Moves the clock from `now` to `to` and fires the deadlines reached: at
/// each deadline on the way when `live`, else once at `to`.
fn advance(det: &mut Detector, now: &mut Millis, to: Millis, live: bool, out: &mut Vec<Event>) {
    if live {
        while let Some(due) = det.next_deadline().filter(|&due| due <= to) {
            *now = due.max(*now);
            det.expire(*now, out);
        }
    }
    *now = to;
    det.expire(to, out);
}

/// Replays `events` onto `model`, checking each is a possible transition.
fn replay(model: &mut BTreeMap<String, State>, events: &[Event], emit_beats: bool) {
    for event in events {
        let node = event.node().to_owned();
        let was = model.get(&node).copied();
        match event {
            Event::Up { was: said, .. } => {
                let expected = match was {
                    None | Some(State::Pending) => None,
                    Some(State::Up) => panic!("up for {node:?}, already up: {events:?}"),
                    Some(s) => Some(s),
                };
                assert_eq!(*said, expected, "up's was for {node:?}: {events:?}");
                model.insert(node, State::Up);
            }
            Event::Suspect { .. } => {
                assert_eq!(was, Some(State::Up), "suspect for {node:?}: {events:?}");
                model.insert(node, State::Suspect);
            }
            Event::Down { .. } => {
                assert!(
                    matches!(was, Some(State::Up | State::Suspect | State::Pending)),
                    "down for {node:?}, which was {was:?}: {events:?}"
                );
                model.insert(node, State::Down);
            }
            Event::Restart {
                old_boot, new_boot, ..
            } => {
                assert!(was.is_some(), "restart of an unknown node: {events:?}");
                assert_ne!(old_boot, new_boot);
            }
            Event::Beat { .. } => {
                assert!(emit_beats, "a beat event without emit_beats");
                assert!(was.is_some(), "beat event before up: {events:?}");
            }
            Event::Health { .. } | Event::Flapping { .. } => {
                assert!(
                    was.is_some(),
                    "{} of an unknown node: {events:?}",
                    event.kind()
                );
            }
        }
    }
}

/// The node table copied out `slice` nodes at a time: its snapshot is the
/// detector's own.
fn check_copy(det: &Detector, now: Millis, slice: usize, snap: &Snapshot<'_>) {
    let mut records: Vec<NodeRecord> = Vec::new();
    let mut next = 0;
    while next < det.len() {
        let after = det.copy_nodes(next, slice, now, &mut records);
        assert!(after > next, "a copy that does not move on");
        next = after;
    }
    assert_eq!(records.len(), det.len());
    let copied = Snapshot::of_records(&records);
    assert_eq!(
        format!("{copied:?}"),
        format!("{snap:?}"),
        "the copied table tells another story"
    );
}

/// Every node in exactly one list of the snapshot: the one its state names.
fn check_snapshot(det: &Detector, snap: &Snapshot<'_>, model: &BTreeMap<String, State>) {
    let lists = [
        ("up", &snap.up),
        ("degraded", &snap.degraded),
        ("suspect", &snap.suspect),
        ("down", &snap.down),
        ("pending", &snap.pending),
    ];
    let mut listed = BTreeMap::new();
    for (state, list) in lists {
        for name in list.iter() {
            assert!(
                listed.insert(*name, state).is_none(),
                "{name:?} in two lists"
            );
        }
    }
    assert_eq!(listed.len(), snap.nodes.len(), "lists and nodes differ");
    assert_eq!(listed.len(), model.len(), "snapshot and events differ");
    for (name, state) in &listed {
        assert_eq!(det.routing_state(name), Some(*state), "{name:?}");
        let view = &snap.nodes[name];
        assert_eq!(Some(&view.state), model.get(*name), "{name:?}");
    }
}

fuzz_target!(|input: Input| {
    let cfg = Config {
        rule: input.rule.rule(),
        default_every_ms: Millis::from(input.default_every_ms),
        emit_beats: input.emit_beats,
        up_after: u32::from(input.up_after).max(1),
        flap: input.flap.map(|(changes, window_ms)| Flap {
            changes: u32::from(changes).max(1),
            window_ms: Millis::from(window_ms),
        }),
        max_nodes: usize::from(input.max_nodes),
    };
    let max_nodes = cfg.max_nodes;
    let mut det = Detector::new(cfg, 0);
    let mut model = BTreeMap::new();
    for &node in input.expect.iter().take(16) {
        let name = name(node);
        if det.expect(&name).is_ok() {
            model.entry(name).or_insert(State::Pending);
        }
    }
    let mut now: Millis = 0;
    if let Some(at) = input.start_at {
        now = Millis::from(at);
        det.set_start(now);
    }
    let health = RawValue::from_string(r#"{"cpu_pct":12.5,"mem_avail":1024}"#.into()).unwrap();
    let addr: SocketAddr = "192.0.2.1:26722".parse().unwrap();
    let mut out = Vec::new();
    for op in input.ops {
        // Whether deadlines up to `now` have all fired.
        let mut expired = false;
        match op {
            Op::Beat(b) => {
                let name = name(b.node);
                let boot = b.boot.map(|i| BOOTS[usize::from(i) % BOOTS.len()]);
                let wall = WALL_START + now;
                let beat = Beat {
                    node: name.as_str().into(),
                    seq: b.seq.map(u64::from),
                    boot: boot.map(Into::into),
                    every_ms: match b.every {
                        Every::Unsaid => None,
                        Every::Ms(ms) => Some(u64::from(ms)),
                        Every::Any(ms) => Some(ms),
                    },
                    ts_ms: b
                        .ts_skew_ms
                        .map(|d| wall.saturating_add_signed(i64::from(d))),
                    health: b.health.then_some(&*health),
                    ack: false,
                    checks: b.checks.map(|statuses| {
                        let statuses = statuses.iter().take(4).enumerate();
                        statuses
                            .map(|(i, s)| CheckResult {
                                name: format!("c{i}"),
                                status: STATUSES[usize::from(*s) % STATUSES.len()],
                                output: String::new(),
                            })
                            .collect()
                    }),
                };
                let trust = match b.how {
                    How::Network { max_skew_ms } => Trust::Network {
                        max_skew_ms: max_skew_ms.map(u64::from),
                    },
                    How::Recording | How::Observe => Trust::Recording,
                };
                if let How::Observe = b.how {
                    if det.admit(&beat, wall, trust).is_ok() {
                        det.observe(now, wall, Some(addr), &beat, &mut out);
                    }
                } else {
                    // A refused beat expires nothing.
                    expired = det
                        .receive(now, wall, Some(addr), &beat, trust, &mut out)
                        .is_ok();
                }
            }
            Op::Step { ms } => {
                let to = now + Millis::from(ms);
                advance(&mut det, &mut now, to, input.live, &mut out);
                expired = true;
            }
            Op::Wait { seconds } => {
                let to = now + 1000 * Millis::from(seconds);
                advance(&mut det, &mut now, to, input.live, &mut out);
                expired = true;
            }
            Op::Expect { .. } if input.live => {}
            Op::Expect { node } => {
                let name = name(node);
                if det.expect(&name).is_ok() {
                    model.entry(name).or_insert(State::Pending);
                }
            }
            Op::Stall { ms } => {
                now += Millis::from(ms);
                det.stalled(Millis::from(ms), now);
                det.expire(now, &mut out);
                expired = true;
            }
            Op::Dropped if input.live => det.dropped_beats(now),
            Op::Dropped => {}
        }
        replay(&mut model, &out, input.emit_beats);
        out.clear();
        let states: BTreeMap<String, State> =
            det.states().map(|(n, s)| (n.to_owned(), s)).collect();
        assert_eq!(
            states, model,
            "the detector's states are what its events said"
        );
        assert!(
            states.len() <= max_nodes,
            "{} nodes, limit {max_nodes}",
            states.len()
        );
        let snap = det.snapshot(now);
        check_snapshot(&det, &snap, &model);
        check_copy(&det, now, 1 + usize::from(input.slice) % 4, &snap);
        if expired {
            if let Some(due) = det.next_deadline() {
                assert!(due > now, "next deadline {due} not after now {now}");
            }
        }
    }
});
