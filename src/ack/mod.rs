//! Heartbeats with acknowledgement: `hb-send --ack` beats to `hb-ack`, which
//! acknowledges each beat, so both ends know the other is alive and the
//! path works in both directions, at twice the traffic.

//!
//! - [`tracker`]: the sender's bookkeeping, pure: which beats were
//!   acknowledged, and whether the path to each receiver is up;
//! - [`sender`]: `hb-send --ack`'s side on the wire: acks matched to beats,
//!   and the `ack`, `up` and `down` lines about each path;
//! - [`answer`]: hb-ack's side: beats acknowledged, never amplified.

pub mod answer;
pub mod sender;
pub mod tracker;

/// What `hb-send --ack` is told: how each path is judged, and what is done
/// about the lines printed (hooks, reminders).
pub struct Config {
    pub judging: tracker::Config,
    pub actions: crate::hooks::Actions,
}
