//! The push sender behind `hb-send`: a beat every interval, to every target.

use std::io::{self, Write};
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde::Serialize;
use serde_json::value::{to_raw_value, RawValue};

use crate::clock::{duration_ms, Clock, Millis};
use crate::health::Sampler;
use crate::net;
use crate::output::{wall_ms, Output};
use crate::wire::{self, Beat, Message};

/// Where beats go.
pub struct Target {
    /// As the user named it, for messages.
    pub name: String,
    pub addr: SocketAddr,
}

/// What one beating session did, for the exit code of `--count`.
#[derive(Debug, Default)]
pub struct Report {
    pub beats: u64,
    /// Sends that failed (one beat to one target).
    pub failed_sends: u64,
}

/// The `sent` line of `--verbose`.
#[derive(Serialize)]
#[serde(tag = "type", rename = "sent")]
struct Sent<'a> {
    node: &'a str,
    seq: u64,
    boot: &'a str,
    bytes: usize,
    to: Vec<SocketAddr>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    failed: Vec<Failed>,
}

#[derive(Serialize)]
struct Failed {
    to: SocketAddr,
    error: String,
}

/// Sends beats on a fixed cadence.
pub struct Beater<W: Write> {
    node: String,
    boot: String,
    every: Millis,
    targets: Vec<Target>,
    socket: UdpSocket,
    /// What the socket sends to, one per target (IPv4-mapped on a
    /// dual-stack socket).
    send_to: Vec<SocketAddr>,
    /// Targets whose last send failed, so a warning is printed once per
    /// outage rather than once per beat.
    failing: Vec<bool>,
    health: Option<Sampler>,
    verbose: Option<Output<W>>,
    datagram: Vec<u8>,
}

impl<W: Write> Beater<W> {
    /// `verbose`: where `sent` events go, if anywhere.
    pub fn new(
        node: String,
        every: Duration,
        targets: Vec<Target>,
        health: Option<Sampler>,
        verbose: Option<Output<W>>,
    ) -> io::Result<Self> {
        let addrs: Vec<SocketAddr> = targets.iter().map(|t| t.addr).collect();
        let (socket, send_to) = net::sending_socket(&addrs)?;
        Ok(Beater {
            node,
            boot: wire::new_boot_id(),
            every: duration_ms(every),
            failing: vec![false; targets.len()],
            targets,
            socket,
            send_to,
            health,
            verbose,
            datagram: Vec::with_capacity(wire::MAX_DATAGRAM),
        })
    }

    /// Beats until `count` beats were sent (forever if None) or `stop` is
    /// set. Beat k is due k intervals after the start on the monotonic
    /// clock, so the cadence never drifts by the time a send takes; after
    /// a stall (a suspended process) missed slots are skipped, not burst.
    pub fn run(&mut self, count: Option<u64>, stop: &AtomicBool) -> io::Result<Report> {
        let clock = Clock::new();
        let mut report = Report::default();
        let mut slot: u64 = 0;
        // Datagrams sent back to us are not for this tool; receiving them
        // just keeps the wait interruptible.
        let mut discard = [0u8; 64];
        while !stop.load(Ordering::Relaxed) {
            let due = slot.saturating_mul(self.every);
            if clock.now() < due {
                net::recv_within(&self.socket, &mut discard, clock.until(due))?;
                continue;
            }
            report.beats += 1;
            report.failed_sends += self.beat(report.beats)?;
            if count.is_some_and(|c| report.beats >= c) {
                break;
            }
            slot = next_slot(slot, clock.now(), self.every);
        }
        Ok(report)
    }

    /// Sends beat `seq` to every target; returns how many sends failed.
    fn beat(&mut self, seq: u64) -> io::Result<u64> {
        let health: Option<Box<RawValue>> = match &mut self.health {
            Some(sampler) => Some(to_raw_value(&sampler.sample()).map_err(io::Error::other)?),
            None => None,
        };
        let beat = Beat {
            node: self.node.as_str().into(),
            seq: Some(seq),
            boot: Some(self.boot.as_str().into()),
            every_ms: Some(self.every),
            ts_ms: Some(wall_ms()),
            health: health.as_deref(),
            ack: false,
        };
        wire::encode(&Message::Beat(beat), &mut self.datagram).map_err(io::Error::other)?;

        let mut sent_to = Vec::new();
        let mut failed = Vec::new();
        for (i, target) in self.targets.iter().enumerate() {
            match self.socket.send_to(&self.datagram, self.send_to[i]) {
                Ok(_) => {
                    if std::mem::take(&mut self.failing[i]) {
                        eprintln!("hb-send: {}: sending again", target.name);
                    }
                    sent_to.push(target.addr);
                }
                Err(e) => {
                    if !std::mem::replace(&mut self.failing[i], true) {
                        eprintln!(
                            "hb-send: warning: {} ({}): {e}; still beating",
                            target.name, target.addr
                        );
                    }
                    failed.push(Failed {
                        to: target.addr,
                        error: e.to_string(),
                    });
                }
            }
        }
        let failures = failed.len() as u64;
        if let Some(out) = &mut self.verbose {
            let sent = Sent {
                node: &self.node,
                seq,
                boot: &self.boot,
                bytes: self.datagram.len(),
                to: sent_to,
                failed,
            };
            out.emit(wall_ms(), &sent)?;
        }
        Ok(failures)
    }
}

/// The slot after `slot` (slot k is due at k * `every`), skipping slots
/// that have already passed at `now` so a stalled sender resumes on the
/// grid instead of sending a burst.
fn next_slot(slot: u64, now: Millis, every: Millis) -> u64 {
    (slot + 1).max(now / every + 1)
}

#[cfg(test)]
mod tests {
    use super::next_slot;

    #[test]
    fn cadence_stays_on_the_grid() {
        // A send that took 30 ms does not push the next beat back.
        assert_eq!(next_slot(0, 30, 100), 1);
        assert_eq!(next_slot(7, 730, 100), 8);
        // A 1 s stall: resume at the next slot, not with 9 beats at once.
        assert_eq!(next_slot(3, 1350, 100), 14);
        // Exactly on a slot boundary after a stall: that slot was just used.
        assert_eq!(next_slot(3, 1400, 100), 15);
    }
}
