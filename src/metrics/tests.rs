use super::*;
use nodes::NodeTable;
use std::time::Duration;

use crate::detector::{NodeSample, NodeSamples, State};
use std::collections::HashMap;

/// A node's sample; `health`: its CPU percent and available memory.
fn record(state: State, healthy: bool, health: (Option<f32>, Option<u64>)) -> NodeSample {
    NodeSample {
        state,
        healthy,
        last_seen: Some(1_795_703_053_371),
        cpu_pct: health.0,
        mem_avail: health.1,
        mem_total: health.1.map(|avail| 4 * avail),
        job: None,
    }
}

/// Nodes in every state, a node name that needs escaping included.
fn fleet() -> NodeTable {
    let health = (Some(12.5), Some(1_073_741_824));
    NodeTable {
        nodes: Arc::new({
            let mut nodes = NodeSamples::default();
            nodes.push("web-1", record(State::Up, false, health));
            nodes.push("db-1", record(State::Down, true, health));
            let odd = r#"a"b\c nœud"#;
            nodes.push(odd, record(State::Suspect, true, (Some(50.0), None)));
            nodes.push("new-1", record(State::Pending, true, (None, None)));
            nodes
        }),
        responders: None,
    }
}

/// Answers every scrape of `m` with `table`, as a tool's loop does, until
/// the test ends.
fn feed(m: &Metrics, table: NodeTable) {
    let m = m.clone();
    std::thread::spawn(move || loop {
        if m.nodes_wanted() {
            m.answer_nodes(table.clone());
        }
        std::thread::sleep(Duration::from_millis(1));
    });
}

/// hb-listen's metrics after some traffic, its loop answering scrapes.
fn sample() -> Metrics {
    let m = Metrics::new("hb-listen", Series::CountersAndNodes { per_node: true });
    m.received();
    m.received();
    m.rejected("bad-json");
    m.event("up");
    m.event("up");
    feed(&m, fleet());
    m
}

fn has(text: &str, line: &str) -> bool {
    text.lines().any(|l| l == line)
}

