//! hb: heartbeats and health checks for distributed systems.
//!
//! The binaries (`hb-send`, `hb-listen`, ...) are thin: they parse flags and
//! wire these pieces together.
//!
//! - [`wire`]: the datagram format (messages, codec).
//! - [`detector`]: turns beats and time into up/suspect/down verdicts.
//! - [`health`]: CPU, memory and load readings carried in beats.
//! - [`output`]: NDJSON events on stdout.
//! - [`net`]: addresses and UDP sockets.
//! - [`clock`]: monotonic milliseconds for deadlines.
//! - [`send`], [`listen`]: the loops of the push tools.
//! - [`cli`]: what every binary does the same way (flags, exit codes, signals).

pub mod cli;
pub mod clock;
pub mod detector;
pub mod health;
pub mod listen;
pub mod net;
pub mod output;
pub mod send;
pub mod wire;
