//! Heartbeats with quorum: several observers (`hb-listen --peer`) share
//! their views, and a node is declared down or up only when a quorum of
//! them agree, so one observer's bad link is no false alarm.

//!
//! - [`group`]: the votes and verdicts, pure (time is passed in);
//! - [`view`]: an observer's view as `view` datagrams;
//! - [`link`]: views sent to and received from the peers, and nodes judged
//!   again as votes change, driven by hb-listen's loop.

pub mod group;
pub mod link;
pub mod view;

pub use group::{majority, Config, Group, GroupEvent, Local};
pub use link::{GroupLink, Membership};