#[test]
fn encodes_every_series() {
    let text = sample().encode().unwrap();
    let version = env!("CARGO_PKG_VERSION");
    for line in [
        &format!(r#"hb_build_info{{tool="hb-listen",version="{version}"}} 1"#),
        r#"hb_node_last_seen_timestamp_seconds{node="web-1"} 1795703053.371"#,
        r#"hb_node_up{node="web-1"} 1"#,
        r#"hb_node_state{node="web-1",state="degraded"} 1"#,
        r#"hb_node_state{node="web-1",state="down"} 0"#,
        r#"hb_node_state{node="web-1",state="up"} 0"#,
        r#"hb_node_cpu_ratio{node="web-1"} 0.125"#,
        r#"hb_node_mem_available_bytes{node="web-1"} 1073741824.0"#,
        r#"hb_node_up{node="a\"b\\c nœud"} 1"#,
        r#"hb_node_state{node="a\"b\\c nœud",state="suspect"} 1"#,
        r#"hb_node_cpu_ratio{node="a\"b\\c nœud"} 0.5"#,
        r#"hb_node_up{node="db-1"} 0"#,
        r#"hb_node_up{node="new-1"} 0"#,
        r#"hb_node_state{node="new-1",state="pending"} 1"#,
        "# TYPE hb_received_total counter",
        "hb_received_total 2",
        r#"hb_rejected_total{reason="bad-json"} 1"#,
        r#"hb_events_total{type="up"} 2"#,
    ] {
        assert!(has(&text, line), "no {line:?} in\n{text}");
    }
    assert!(!text.contains("# EOF"), "OpenMetrics: {text}");
}

/// The health of a node that is down (or was never up) is history, not a
/// reading: it is not exported.
#[test]
fn a_down_node_exports_no_health() {
    let text = sample().encode().unwrap();
    assert!(
        !text.contains(r#"hb_node_cpu_ratio{node="db-1"}"#),
        "{text}"
    );
    assert!(
        !text.contains(r#"hb_node_mem_available_bytes{node="db-1"}"#),
        "{text}"
    );
    assert!(
        !text.contains(r#"hb_node_cpu_ratio{node="new-1"}"#),
        "{text}"
    );
}

/// A node has the series of its kind's states; every tool that tracks
/// nodes counts them by state; total memory is there for ratios.
#[test]
fn states_are_a_nodes_kinds_and_counted_by_state() {
    let text = sample().encode().unwrap();
    for line in [
        r#"hb_node_state{node="web-1",state="degraded"} 1"#,
        r#"hb_node_state{node="web-1",state="away"} 0"#,
        r#"hb_nodes{state="up"} 0"#,
        r#"hb_nodes{state="degraded"} 1"#,
        r#"hb_nodes{state="down"} 1"#,
        r#"hb_nodes{state="late"} 0"#,
        r#"hb_node_mem_total_bytes{node="web-1"} 4294967296.0"#,
    ] {
        assert!(
            has(&text, line),
            "no {line:?} in
{text}"
        );
    }
    assert!(!text.contains(r#"node="web-1",state="late""#), "{text}");
    let m = Metrics::new("hb-listen", Series::CountersAndNodes { per_node: false });
    feed(&m, fleet());
    let text = m.encode().unwrap();
    assert!(has(&text, r#"hb_nodes{state="down"} 1"#), "{text}");
    assert!(
        !text.contains("hb_node_up") && !text.contains("hb_node_state{"),
        "no series per node: {text}"
    );
}

/// Counters with a known set of labels exist from the start, at zero, so
/// that an alert on `increase()` sees the first one.
#[test]
fn counters_by_reason_and_type_start_at_zero() {
    let text = Metrics::new("hb-ack", Series::Counters).encode().unwrap();
    for line in [
        r#"hb_rejected_total{reason="replay"} 0"#,
        r#"hb_rejected_total{reason="amplification"} 0"#,
        r#"hb_events_total{type="down"} 0"#,
        r#"hb_events_total{type="no-quorum"} 0"#,
        r#"hb_events_total{type="still-down"} 0"#,
        r#"hb_events_total{type="hook"} 0"#,
        r#"hb_events_total{type="hook-overflow"} 0"#,
        "hb_probes_answered_total 0",
    ] {
        assert!(has(&text, line), "no {line:?} in\n{text}");
    }
    assert!(!text.contains("hb_node_"), "hb-ack tracks no nodes: {text}");
}

/// hb-poll labels a target's series with the responder's own name, the
/// target in a label of its own, so `max by (node)` joins hb-listen's.
#[test]
fn poll_series_are_labelled_by_the_responders_name() {
    let m = Metrics::new("hb-poll", Series::CountersAndNodes { per_node: true });
    let mut table = fleet();
    table.responders = Some(HashMap::from([(
        "web-1".to_owned(),
        "web-1.example.internal".to_owned(),
    )]));
    feed(&m, table);
    let text = m.encode().unwrap();
    let line = r#"hb_node_up{node="web-1.example.internal",target="web-1"} 1"#;
    assert!(has(&text, line), "no {line:?} in\n{text}");
    let line = r#"hb_node_up{node="db-1",target="db-1"} 0"#;
    assert!(
        has(&text, line),
        "a target that never answered keeps its name: {text}"
    );
}

/// A loop that does not answer costs the scrape its node series, never
/// the scrape itself.
#[test]
fn a_scrape_the_loop_does_not_answer_still_gets_the_counters() {
    let m = Metrics::new("hb-listen", Series::CountersAndNodes { per_node: true });
    let started = std::time::Instant::now();
    let text = m.encode().unwrap();
    assert!(started.elapsed() >= nodes::SCRAPE_WAIT);
    assert!(has(&text, "hb_received_total 0"), "{text}");
    assert!(!text.contains("hb_node_up"), "{text}");
}

/// An f32 reading is exported as the decimal it was read as: 39.4 % is
/// `0.394`, not `0.39400001525878906` (the f32 widened) nor
/// `0.39399999999999996` (f64 arithmetic).
#[test]
fn f32_readings_export_as_their_shortest_decimal() {
    for tenths in 0..=1000u16 {
        let pct = f32::from(tenths) / 10.0;
        let ratio = shifted_decimal(pct, -2);
        assert_eq!(ratio, f64::from(tenths) / 1000.0, "{pct}");
    }
    assert_eq!(shifted_decimal(12.345_67, -2).to_string(), "0.1234567");
    assert!(shifted_decimal(f32::NAN, -2).is_nan());

    let m = Metrics::new("hb-listen", Series::CountersAndNodes { per_node: true });
    let mut nodes = NodeSamples::default();
    nodes.push("web-1", record(State::Up, true, (Some(39.4), None)));
    feed(
        &m,
        NodeTable {
            nodes: Arc::new(nodes),
            responders: None,
        },
    );
    let text = m.encode().unwrap();
    assert!(
        has(&text, r#"hb_node_cpu_ratio{node="web-1"} 0.394"#),
        "{text}"
    );
}
