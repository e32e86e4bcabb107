#![no_main]
//! Any node names (any text: quotes, backslashes, line breaks, control
//! characters) and readings through `metrics::Metrics`: the exposition it
//! serves is always well formed in the Prometheus text format 0.0.4, line
//! by line (`# HELP`, `# TYPE`, and samples `name{label="value",...} number`
//! with only `\\`, `\"` and `\n` escaped in label values); and the `node`
//! labels, unescaped, are exactly the names given, each with one sample
//! per state in `hb_node_state`.

use std::collections::{BTreeMap, BTreeSet};

use arbitrary::Arbitrary;
use hb::metrics::Metrics;
use libfuzzer_sys::fuzz_target;
use serde_json::value::RawValue;

const STATES: [&str; 5] = ["up", "suspect", "down", "pending", "degraded"];

#[derive(Arbitrary, Debug)]
struct Input {
    nodes: Vec<Node>,
    /// Reasons and event types are fixed words in hb; any text here.
    rejected: Vec<String>,
    events: Vec<String>,
}

#[derive(Arbitrary, Debug)]
struct Node {
    name: String,
    state: u8,
    wall_ms: u64,
    cpu_pct: Option<f64>,
    mem_avail: Option<u64>,
    /// A health object in a beat: hb's own, or any JSON text.
    health: Option<Result<(f32, u64), String>>,
}

/// A metric name: `[a-zA-Z_:][a-zA-Z0-9_:]*`.
fn metric_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// A sample value: a float, `+Inf`, `-Inf` or `NaN`.
fn number(s: &str) -> bool {
    matches!(s, "+Inf" | "-Inf" | "NaN")
        || (s.parse::<f64>().is_ok()
            && s.bytes()
                .all(|b| b.is_ascii_digit() || b"+-.e".contains(&b)))
}

/// Parses one sample line: its name, its labels (unescaped), its value.
fn sample(line: &str) -> (&str, Vec<(&str, String)>, &str) {
    let end = line
        .find(['{', ' '])
        .unwrap_or_else(|| panic!("no value: {line:?}"));
    let (name, mut rest) = line.split_at(end);
    assert!(metric_name(name), "metric name {name:?}");
    let mut labels = Vec::new();
    if let Some(inner) = rest.strip_prefix('{') {
        rest = inner;
        loop {
            let (label, after) = rest.split_once("=\"").unwrap_or_else(|| panic!("{line:?}"));
            assert!(
                metric_name(label) && !label.contains(':'),
                "label {label:?} in {line:?}"
            );
            let mut value = String::new();
            let mut chars = after.char_indices();
            let close = loop {
                match chars.next() {
                    Some((i, '"')) => break i,
                    Some((_, '\\')) => match chars.next() {
                        Some((_, '\\')) => value.push('\\'),
                        Some((_, '"')) => value.push('"'),
                        Some((_, 'n')) => value.push('\n'),
                        other => panic!("escape {other:?} in {line:?}"),
                    },
                    Some((_, '\n')) => panic!("a raw line break in {line:?}"),
                    Some((_, c)) => value.push(c),
                    None => panic!("an unterminated label value in {line:?}"),
                }
            };
            labels.push((label, value));
            rest = &after[close + 1..];
            match rest.as_bytes().first() {
                Some(b',') => rest = &rest[1..],
                Some(b'}') => {
                    rest = &rest[1..];
                    break;
                }
                _ => panic!("after a label value: {line:?}"),
            }
        }
    }
    let value = rest
        .strip_prefix(' ')
        .unwrap_or_else(|| panic!("no value: {line:?}"));
    assert!(number(value), "value {value:?} in {line:?}");
    (name, labels, value)
}

fuzz_target!(|input: Input| {
    let m = Metrics::new("hb-fuzz");
    let mut names = BTreeSet::new();
    for node in input.nodes.iter().take(16) {
        let name = node.name.as_str();
        names.insert(name.to_owned());
        m.node_state(name, STATES[usize::from(node.state) % STATES.len()]);
        m.node_seen(name, node.wall_ms);
        m.node_health(name, node.cpu_pct, node.mem_avail);
        let health = match &node.health {
            Some(Ok((cpu, mem))) => {
                serde_json::to_string(&serde_json::json!({"cpu_pct": cpu, "mem_avail": mem})).ok()
            }
            Some(Err(text)) => Some(text.clone()),
            None => None,
        };
        let health = health.and_then(|h| RawValue::from_string(h).ok());
        m.node_beat(name, node.wall_ms, health.as_deref());
    }
    for reason in input.rejected.iter().take(8) {
        m.rejected(reason);
    }
    for kind in input.events.iter().take(8) {
        m.event(kind);
    }
    m.received();

    let text = m.encode().expect("the exposition encodes");
    let body = text.strip_suffix('\n').expect("ends with a line break");
    let mut node_labels = BTreeSet::new();
    let mut states: BTreeMap<String, usize> = BTreeMap::new();
    for line in body.split('\n') {
        if let Some(help) = line.strip_prefix("# HELP ") {
            let (name, _) = help.split_once(' ').unwrap_or((help, ""));
            assert!(metric_name(name), "{line:?}");
        } else if let Some(kind) = line.strip_prefix("# TYPE ") {
            let (name, kind) = kind.split_once(' ').unwrap_or_else(|| panic!("{line:?}"));
            assert!(metric_name(name), "{line:?}");
            assert!(
                ["counter", "gauge", "info", "untyped"].contains(&kind),
                "{line:?}"
            );
        } else {
            assert!(!line.starts_with('#'), "{line:?}");
            let (name, labels, _) = sample(line);
            let mut seen = BTreeSet::new();
            for (label, value) in labels {
                assert!(seen.insert(label), "label {label} twice in {line:?}");
                if label == "node" {
                    node_labels.insert(value.clone());
                    if name == "hb_node_state" {
                        *states.entry(value).or_default() += 1;
                    }
                }
            }
        }
    }
    assert_eq!(node_labels, names, "the node labels are the names given");
    for (node, count) in states {
        assert_eq!(count, STATES.len(), "{node:?}: {count} state samples");
    }
});
