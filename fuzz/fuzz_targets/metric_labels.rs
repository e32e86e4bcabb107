#![no_main]
//! Any node names (any text: quotes, backslashes, line breaks, control
//! characters), target names and readings through `metrics::Metrics`, its
//! node series computed at scrape time from a node table as a tool's loop
//! hands it over: the exposition is always well formed in the Prometheus
//! text format 0.0.4, line by line (`# HELP`, `# TYPE`, and samples
//! `name{label="value",...} number` with only `\\`, `\"` and `\n` escaped
//! in label values); and the `node` labels (with `hb-poll`'s responder
//! names, the `target` labels), unescaped, are exactly the names given,
//! each with one sample per state in `hb_node_state` (all eleven), valued 1
//! for its state alone (`degraded` for a node up with a failing check, a
//! job's own state for a job),
//! and CPU and memory readings only while up or suspect.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::mpsc::{self, SyncSender};
use std::sync::{Arc, Mutex, OnceLock};

use arbitrary::Arbitrary;
use hb::detector::{JobState, NodeSample, NodeSamples, Reading, State};
use hb::health::Health;
use hb::metrics::nodes::{NodeTable, JOB_STATES as JOB_SERIES, NODE_STATES};
use hb::metrics::{Metrics, Series};
use libfuzzer_sys::fuzz_target;
use serde_json::value::RawValue;

#[derive(Arbitrary, Debug)]
struct Input {
    nodes: Vec<Node>,
    /// `hb-poll --every`: each target's series labelled by the responder's
    /// own name (when it answered), the target in a label of its own.
    poll: bool,
    /// Reasons and event types are fixed words in hb; any text here.
    rejected: Vec<String>,
    events: Vec<String>,
}

#[derive(Arbitrary, Debug)]
struct Node {
    name: String,
    /// The responder's own name (hb-poll only).
    responder: Option<String>,
    state: u8,
    healthy: bool,
    last_seen: Option<u64>,
    /// A health reading: hb's own, or any JSON text a sender put there.
    health: Option<Result<(Option<f32>, u64), String>>,
}

/// Not a job, or a job in each of its states.
const JOB_STATES: [Option<JobState>; 5] = [
    None,
    Some(JobState::Ok),
    Some(JobState::Running),
    Some(JobState::Failed),
    Some(JobState::Late),
];

/// Every state a detector gives a node.
const DETECTOR_STATES: [State; 6] = [
    State::Pending,
    State::Up,
    State::Suspect,
    State::Down,
    State::Left,
    State::Away,
];

impl Node {
    /// The node as `Detector::sample_nodes` copies it for a scrape: CPU
    /// and memory read from its health reading.
    fn sample(&self) -> NodeSample {
        let health = match &self.health {
            Some(Ok((cpu_pct, mem_avail))) => Some(Reading::Known(Health {
                cpu_pct: *cpu_pct,
                mem_total: mem_avail.saturating_mul(2),
                mem_avail: *mem_avail,
                swap_used: 0,
                load1: 0.0,
                load5: 0.0,
                load15: 0.0,
                uptime_s: 0,
            })),
            Some(Err(text)) => RawValue::from_string(text.clone()).ok().map(Reading::Other),
            None => None,
        };
        let (cpu_pct, mem_avail, mem_total) = health
            .as_ref()
            .map_or((None, None, None), Reading::cpu_and_memory);
        NodeSample {
            state: DETECTOR_STATES[usize::from(self.state) % DETECTOR_STATES.len()],
            healthy: self.healthy,
            last_seen: self.last_seen,
            cpu_pct: cpu_pct.map(|pct| pct as f32),
            mem_avail,
            mem_total,
            job: JOB_STATES[usize::from(self.state / 8) % JOB_STATES.len()],
        }
    }
}

