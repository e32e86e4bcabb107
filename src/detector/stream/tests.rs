use crate::clock::Moment;
use crate::detector::Arrival;
use proptest::prelude::*;
use serde_json::value::RawValue;

use super::*;
use crate::checks::{CheckResult, CheckStatus};
use crate::detector::lifecycle::{Intent, Notice};
use crate::detector::tests::cfg;
use crate::detector::Trust;
use crate::replay::Claim;
use crate::wire::Beat;

/// Names that sort in surprising ways or need escaping.
const NAMES: [&str; 8] = [
    "web-1",
    "web-10",
    "web-2",
    "a\"b\\c",
    "nœud",
    "Z-upper",
    "node-000123.example.internal",
    "tab\tin",
];

fn detector() -> Detector {
    Detector::new(cfg(2), 0)
}

/// A beat from `name`; `failing` sends a critical plugin check (degraded).
fn beat(det: &mut Detector, now: Millis, name: &str, seq: u64, every_ms: u64, failing: bool) {
    let health = RawValue::from_string(r#"{"cpu_pct":12.5,"mem_avail":7}"#.into()).unwrap();
    let status = if failing {
        CheckStatus::Critical
    } else {
        CheckStatus::Ok
    };
    let b = Beat {
        node: name.into(),
        seq: Some(seq),
        boot: Some("b".into()),
        every_ms: Some(every_ms),
        ts_ms: None,
        health: Some(&health),
        ack: false,
        answers: false,
        checks: Some(vec![CheckResult {
            name: "disk".into(),
            status,
            output: "x".into(),
        }]),
        due: None,
    };
    det.observe(
        Moment::new(now, 1_700_000_000_000 + now),
        None,
        &b,
        &mut Vec::new(),
    );
}

/// A notice from `name`, of the boot its beats have.
fn say(det: &mut Detector, now: Millis, name: &str, seq: u64, intent: Intent) {
    let notice = Notice {
        node: name,
        claim: Claim {
            boot: Some("b"),
            seq: Some(seq),
            ts_ms: None,
        },
        intent,
    };
    let wall = 1_700_000_000_000 + now;
    let _ = det.announce(
        &notice,
        Arrival::new(Moment::new(now, wall), None, Trust::Recording),
        &mut Vec::new(),
    );
}

/// The whole snapshot, streamed `max` nodes per piece, after a first field.
fn streamed(stream: &mut SnapshotStream, det: &Detector, now: Millis, max: usize) -> String {
    stream.start(det);
    let mut out = br#"{"type":"status""#.to_vec();
    while !stream.write(det, now, max, &mut out) {}
    out.push(b'}');
    String::from_utf8(out).unwrap()
}

/// The snapshot built whole in memory, after the same first field.
fn whole(det: &Detector, now: Millis) -> String {
    let json = serde_json::to_string(&det.snapshot(now)).unwrap();
    format!(r#"{{"type":"status",{}"#, &json[1..])
}

/// One step of a fleet's life.
#[derive(Debug, Clone)]
enum Step {
    Beat {
        node: usize,
        every_ms: u64,
        failing: bool,
    },
    Expect(usize),
    /// The node says it leaves.
    Leave(usize),
    /// The node says it is away for so long.
    Away(usize, u64),
    Wait(u64),
    /// A snapshot, `max` nodes a piece.
    Snapshot(usize),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        (0..NAMES.len(), 50..2000u64, any::<bool>()).prop_map(|(node, every_ms, failing)| {
            Step::Beat {
                node,
                every_ms,
                failing,
            }
        }),
        (0..NAMES.len()).prop_map(Step::Expect),
        (0..NAMES.len()).prop_map(Step::Leave),
        (0..NAMES.len(), 1000..8000u64).prop_map(|(node, ms)| Step::Away(node, ms)),
        (1..5000u64).prop_map(Step::Wait),
        (1..6usize).prop_map(Step::Snapshot),
    ]
}

proptest! {
    /// Streamed a slice at a time, whatever the slice, the snapshot is the
    /// very object a `status` line prints; snapshots taken one after
    /// another keep it so as nodes are added between them.
    #[test]
    fn streamed_snapshot_is_the_status_object(steps in prop::collection::vec(step(), 1..60)) {
        let mut det = detector();
        det.forget_after(3000);
        let mut stream = SnapshotStream::default();
        let (mut now, mut seq) = (0, 0);
        for step in steps {
            match step {
                Step::Beat { node, every_ms, failing } => {
                    seq += 1;
                    beat(&mut det, now, NAMES[node], seq, every_ms, failing);
                }
                Step::Expect(node) => {
                    let _ = det.expect(NAMES[node]);
                }
                Step::Leave(node) => {
                    seq += 1;
                    say(&mut det, now, NAMES[node], seq, Intent::Leave);
                }
                Step::Away(node, for_ms) => {
                    seq += 1;
                    say(&mut det, now, NAMES[node], seq, Intent::Away { for_ms, reason: Some("upgrade \"7\"") });
                }
                Step::Wait(ms) => {
                    now += ms;
                    det.expire(now, &mut Vec::new());
                    // Nodes down for 3 s are removed: the others move.
                    det.forget_due(now, &mut Vec::new());
                }
                Step::Snapshot(max) => {
                    prop_assert_eq!(streamed(&mut stream, &det, now, max), whole(&det, now));
                }
            }
        }
    }
}

/// Changes while a snapshot is written: each node stays in the one list
/// it was in at the start, and its entry says the same state.
#[test]
fn a_node_changing_mid_snapshot_stays_in_one_list() {
    let mut det = detector();
    for (seq, name) in NAMES.iter().enumerate() {
        beat(&mut det, 0, name, seq as u64 + 1, 100, false);
    }
    let mut stream = SnapshotStream::default();
    stream.start(&det);
    let mut out = br#"{"type":"status""#.to_vec();
    assert!(!stream.write(&det, 0, 3, &mut out));
    // Every node goes down, and a new one comes, before the rest is written.
    det.expire(10_000, &mut Vec::new());
    beat(&mut det, 10_000, "late", 1, 100, false);
    while !stream.write(&det, 10_000, 3, &mut out) {}
    out.push(b'}');
    let snap: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(snap["up"].as_array().unwrap().len(), NAMES.len());
    assert_eq!(snap["down"], serde_json::json!([]));
    let nodes = snap["nodes"].as_object().unwrap();
    assert_eq!(
        nodes.len(),
        NAMES.len(),
        "the late node is the next snapshot's"
    );
    assert!(nodes.values().all(|n| n["state"] == "up"));
    // The next snapshot has the new node and the new states.
    let next = streamed(&mut stream, &det, 10_000, 4);
    assert_eq!(next, whole(&det, 10_000));
}

/// An empty table is a valid, empty snapshot.
#[test]
fn an_empty_table_streams_empty_lists() {
    let det = detector();
    let mut stream = SnapshotStream::default();
    assert!(!stream.is_writing());
    let json = streamed(&mut stream, &det, 0, 1);
    assert_eq!(json, whole(&det, 0));
    assert!(!stream.is_writing());
}
