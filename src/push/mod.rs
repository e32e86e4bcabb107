//! Push: servers send heartbeats on their own (`hb-send`), a listener judges
//! their silence (`hb-listen`). The fastest way to notice a failure, at the
//! cost of a datagram per node per interval.
//!
//! The rooms:
//! - [`send`]: hb-send's loop: a beat every interval to every target, on a
//!   cadence that never drifts; with `--ack` it hosts [`crate::ack`]'s
//!   sender side; it answers the probes of a listener that suspects it;
//! - [`listen`]: hb-listen's loop: beats from a socket or from recorded
//!   lines into the [`crate::detector`], verdicts out as events, `status`
//!   lines and the `--state` file; a suspect node that answers is asked
//!   before it is declared down (`--confirm`); in a group it hosts
//!   [`crate::quorum::link`];
//! - [`job`]: `hb-send --run`: a command run as a job under watch, its
//!   start and its end sent, with its next deadline ([`plan`]: that
//!   deadline, stated in every message of a job).

pub mod job;
pub mod listen;
pub mod plan;
pub mod send;
