//! The series of each tracked node, computed when Prometheus scrapes.
//!
//! A beat costs the metrics nothing: the scrape thread asks the tool's
//! loop for its node table ([`Exchange`]), the loop copies each node's
//! few values a slice per turn (so it never stalls the receiving) and
//! hands them over, and the scrape thread encodes the series from them. A node the detector
//! no longer tracks simply has no series in the next scrape.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, SyncSender};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;

use super::shifted_decimal;
use crate::detector::{NodeSamples, State};

/// The states a node that beats takes: one `hb_node_state` series each,
/// so a state left reads 0 instead of vanishing.
pub const NODE_STATES: [&str; 7] = [
    "up", "suspect", "down", "pending", "degraded", "left", "away",
];

/// The states a job takes, and so its `hb_node_state` series.
pub const JOB_STATES: [&str; 4] = ["ok", "running", "failed", "late"];

/// How long a scrape waits for the loop's copy of the node table. The
/// loop looks at least every quarter second; a loop that does not answer
/// in time (stuck writing to a blocked stdout) leaves the node series out
/// of this scrape rather than stalling Prometheus.
pub const SCRAPE_WAIT: Duration = Duration::from_millis(1500);

/// The nodes as the loop copied them for a scrape.
#[derive(Debug, Clone, Default)]
pub struct NodeTable {
    pub nodes: Arc<NodeSamples>,
    /// `hb-poll --every`: the responder's own name of each target (by
    /// target), which labels the target's series as `node` (the target
    /// goes in a `target` label), so that `max by (node)` joins hb-poll's
    /// series with hb-listen's.
    pub responders: Option<HashMap<String, String>>,
}

/// Where a scrape asks for the node table and the loop answers.
#[derive(Debug, Default)]
pub struct Exchange {
    wanted: AtomicBool,
    answer: Mutex<Option<SyncSender<NodeTable>>>,
}

impl Exchange {
    pub(super) fn wanted(&self) -> bool {
        self.wanted.load(Ordering::Acquire)
    }

    pub(super) fn answer(&self, table: NodeTable) {
        self.wanted.store(false, Ordering::Release);
        let waiting = self
            .answer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(tx) = waiting {
            let _ = tx.try_send(table);
        }
    }

    /// Asks the loop for the table and waits for it, at most `wait`.
    fn ask(&self, wait: Duration) -> Option<NodeTable> {
        let (tx, rx) = mpsc::sync_channel(1);
        *self.answer.lock().unwrap_or_else(PoisonError::into_inner) = Some(tx);
        self.wanted.store(true, Ordering::Release);
        let table = rx.recv_timeout(wait).ok();
        self.wanted.store(false, Ordering::Release);
        table
    }
}

/// The prometheus-client collector that encodes the node series.
#[derive(Debug)]
pub(super) struct NodeCollector {
    exchange: Arc<Exchange>,
    /// Series per node too, beside the count of nodes in each state.
    per_node: bool,
}

impl NodeCollector {
    pub(super) fn new(exchange: Arc<Exchange>, per_node: bool) -> Self {
        NodeCollector { exchange, per_node }
    }
}

/// One node's series values.
struct Values<'a> {
    /// Its `node` label, and with hb-poll its `target` label.
    node: &'a str,
    target: Option<&'a str>,
    state: &'static str,
    /// A job: its states are a job's.
    job: bool,
    up: bool,
    last_seen: Option<f64>,
    /// CPU ratio (0 to 1) and available bytes, only while the node is
    /// believed alive: the health of a node that is down is history, not a
    /// reading.
    cpu_ratio: Option<f64>,
    mem_avail: Option<u64>,
    mem_total: Option<u64>,
}

impl Values<'_> {
    /// Its labels, `extra` last; on the stack, as a scrape encodes a few
    /// of them for every node.
    fn labels<'a>(&'a self, extra: Option<(&'static str, &'a str)>) -> Labels<'a> {
        let mut labels = Labels {
            pairs: [("", ""); 3],
            len: 0,
        };
        for pair in [
            Some(("node", self.node)),
            self.target.map(|t| ("target", t)),
            extra,
        ]
        .into_iter()
        .flatten()
        {
            labels.pairs[labels.len] = pair;
            labels.len += 1;
        }
        labels
    }
}

