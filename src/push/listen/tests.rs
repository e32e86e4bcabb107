//! Whatever arrives, every line the listener prints is strict JSON (what
//! serde, jq and Python's json all take) in the output contract: `type`
//! first, then `ts` and `ts_ms`. Datagrams are arbitrary bytes, or beats
//! built as text so they can hold what a serializer never writes: lone
//! surrogate escapes, numbers beyond a double, deep health, look-alike
//! names, intervals and timestamps out of range.

use crate::clock::Moment;
use std::net::SocketAddr;

use proptest::prelude::*;

use super::*;
use crate::auth::Codec;
use crate::detector::{Config, Rule};
use crate::output::{rfc3339, Output, Sink};

/// A JSON string literal, escapes written out: any `\uXXXX` code unit
/// (lone surrogates too), invisible and bidirectional characters.
fn string_text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        "[a-z0-9 é\u{202e}\u{2066}\u{200b}\u{feff}-]{0,4}",
        any::<u16>().prop_map(|u| format!("\\u{u:04x}")),
        (0xd800u16..0xe000).prop_map(|u| format!("\\u{u:04x}")),
        Just("\\ud83d\\ude00".to_owned()),
        Just("\\n\\r\\t\\\"\\\\".to_owned()),
    ];
    prop::collection::vec(piece, 0..5).prop_map(|parts| format!("\"{}\"", parts.concat()))
}

/// Any JSON value as text, nested, with numbers a double cannot hold.
fn json_text() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just("null".to_owned()),
        any::<bool>().prop_map(|b| b.to_string()),
        any::<i64>().prop_map(|n| n.to_string()),
        any::<f64>().prop_map(|f| format!("{f:e}")),
        prop::sample::select(vec![
            "1e999",
            "-1e400",
            "1e-400",
            "18446744073709551616",
            "-0"
        ])
        .prop_map(str::to_owned),
        string_text(),
    ];
    leaf.prop_recursive(6, 48, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(|v| format!("[{}]", v.join(","))),
            prop::collection::vec((string_text(), inner), 0..5).prop_map(|members| {
                let members: Vec<String> =
                    members.iter().map(|(k, v)| format!("{k}:{v}")).collect();
                format!("{{{}}}", members.join(","))
            }),
        ]
    })
}

/// A number field's value: in range, out of it, or not a u64 at all.
fn number_text() -> impl Strategy<Value = String> {
    prop_oneof![
        (0u64..20).prop_map(|n| n.to_string()),
        (10u64..100_000).prop_map(|n| n.to_string()),
        any::<u64>().prop_map(|n| n.to_string()),
        Just("253402300800000".to_owned()),
        Just("-1".to_owned()),
        Just("1e3".to_owned()),
    ]
}

/// A beat as a sender could write it, fields present or not.
fn beat_text() -> impl Strategy<Value = String> {
    let node = prop_oneof![
        prop::sample::select(vec!["\"web-1\"", "\"web-2\"", "\"evil\"", "\" web-1\""])
            .prop_map(str::to_owned),
        string_text(),
    ];
    let field = |name: &'static str, value: BoxedStrategy<String>| {
        proptest::option::of(value)
            .prop_map(move |v| v.map_or(String::new(), |v| format!(",\"{name}\":{v}")))
    };
    let check = (
        string_text(),
        string_text(),
        prop::sample::select(vec!["ok", "critical", "bad"]),
    )
        .prop_map(|(name, output, status)| {
            format!(r#"{{"name":{name},"status":"{status}","output":{output}}}"#)
        });
    let checks = prop::collection::vec(check, 0..3).prop_map(|c| format!("[{}]", c.join(",")));
    (
        node,
        field("seq", number_text().boxed()),
        field("boot", string_text().boxed()),
        field("every_ms", number_text().boxed()),
        field("ts_ms", number_text().boxed()),
        field("health", json_text().boxed()),
        field("checks", checks.boxed()),
    )
        .prop_map(|(node, seq, boot, every, ts, health, checks)| {
            format!(r#"{{"type":"beat","node":{node}{seq}{boot}{every}{ts}{health}{checks}}}"#)
        })
}

fn datagram() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        3 => beat_text().prop_map(String::into_bytes),
        1 => prop::collection::vec(any::<u8>(), 0..1500),
    ]
}

/// A listener printing into memory, judging by 3 misses, its beats
/// printed; its clock starts at 0.
pub(super) fn listener() -> Listener<Vec<u8>> {
    let config = Config {
        rule: Rule::Fixed { misses: 3 },
        default_every_ms: 100,
        emit_beats: true,
        up_after: 1,
        flap: None,
        max_nodes: 1000,
    };
    let intake = Intake::new(Codec::new(None), Vec::new(), true);
    let out = Sink::new(Output::new(Vec::new()));
    Listener::new(Detector::new(config, 0), out, intake, 30_000, Some(50), 0)
}

