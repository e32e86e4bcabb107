//! hb: heartbeats and health checks for distributed systems.
//!
//! The binaries (`hb-send`, `hb-listen`, ...) are thin: they parse flags and
//! wire these pieces together.
//!
//! - [`wire`]: the datagram format (messages, codec).
//! - [`auth`]: HMAC keys and replay protection.
//! - [`detector`]: turns beats and time into up/suspect/down verdicts.
//! - [`health`]: CPU, memory and load readings carried in beats.
//! - [`checks`]: plugin checks (any command, any Nagios plugin) in beats and replies.
//! - [`intake`]: what receivers check, count and log before a message counts.
//! - [`output`]: NDJSON events on stdout.
//! - [`metrics`]: Prometheus metrics over HTTP (`--metrics`).
//! - [`net`]: addresses and UDP sockets.
//! - [`clock`]: monotonic milliseconds for deadlines.
//! - [`nagios`]: threshold ranges, states and perfdata of Nagios plugins.
//! - [`acks`]: heartbeats with acknowledgement, the sender's side.
//! - [`quorum`]: observers agreeing before a verdict.
//! - [`send`], [`listen`]: the loops of the push tools.
//! - [`poll`], [`respond`]: the pull tools (`hb-poll` asks, `hb-ack` answers).
//! - [`cli`]: what every binary does the same way (flags, exit codes, signals).

pub mod ack;
pub mod auth;
pub mod checks;
pub mod cli;
pub mod clock;
pub mod detector;
pub mod health;
pub mod intake;
pub mod metrics;
pub mod nagios;
pub mod net;
pub mod output;
pub mod phi;
pub mod pull;
pub mod push;
pub mod quorum;
pub mod replay;
pub mod wire;
