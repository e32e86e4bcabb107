//! Prometheus metrics, served on `GET /metrics` by the web side
//! (`--metrics ADDR`, see [`crate::web`]), so that one
//! Prometheus scrapes many listeners and alerts on node states.
//!
//! The exposition is the Prometheus text format 0.0.4, not OpenMetrics: every
//! Prometheus version scrapes it and `promtool check metrics` validates it.
//! Label values (node names, reasons) are escaped by `prometheus-client`.
//!
//! Counters are updated as things happen (a few atomic operations each).
//! Node series cost nothing per beat: they are computed when Prometheus
//! scrapes, from a copy of the node table that the tool's loop hands over
//! (see [`nodes`]).

pub mod nodes;

use prometheus_client::encoding::prometheus_text;
use prometheus_client::metrics::{counter::Counter, family::Family, info::Info};
use prometheus_client::registry::Registry;
use std::fmt;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use crate::output::{Line, Subscriber};
use crate::wire::Reject;
use nodes::{Exchange, NodeCollector, NodeTable};

/// The event types a tool prints beside the detector's
/// ([`crate::detector::KINDS`]): with those, every type, whose counters
/// start at zero so that `increase()` sees the first one.
const OTHER_EVENT_TYPES: [&str; 8] = [
    "rejected",
    "quorum",
    "no-quorum",
    "observer",
    "reloaded",
    "still-down",
    "hook",
    "hook-overflow",
];