/// A fresh directory for `test`'s files, emptied of what an earlier run
/// left.
pub(super) fn scratch_dir(test: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("hb-listen-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Checks one printed line: strict JSON, one line, the contract's order.
fn check_line(line: &str) -> Result<(), TestCaseError> {
    let value: serde_json::Value =
        serde_json::from_str(line).map_err(|e| TestCaseError::fail(format!("{e}: {line}")))?;
    prop_assert!(value.is_object(), "{}", line);
    let rest = line
        .strip_prefix("{\"type\":\"")
        .ok_or_else(|| TestCaseError::fail(format!("type is not first: {line}")))?;
    let after_type = rest.find('"').map_or("", |i| &rest[i + 1..]);
    prop_assert!(after_type.starts_with(",\"ts\":\""), "{}", line);
    let after_ts = &after_type[",\"ts\":\"".len() + 24 + 1..];
    prop_assert!(after_ts.starts_with(",\"ts_ms\":"), "{}", line);
    let ts_ms = value["ts_ms"].as_u64().unwrap_or(u64::MAX);
    let ts = rfc3339(ts_ms);
    prop_assert_eq!(value["ts"].as_str(), Some(ts.as_str()));
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn every_line_printed_is_strict_json_in_the_contract(
        datagrams in prop::collection::vec((datagram(), 0u64..400), 1..12),
    ) {
        let mut l = listener();
        let from: SocketAddr = "192.0.2.1:9".parse().unwrap();
        let wall = 1_795_000_000_000;
        let mut now = 0;
        for (datagram, wait) in &datagrams {
            now += wait;
            l.tick(Moment::new(now, wall + now)).unwrap();
            if let Some(message) = l.intake.open(datagram, from, now) {
                l.accept(Moment::new(now, wall + now), message, Some(from), None, datagram.len(), true).unwrap();
            }
            l.flush(Moment::new(now, wall + now)).unwrap();
        }
        // Long enough for every node to be suspect, then down.
        for at in (now..now + 5_000).step_by(50) {
            l.tick(Moment::new(at, wall + at)).unwrap();
        }
        let out = std::mem::replace(&mut l.out, Sink::new(Output::new(Vec::new()))).into_inner();
        let out = String::from_utf8(out).unwrap();
        prop_assert!(out.ends_with('\n'));
        for line in out.lines() {
            check_line(line)?;
        }
    }
}

/// Replays `input` with a status line every second; the printed lines.
fn replay(input: &[u8]) -> Vec<serde_json::Value> {
    let mut l = listener();
    l.status_every = Some(1000);
    l.replay(input, &std::sync::atomic::AtomicBool::new(false))
        .unwrap();
    let out = std::mem::replace(&mut l.out, Sink::new(Output::new(Vec::new()))).into_inner();
    String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

fn of_type<'a>(lines: &'a [serde_json::Value], kind: &str) -> Vec<&'a serde_json::Value> {
    lines.iter().filter(|v| v["type"] == kind).collect()
}

/// A recording that jumps from 1970 to today prints the status lines
/// around what happened, not one per second of the 56 years between.
#[test]
fn a_gap_in_a_recording_prints_no_run_of_status_lines() {
    let today = 1_795_000_000_000u64;
    let input = format!(
        "{{\"type\":\"beat\",\"ts_ms\":0,\"node\":\"a\",\"every_ms\":1000}}\n\
         {{\"type\":\"beat\",\"ts_ms\":{today},\"node\":\"a\",\"every_ms\":1000}}\n\
         {{\"type\":\"beat\",\"ts_ms\":{},\"node\":\"a\",\"every_ms\":1000}}\n",
        today + 3500
    );
    let lines = replay(input.as_bytes());
    // Each slot while things happen (suspect at 1.5 s, down at 3 s), then
    // ten in a row where nothing does, then the slot of the next line.
    let slots: Vec<u64> = of_type(&lines, "status")
        .iter()
        .filter_map(|s| s["ts_ms"].as_u64())
        .collect();
    let gap: Vec<u64> = (1..=13).map(|s| s * 1000).chain([today]).collect();
    let after = [today + 1000, today + 2000, today + 3000];
    assert_eq!(slots, [gap.as_slice(), &after].concat());
    assert_eq!(of_type(&lines, "down")[0]["ts_ms"], 3000);
}

/// A line stamped past year 9999 cannot be written as RFC 3339: it is
/// refused and moves no clock; a line longer than any datagram is refused
/// without being kept, and the lines after it are read.
#[test]
fn replay_refuses_lines_out_of_range() {
    let long = format!(
        "{{\"type\":\"beat\",\"node\":\"a\",\"x\":\"{}\"}}",
        "y".repeat(10 << 20)
    );
    let input = format!(
        "{{\"type\":\"beat\",\"ts_ms\":1000,\"node\":\"a\"}}\n\
         {{\"type\":\"beat\",\"ts_ms\":253402300800000,\"node\":\"a\"}}\n\
         {{\"type\":\"up\",\"ts_ms\":18446744073709551615,\"node\":\"a\"}}\n\
         {long}\n\
         {{\"type\":\"beat\",\"ts_ms\":2500,\"node\":\"b\"}}\n"
    );
    let lines = replay(input.as_bytes());
    let ups: Vec<&str> = of_type(&lines, "up")
        .iter()
        .filter_map(|v| v["node"].as_str())
        .collect();
    assert_eq!(ups, ["a", "b"]);
    let status = of_type(&lines, "status");
    let last = status.last().unwrap();
    assert_eq!(last["ts_ms"], 2000);
    assert!(lines.iter().all(|v| v["ts_ms"].as_u64() <= Some(2500)));
    let (bad_field, too_large) = (
        &last["rejected"]["bad-field"],
        &last["rejected"]["too-large"],
    );
    assert_eq!(
        (bad_field.as_u64(), too_large.as_u64()),
        (Some(2), Some(1)),
        "{last}"
    );
}