/// The exposition of `m`, its one scrape answered with `table` by another
/// thread, as a tool's loop answers it. The thread lives as long as the
/// process (one per input makes the target twice as slow).
fn scrape(m: &Metrics, table: NodeTable) -> String {
    static LOOP: OnceLock<Mutex<SyncSender<(Metrics, NodeTable)>>> = OnceLock::new();
    let work = LOOP.get_or_init(|| {
        let (tx, rx) = mpsc::sync_channel::<(Metrics, NodeTable)>(1);
        std::thread::spawn(move || {
            for (m, table) in rx {
                while !m.nodes_wanted() {
                    std::thread::yield_now();
                }
                m.answer_nodes(table);
            }
        });
        Mutex::new(tx)
    });
    work.lock()
        .expect("the scrape loop never panics")
        .send((m.clone(), table))
        .expect("the scrape loop lives as long as the process");
    m.encode().expect("the exposition encodes")
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
    let m = Metrics::new("hb-fuzz", Series::CountersAndNodes { per_node: true });
    // A detector tracks a name once.
    let mut names = BTreeSet::new();
    let nodes: Vec<&Node> = input
        .nodes
        .iter()
        .filter(|n| names.insert(n.name.clone()))
        .take(16)
        .collect();
    let responders: Option<HashMap<String, String>> = input.poll.then(|| {
        let answered = nodes
            .iter()
            .filter_map(|n| Some((n.name.clone(), n.responder.clone()?)));
        answered.collect()
    });
    // The `node` label of each name and its `target` label (hb-poll),
    // with the sample the series tell.
    let labelled: BTreeMap<(String, Option<String>), NodeSample> = nodes
        .iter()
        .map(|n| {
            let key = match &responders {
                None => (n.name.clone(), None),
                Some(r) => (
                    r.get(&n.name).unwrap_or(&n.name).clone(),
                    Some(n.name.clone()),
                ),
            };
            (key, n.sample())
        })
        .collect();
    for reason in input.rejected.iter().take(8) {
        m.rejected(reason);
    }
    for kind in input.events.iter().take(8) {
        m.event(kind);
    }
    m.received();
    let mut samples = NodeSamples::default();
    for n in &nodes {
        samples.push(&n.name, n.sample());
    }
    let table = NodeTable {
        nodes: Arc::new(samples),
        responders,
    };

    let text = scrape(&m, table);
    let body = text.strip_suffix('\n').expect("ends with a line break");
    let mut node_labels = BTreeSet::new();
    // Each node's `hb_node_state` samples, and the states valued 1.
    let mut states: BTreeMap<(String, Option<String>), (usize, Vec<String>)> = BTreeMap::new();
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
            let (name, labels, value) = sample(line);
            let mut seen = BTreeSet::new();
            let (mut node, mut target, mut state) = (None, None, None);
            for (label, value) in labels {
                assert!(seen.insert(label), "label {label} twice in {line:?}");
                match label {
                    "node" => node = Some(value),
                    "target" => target = Some(value),
                    "state" => state = Some(value),
                    _ => {}
                }
            }
            if name.starts_with("hb_node_") {
                let node = node.unwrap_or_else(|| panic!("no node label: {line:?}"));
                let key = (node, target);
                match name {
                    "hb_node_state" => {
                        let state = state.unwrap_or_else(|| panic!("no state: {line:?}"));
                        let (count, current) = states.entry(key.clone()).or_default();
                        *count += 1;
                        if value == "1" {
                            current.push(state);
                        }
                    }
                    // Readings of a node believed alive only.
                    "hb_node_cpu_ratio"
                    | "hb_node_mem_available_bytes"
                    | "hb_node_mem_total_bytes" => {
                        let given = labelled.get(&key).map(|n| n.state);
                        assert!(
                            matches!(given, Some(State::Up | State::Suspect)),
                            "a reading of a node {given:?}: {line:?}"
                        );
                    }
                    _ => {}
                }
                node_labels.insert(key);
            }
        }
    }
    assert!(
        node_labels.iter().eq(labelled.keys()),
        "the node labels are the names given"
    );
    assert_eq!(states.len(), labelled.len(), "a node without hb_node_state");
    for (node, (count, current)) in states {
        let kinds = match labelled[&node].job {
            Some(_) => JOB_SERIES.len(),
            None => NODE_STATES.len(),
        };
        assert_eq!(count, kinds, "{node:?}: {count} state samples");
        let routing = labelled[&node].routing_state();
        assert_eq!(current, [routing], "{node:?}: the states valued 1");
    }
});
