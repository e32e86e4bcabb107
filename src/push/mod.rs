//! Push: servers send heartbeats on their own (`hb-send`), a listener judges
//! their silence (`hb-listen`). The fastest way to notice a failure, at the
//! cost of a datagram per node per interval.

pub mod listen;
pub mod send;
