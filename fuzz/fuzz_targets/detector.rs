#![no_main]
//! The failure detector fed a sequence of beats and clock steps: nodes from
//! a small alphabet, seq, boot and every_ms varied, beats from the network
//! (replay protection, the node limit) or observed directly (a recording,
//! `hb-poll --every`), under the fixed or the phi rule, with flap damping
//! and flap reporting, the observer's own stalls and dropped beats among
//! them. A run is live or a replay, as hb uses the detector: live, the
//! clock moves on as an observer's loop wakes, at every deadline on the
//! way, and the socket may drop beats; in a replay (a recording), the clock
//! jumps from one line's time to the next and nothing is dropped. Nodes
//! also say they leave or go away for a while (`announce`), a reload stops
//! or starts expecting them (`unexpect`, `expect_from`), and with
//! `forget_after` a node down or left that long is removed (`forget_due`,
//! called as the listener calls it: never while a snapshot is being
//! written). After every step:
//!
//! - nothing panicked;
//! - the events tell a consistent story: replayed in order onto a table of
//!   states (`up` only from pending, suspect, down, left or away, with the
//!   right `was`; `suspect` only from up; `down` from up, suspect, pending,
//!   or away with the cause `away-expired`, never twice without an `up`
//!   between; `left` never for a node left or away; `forgotten` only for a
//!   node pending, down or left, which leaves the table), they give
//!   exactly the detector's own states;
//! - the membership written by one `SnapshotStream`, kept from step to
//!   step, 1 to 4 nodes a slice (all at once in a step, or a slice a step
//!   as the listener writes its state file) parses as a `status` object:
//!   every node of the detector when it started in exactly one list, each
//!   list sorted, `nodes` holding the same names, each with the state of
//!   its list, which is the state the events gave it then;
//! - after `expire(now)` (and after a beat or a notice, which expire
//!   first), the next deadline is not in the past;
//! - the node limit holds.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use arbitrary::Arbitrary;
use hb::checks::{CheckResult, CheckStatus};
use hb::clock::{Millis, Moment};
use hb::detector::phi::PhiConfig;
use hb::detector::{Arrival, Config, Detector, Event, Flap, Rule, SnapshotStream, State, Trust};
use hb::wire::{Away, Beat, Leave, Message, MAX_AWAY_MS, MIN_AWAY_MS};
use libfuzzer_sys::fuzz_target;
use serde_json::value::RawValue;

#[path = "detector/status.rs"]
mod status;
use status::check_status;

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
/// Reasons an `away` gives.
const REASONS: [&str; 3] = ["upgrade", "kernel \"6.8\" \\ reboot", ""];
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
    /// `--forget-after` in ms (0: never, as hb-listen takes it).
    forget_after_ms: Option<u16>,
    /// Nodes a snapshot writes per slice (1 to 4).
    slice: u8,
    /// A slice a step, the snapshot spanning steps (the state file), or
    /// the whole snapshot in each step (a `status` line).
    spread: bool,
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
    /// A declaration after the start: live, a reload adds the node
    /// (`expect_from`); in a replay, a late `expect`.
    Expect {
        node: u8,
    },
    /// A reload no longer expects the node.
    Unexpect {
        node: u8,
    },
    /// A node's `leave` or `away`.
    Notice(NoticeOp),
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

/// A notice as the wire gives it: with a boot and a seq, an away of
/// `MIN_AWAY_MS` to `MAX_AWAY_MS`.
#[derive(Arbitrary, Debug)]
struct NoticeOp {
    node: u8,
    boot: u8,
    seq: u16,
    ts_skew_ms: Option<i16>,
    intent: IntentOp,
    /// From the network, with or without a skew limit; else a recording.
    network: Option<Option<u16>>,
}