/// Label sets: names are fixed, values are reasons and event types.
type Labels<const N: usize> = [(&'static str, String); N];

/// A tool's metrics. Clones share the same series, so the main loop updates
/// what the web side encodes.
#[derive(Clone, Debug)]
pub struct Metrics(Arc<Inner>);

#[derive(Debug, Default)]
struct Inner {
    registry: Registry,
    received: Counter,
    rejected: Family<Labels<1>, Counter>,
    events: Family<Labels<1>, Counter>,
    answered: Counter,
    stalls: Counter,
    stalled: Counter<f64, AtomicU64>,
    dropped: Counter,
    /// Where scrapes ask the loop for the node table (tools that track
    /// nodes only).
    nodes: Option<Arc<Exchange>>,
}

/// Which series a tool exports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Series {
    /// Counters only (hb-ack).
    Counters,
    /// Counters, the count of tracked nodes in each state, and with
    /// `per_node` a set of series per node (hb-listen, `hb-poll --every`).
    CountersAndNodes { per_node: bool },
}

impl Metrics {
    /// Metrics of `tool` ("hb-listen", ...), named in `hb_build_info` so that
    /// dashboards tell the tools and versions apart.
    pub fn new(tool: &str, series: Series) -> Self {
        let mut m = Inner::default();
        let r = &mut m.registry;
        let version = env!("CARGO_PKG_VERSION").to_owned();
        let build = [("tool", tool.to_owned()), ("version", version)];
        r.register("hb_build", "The tool and its version", Info::new(build));
        // One name for every tool: hb-listen counts beats and views, hb-ack
        // beats and probes, as the `received` field of their `status` lines.
        let received = "Messages accepted (the status line's received)";
        r.register("hb_received", received, m.received.clone());
        let rejected = "Messages refused, by reason (the status line's rejected)";
        r.register("hb_rejected", rejected, m.rejected.clone());
        let events = "Event lines printed, by type";
        r.register("hb_events", events, m.events.clone());
        let stalls = "Times the tool's loop was not running for longer than it tolerates (a stopped process, a starved CPU)";
        r.register("hb_observer_stalls", stalls, m.stalls.clone());
        let stalled = "Time the tool's loop was not running, in those stalls";
        r.register("hb_observer_stalled_seconds", stalled, m.stalled.clone());
        let dropped =
            "Datagrams the tool's socket dropped for want of room (beats lost at the observer)";
        r.register("hb_observer_dropped", dropped, m.dropped.clone());
        for reason in Reject::ALL {
            let _ = m
                .rejected
                .get_or_create(&[("reason", reason.as_str().to_owned())]);
        }
        for kind in crate::detector::KINDS.into_iter().chain(OTHER_EVENT_TYPES) {
            let _ = m.events.get_or_create(&[("type", kind.to_owned())]);
        }
        match series {
            Series::Counters => {
                let answered = "Probes answered (hb-ack), relayed ones included";
                r.register("hb_probes_answered", answered, m.answered.clone());
            }
            Series::CountersAndNodes { per_node } => {
                let exchange = Arc::new(Exchange::default());
                let collector = NodeCollector::new(Arc::clone(&exchange), per_node);
                r.register_collector(Box::new(collector));
                m.nodes = Some(exchange);
            }
        }
        Self(Arc::new(m))
    }

    /// A message was accepted.
    pub fn received(&self) {
        self.0.received.inc();
    }

    /// `n` messages were accepted (a poll round's replies).
    pub fn received_many(&self, n: u64) {
        self.0.received.inc_by(n);
    }

    /// A message was refused for `reason`.
    pub fn rejected(&self, reason: &str) {
        let labels = [("reason", reason.to_owned())];
        self.0.rejected.get_or_create(&labels).inc();
    }

    /// An event line of type `kind` was printed.
    pub fn event(&self, kind: &str) {
        self.0
            .events
            .get_or_create(&[("type", kind.to_owned())])
            .inc();
    }

    /// The tool's loop was not running for `stall_ms`.
    pub fn stalled(&self, stall_ms: u64) {
        self.0.stalls.inc();
        self.0.stalled.inc_by(stall_ms as f64 / 1000.0);
    }

    /// The tool's socket dropped `n` datagrams for want of room.
    pub fn dropped(&self, n: u64) {
        self.0.dropped.inc_by(n);
    }

    /// A probe was answered.
    pub fn answered(&self) {
        self.0.answered.inc();
    }

    /// Whether a scrape waits for the node table: the loop that owns it
    /// then copies it (a slice at a time) and hands it over with
    /// [`Metrics::answer_nodes`]. One atomic load: cheap on every turn.
    pub fn nodes_wanted(&self) -> bool {
        self.0.nodes.as_ref().is_some_and(|e| e.wanted())
    }

    /// Hands the node table to the waiting scrape, if one still waits.
    pub fn answer_nodes(&self, table: NodeTable) {
        if let Some(exchange) = &self.0.nodes {
            exchange.answer(table);
        }
    }

    /// The exposition, in the Prometheus text format 0.0.4. Public for the
    /// fuzz targets (`fuzz/`), which check that any node name gives an
    /// exposition that parses.
    pub fn encode(&self) -> Result<String, fmt::Error> {
        let mut text = String::new();
        prometheus_text::encode(&mut text, &self.0.registry)?;
        Ok(text)
    }
}

/// `x`, an `f32` reading, times 10^`exp`, as the `f64` nearest to that
/// decimal: the shortest decimal that gives `x` back (`39.4`) shifted, so
/// that a scrape shows `0.394`, not the f32's binary value widened
/// (`0.39400001525878906`) nor f64 arithmetic's `0.39399999999999996`.
/// On the stack: a scrape does this for every node.
fn shifted_decimal(x: f32, exp: i32) -> f64 {
    use std::io::Write;
    // f32's Display never uses an exponent: 47 bytes at most (the least
    // subnormal), "e-NN" after it.
    let mut buf = [0u8; 64];
    let mut rest = &mut buf[..];
    if write!(rest, "{x}e{exp}").is_err() {
        return f64::from(x) * 10f64.powi(exp);
    }
    let len = 64 - rest.len();
    std::str::from_utf8(&buf[..len])
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(f64::from(x) * 10f64.powi(exp))
}

/// Every line printed is counted by its type.
impl Subscriber for Metrics {
    fn take(&mut self, line: &Line<'_>) {
        self.event(line.kind);
    }
}

#[cfg(test)]
mod tests;