/// A node's label set: `node`, and `target`, `state` when it has them.
struct Labels<'a> {
    pairs: [(&'static str, &'a str); 3],
    len: usize,
}

impl<'a> Labels<'a> {
    fn as_slice(&self) -> &[(&'static str, &'a str)] {
        &self.pairs[..self.len]
    }
}

impl NodeTable {
    /// Each node's series values, worked out as they are encoded: a scrape
    /// of a large fleet keeps no second table of them.
    fn values(&self) -> impl Iterator<Item = Values<'_>> {
        self.nodes.iter().map(|(name, n)| {
            let (node, target) = match &self.responders {
                None => (name, None),
                Some(names) => (names.get(name).map_or(name, |n| n), Some(name)),
            };
            let up = matches!(n.state, State::Up | State::Suspect);
            Values {
                node,
                target,
                state: n.routing_state(),
                job: n.job.is_some(),
                up,
                last_seen: n.last_seen.map(|ms| ms as f64 / 1000.0),
                cpu_ratio: n.cpu_pct.filter(|_| up).map(|pct| shifted_decimal(pct, -2)),
                mem_avail: n.mem_avail.filter(|_| up),
                mem_total: n.mem_total.filter(|_| up),
            }
        })
    }
}

impl Collector for NodeCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), fmt::Error> {
        let Some(table) = self.exchange.ask(SCRAPE_WAIT) else {
            return Ok(());
        };
        let help = "Tracked nodes in each state (hb_node_state summed over the nodes)";
        let mut metric = encoder.encode_descriptor("hb_nodes", help, None, MetricType::Gauge)?;
        for state in NODE_STATES.into_iter().chain(JOB_STATES) {
            let count = table.values().filter(|v| v.state == state).count();
            let labels = [("state", state)];
            ConstGauge::new(count as i64).encode(metric.encode_family(&labels.as_slice())?)?;
        }
        if !self.per_node {
            return Ok(());
        }
        let mut gauge = |name: &str, help: &str, value: &dyn Fn(&Values) -> Option<f64>| {
            let mut metric = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
            for v in table.values() {
                if let Some(x) = value(&v) {
                    ConstGauge::new(x).encode(metric.encode_family(&v.labels(None).as_slice())?)?;
                }
            }
            Ok::<(), fmt::Error>(())
        };
        gauge(
            "hb_node_last_seen_timestamp_seconds",
            "Wall-clock time of the node's last beat or reply",
            &|v| v.last_seen,
        )?;
        gauge(
            "hb_node_cpu_ratio",
            "The node's CPU usage (0 to 1) from its last health report, while it is not down",
            &|v| v.cpu_ratio,
        )?;
        gauge(
            "hb_node_mem_available_bytes",
            "The node's available memory from its last health report, while it is not down",
            &|v| v.mem_avail.map(|b| b as f64),
        )?;
        gauge(
            "hb_node_mem_total_bytes",
            "The node's total memory from its last health report, while it is not down",
            &|v| v.mem_total.map(|b| b as f64),
        )?;
        let help = "1 while hb believes the node alive (up, degraded or suspect), 0 once it is declared down, while it was never seen, and after it left or went away (see hb_node_state)";
        let mut metric = encoder.encode_descriptor("hb_node_up", help, None, MetricType::Gauge)?;
        for v in table.values() {
            ConstGauge::new(i64::from(v.up))
                .encode(metric.encode_family(&v.labels(None).as_slice())?)?;
        }
        let help = "1 for the node's current state, 0 for the others";
        let mut metric =
            encoder.encode_descriptor("hb_node_state", help, None, MetricType::Gauge)?;
        for v in table.values() {
            let states = match v.job {
                true => &JOB_STATES[..],
                false => &NODE_STATES[..],
            };
            for &state in states {
                let labels = v.labels(Some(("state", state)));
                let x = i64::from(state == v.state);
                ConstGauge::new(x).encode(metric.encode_family(&labels.as_slice())?)?;
            }
        }
        Ok(())
    }
}
