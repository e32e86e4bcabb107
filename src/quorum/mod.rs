//! Heartbeats with quorum: several observers (`hb-listen --peer`) share
//! their views, and a node is declared down or up only when a quorum of
//! them agree, so one observer's bad link is no false alarm.

mod group;

pub use group::{majority, Config, Group, GroupEvent, Local};
