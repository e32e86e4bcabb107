//! Pull: one monitor asks every server "are you alive?" (`hb-poll`) and the
//! servers answer (`hb-ack`). Less traffic than push and one clear view of
//! the fleet, but failures are seen only as often as the monitor asks.
//!
//! The rooms:
//! - [`targets`]: the targets as named, each polled once, and where their
//!   probes go;
//! - [`probe`]: one round of probes ([`probe::Prober`]): nonces, waves,
//!   retries, relays (`--via`), TCP connect checks;
//! - [`window`]: how many of a round's probes are in flight at once;
//! - [`verdict`]: a round judged against Nagios thresholds, and the plugin
//!   line of `--format nagios`;
//! - [`lines`]: a round as `poll` and `summary` JSON lines;
//! - [`watch`]: `hb-poll --every`, rounds fed into the failure detector;
//! - [`respond`]: the responder behind `hb-ack`;
//! - [`agent`]: `hb-ack --haproxy-agent`, the node's health in HAProxy's
//!   agent-check words, so the balancer pulls it too.

pub mod agent;
pub mod lines;
pub mod probe;
pub mod respond;
pub mod targets;
pub mod verdict;
pub mod watch;
pub mod window;
