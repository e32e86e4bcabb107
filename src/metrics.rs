//! Prometheus metrics on `GET /metrics` (`--metrics ADDR`), so that one
//! Prometheus scrapes many listeners and alerts on node states.
//!
//! The exposition is the Prometheus text format 0.0.4, not OpenMetrics: every
//! Prometheus version scrapes it and `promtool check metrics` validates it.
//! Label values (node names, reasons) are escaped by `prometheus-client`.

use prometheus_client::encoding::prometheus_text;
use prometheus_client::metrics::{counter::Counter, family::Family, gauge::Gauge, info::Info};
use prometheus_client::registry::Registry;
use serde_json::value::RawValue;
use std::fmt;
use std::io::{self, Cursor};
use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::thread;
use tiny_http::{Header, Method, Response, Server};

use crate::detector::{Detector, Event};
use crate::health::Health;

/// Every state [`Metrics::node_state`] takes: each node gets one
/// `hb_node_state` series per state, so a state left reads 0 instead of vanishing.
const STATES: [&str; 5] = ["up", "suspect", "down", "pending", "degraded"];

type FloatGauge = Gauge<f64, AtomicU64>;

/// Label sets: names are fixed, values are node names, reasons, event types.
type Labels<const N: usize> = [(&'static str, String); N];

/// A tool's metrics. Clones share the same series, so the main loop updates
/// what the server thread encodes; every update is a few atomic operations.
#[derive(Clone, Debug)]
pub struct Metrics(Arc<Inner>);

#[derive(Debug, Default)]
struct Inner {
    registry: Registry,
    last_seen: Family<Labels<1>, FloatGauge>,
    up: Family<Labels<1>, Gauge>,
    state: Family<Labels<2>, Gauge>,
    cpu: Family<Labels<1>, FloatGauge>,
    mem_avail: Family<Labels<1>, Gauge<u64, AtomicU64>>,
    received: Counter,
    rejected: Family<Labels<1>, Counter>,
    events: Family<Labels<1>, Counter>,
}

impl Metrics {
    /// Metrics of `tool` ("hb-listen", ...), named in `hb_build_info` so that
    /// dashboards tell the tools and versions apart.
    pub fn new(tool: &str) -> Self {
        let mut m = Inner::default();
        let r = &mut m.registry;
        let version = env!("CARGO_PKG_VERSION").to_owned();
        let build = [("tool", tool.to_owned()), ("version", version)];
        r.register("hb_build", "The tool and its version", Info::new(build));
        let seen = "Wall-clock time of the node's last beat or reply, seconds since the epoch";
        r.register("hb_node_last_seen_seconds", seen, m.last_seen.clone());
        let up = "1 when the node can take requests (up or degraded), else 0";
        r.register("hb_node_up", up, m.up.clone());
        let state = "1 for the node's current state, 0 for the others";
        r.register("hb_node_state", state, m.state.clone());
        let cpu = "The node's CPU usage in percent, from its last health report";
        r.register("hb_node_cpu_percent", cpu, m.cpu.clone());
        let mem = "The node's available memory in bytes, from its last health report";
        r.register("hb_node_mem_available_bytes", mem, m.mem_avail.clone());
        // One name for every tool: hb-listen counts beats and views, hb-ack
        // beats and probes, as the `received` field of their `status` lines.
        let received = "Messages accepted (the status line's received)";
        r.register("hb_received", received, m.received.clone());
        let rejected = "Messages refused, by reason (the status line's rejected)";
        r.register("hb_rejected", rejected, m.rejected.clone());
        let events = "Event lines printed, by type";
        r.register("hb_events", events, m.events.clone());
        Self(Arc::new(m))
    }

    /// A beat or reply from `node` arrived at `wall_ms` (ms since the epoch).
    pub fn node_seen(&self, node: &str, wall_ms: u64) {
        let secs = wall_ms as f64 / 1000.0;
        self.0.last_seen.get_or_create(&node_labels(node)).set(secs);
    }

    /// `node` is now in `state`: one of "up", "suspect", "down", "pending", "degraded".
    pub fn node_state(&self, node: &str, state: &str) {
        debug_assert!(STATES.contains(&state), "unknown node state {state:?}");
        let up = matches!(state, "up" | "degraded");
        self.0.up.get_or_create(&node_labels(node)).set(up.into());
        for s in STATES {
            let [node] = node_labels(node);
            let labels = [node, ("state", s.to_owned())];
            self.0.state.get_or_create(&labels).set((s == state).into());
        }
    }

    /// `node`'s last health report; a reading it did not send keeps its old value.
    pub fn node_health(&self, node: &str, cpu_pct: Option<f64>, mem_avail_bytes: Option<u64>) {
        if let Some(cpu) = cpu_pct {
            self.0.cpu.get_or_create(&node_labels(node)).set(cpu);
        }
        if let Some(mem) = mem_avail_bytes {
            self.0.mem_avail.get_or_create(&node_labels(node)).set(mem);
        }
    }

    /// A beat (or an answered probe) from `node` at `wall_ms`, with the
    /// health it carried: hb's health object; anything else is ignored.
    pub fn node_beat(&self, node: &str, wall_ms: u64, health: Option<&RawValue>) {
        self.node_seen(node, wall_ms);
        let health: Option<Health> = health.and_then(|h| serde_json::from_str(h.get()).ok());
        if let Some(h) = health {
            self.node_health(node, h.cpu_pct.map(f64::from), Some(h.mem_avail));
        }
    }

    /// Every node the detector's `events` name, in the state it is in now
    /// (a `beat` event changes no state).
    pub fn node_states(&self, detector: &Detector, events: &[Event]) {
        for event in events.iter().filter(|e| !matches!(e, Event::Beat { .. })) {
            if let Some(state) = detector.routing_state(event.node()) {
                self.node_state(event.node(), state);
            }
        }
    }

    /// A message was accepted.
    pub fn received(&self) {
        self.0.received.inc();
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

    /// The exposition, in the Prometheus text format 0.0.4. Public for the
    /// fuzz targets (`fuzz/`), which check that any node name gives an
    /// exposition that parses.
    pub fn encode(&self) -> Result<String, fmt::Error> {
        let mut text = String::new();
        prometheus_text::encode(&mut text, &self.0.registry)?;
        Ok(text)
    }

    /// The `GET /metrics` answer: the exposition, or 500 if it cannot be encoded.
    fn response(&self) -> Response<Cursor<Vec<u8>>> {
        match self.encode() {
            Ok(text) => Response::from_string(text).with_header(
                Header::from_bytes("Content-Type", prometheus_text::CONTENT_TYPE)
                    .expect("the content type is ASCII"),
            ),
            Err(_) => Response::from_string("cannot encode metrics\n").with_status_code(500),
        }
    }
}

fn node_labels(name: &str) -> Labels<1> {
    [("node", name.to_owned())]
}

/// Serves `metrics` on `GET /metrics` at `addr` (port 0: any free port) from a
/// detached "hb-metrics" thread that lives as long as the process; returns
/// the bound address, to print. `HEAD` works too; every other path is 404.
///
/// # Errors
///
/// When `addr` cannot be bound (in use, not a local address).
pub fn serve(metrics: Metrics, addr: SocketAddr) -> io::Result<SocketAddr> {
    let server = Server::http(addr).map_err(io::Error::other)?;
    let bound = server
        .server_addr()
        .to_ip()
        .expect("bound to an IP address");
    thread::Builder::new()
        .name("hb-metrics".into())
        .spawn(move || {
            for request in server.incoming_requests() {
                let path = request.url().split('?').next().unwrap_or_default();
                let response = match (request.method(), path) {
                    (Method::Get | Method::Head, "/metrics") => metrics.response(),
                    _ => Response::from_string("not found\n").with_status_code(404),
                };
                // A scraper that hung up gets no answer; the next one will.
                let _ = request.respond(response);
            }
        })?;
    Ok(bound)
}

#[cfg(test)]
mod tests;