#[derive(Arbitrary, Debug)]
enum IntentOp {
    Leave,
    Away { for_ms: u32, reason: Option<u8> },
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
            Event::Down { cause, .. } => {
                assert!(
                    matches!(
                        was,
                        Some(State::Up | State::Suspect | State::Pending | State::Away)
                    ),
                    "down for {node:?}, which was {was:?}: {events:?}"
                );
                let expected = match was {
                    Some(State::Away) => "away-expired",
                    _ => "silence",
                };
                assert_eq!(*cause, expected, "down's cause for {node:?}: {events:?}");
                model.insert(node, State::Down);
            }
            Event::Left { .. } => {
                assert!(
                    !matches!(was, Some(State::Left | State::Away)),
                    "left for {node:?}, which was {was:?}: {events:?}"
                );
                model.insert(node, State::Left);
            }
            Event::Away { .. } => {
                model.insert(node, State::Away);
            }
            Event::Forgotten { .. } => {
                assert!(
                    matches!(was, Some(State::Pending | State::Down | State::Left)),
                    "forgotten {node:?}, which was {was:?}: {events:?}"
                );
                model.remove(&node);
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
            // No message here makes a job (no start, done, nor due_ms).
            Event::Started { .. }
            | Event::Ok { .. }
            | Event::Failed { .. }
            | Event::Late { .. }
            | Event::RunningLong { .. }
            | Event::Overlap { .. } => panic!("a job's event without a job: {events:?}"),
        }
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
    if let Some(ms) = input.forget_after_ms.filter(|&ms| ms > 0) {
        det.forget_after(Millis::from(ms));
    }
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
    let slice = 1 + usize::from(input.slice) % 4;
    let mut stream = SnapshotStream::default();
    let mut status = Vec::new();
    // The states when the snapshot being written started.
    let mut at_start = BTreeMap::new();
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
                    answers: false,
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
                    due: None,
                };
                let trust = match b.how {
                    How::Network { max_skew_ms } => Trust::Network {
                        max_skew_ms: max_skew_ms.map(u64::from),
                    },
                    How::Recording | How::Observe => Trust::Recording,
                };
                if let How::Observe = b.how {
                    if det.admit(&beat, wall, trust).is_ok() {
                        det.observe(Moment::new(now, wall), Some(addr), &beat, &mut out);
                    }
                } else {
                    // A refused beat expires nothing.
                    let at = Moment::new(now, wall);
                    expired = det
                        .take(
                            &Message::Beat(beat),
                            Arrival::new(at, Some(addr), trust),
                            &mut out,
                        )
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
            Op::Expect { node } => {
                let name = name(node);
                let expected = if input.live {
                    det.expect_from(&name, now)
                } else {
                    det.expect(&name)
                };
                if expected.is_ok() {
                    model.entry(name).or_insert(State::Pending);
                }
            }
            Op::Unexpect { node } => det.unexpect(&name(node)),
            Op::Notice(n) => {
                let name = name(n.node);
                let wall = WALL_START + now;
                let (boot, seq) = (BOOTS[usize::from(n.boot) % BOOTS.len()], u64::from(n.seq));
                let ts_ms = n
                    .ts_skew_ms
                    .map(|d| wall.saturating_add_signed(i64::from(d)));
                let notice = match n.intent {
                    IntentOp::Leave => Message::Leave(Leave {
                        node: name.as_str().into(),
                        seq,
                        boot: boot.into(),
                        ts_ms,
                    }),
                    IntentOp::Away { for_ms, reason } => Message::Away(Away {
                        node: name.as_str().into(),
                        seq,
                        boot: boot.into(),
                        ts_ms,
                        for_ms: u64::from(for_ms).clamp(MIN_AWAY_MS, MAX_AWAY_MS),
                        reason: reason.map(|i| REASONS[usize::from(i) % REASONS.len()].into()),
                    }),
                };
                let trust = match n.network {
                    Some(max_skew_ms) => Trust::Network {
                        max_skew_ms: max_skew_ms.map(u64::from),
                    },
                    None => Trust::Recording,
                };
                // A refused notice expires nothing.
                expired = det
                    .take(
                        &notice,
                        Arrival::new(Moment::new(now, wall), Some(addr), trust),
                        &mut out,
                    )
                    .is_ok();
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
        if expired {
            if let Some(due) = det.next_deadline() {
                assert!(due > now, "next deadline {due} not after now {now}");
            }
        }
        // Forgetting moves nodes: never while a snapshot is being written.
        if !stream.is_writing() {
            det.forget_due(now, &mut out);
        }
        replay(&mut model, &out, input.emit_beats);
        out.clear();
        let states: BTreeMap<String, State> =
            det.states().map(|(n, s)| (n.to_owned(), s)).collect();
        assert_eq!(
            states, model,
            "the detector's states are what its events said"
        );
        // The expected nodes have places of their own beside the others:
        // max_nodes of each at most.
        assert!(
            states.len() <= 2 * max_nodes,
            "{} nodes, limit {max_nodes} and as many expected",
            states.len()
        );
        if !stream.is_writing() {
            stream.start(&det);
            status.clear();
            status.extend_from_slice(br#"{"type":"status""#);
            at_start.clone_from(&model);
        }
        loop {
            if stream.write(&det, now, slice, &mut status) {
                status.push(b'}');
                check_status(&status, &at_start);
                break;
            }
            if input.spread {
                break;
            }
        }
    }
});
