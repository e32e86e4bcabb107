//! Pull: one monitor asks every server "are you alive?" (`hb-poll`) and the
//! servers answer (`hb-ack`). Less traffic than push and one clear view of
//! the fleet, but failures are seen only as often as the monitor asks.

pub mod poll;
pub mod respond;
