//! Heartbeats with acknowledgement: `hb-send --ack` beats to `hb-ack`, which
//! acknowledges each beat, so both ends know the other is alive and the
//! path works in both directions, at twice the traffic.

pub mod tracker;
