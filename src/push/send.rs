//! The push sender behind `hb-send`: a beat every interval, to every target,
//! and with `--ack`, the acks that come back (see [`crate::ack`]).

use std::io::{self, Write};
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde::Serialize;
use serde_json::value::{to_raw_value, RawValue};

use crate::ack;
use crate::ack::sender::{AckedPaths, Lines};
use crate::auth::Codec;
use crate::checks::Checks;
use crate::clock::{duration_ms, Cadence, Clock, Millis};
use crate::health::Sampler;
use crate::net::{self, Endpoint};
use crate::observer::{stall_tolerance, SelfWatch};
use crate::output::{wall_ms, Output};
use crate::wire::{self, Beat, Message};

/// What one beating session did, for the exit code of `--count`.
#[derive(Debug, Default)]
pub struct Report {
    pub beats: u64,
    /// Sends that failed (one beat to one target).
    pub failed_sends: u64,
    /// With acks: per target (by index), beats not acknowledged in time.
    pub unacked: Vec<u64>,
}

/// How a [`Beater`] beats and what it prints.
pub struct Options {
    pub every: Duration,
    /// Send this many beats, then stop (after their acks, with `ack`).
    pub count: Option<u64>,
    /// Health to carry in each beat.
    pub health: Option<Sampler>,
    /// Print a `sent` line per beat and an `ack` line per ack.
    pub verbose: bool,
    /// Allow sending to broadcast addresses.
    pub broadcast: bool,
    /// Signs beats, verifies acks.
    pub codec: Codec,
    /// Plugin checks whose latest results each beat carries.
    pub checks: Option<Checks>,
    /// Ask for acks and judge the path to each target by them.
    pub ack: Option<ack::Config>,
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
    count: Option<u64>,
    targets: Vec<Endpoint>,
    socket: UdpSocket,
    /// What the socket sends to, one per target (IPv4-mapped on a
    /// dual-stack socket); acks are matched against it.
    send_to: Vec<SocketAddr>,
    /// Per target: what stderr has been told about failed sends.
    outages: Vec<Outage>,
    health: Option<Sampler>,
    out: Output<W>,
    verbose: bool,
    /// With `--ack`: the path to each target, judged by its acks.
    acks: Option<AckedPaths>,
    /// The sender's watch over its own stalls.
    watch: SelfWatch,
    codec: Codec,
    checks: Option<Checks>,
    datagram: Vec<u8>,
}

impl<W: Write> Beater<W> {
    pub fn new(
        node: String,
        targets: Vec<Endpoint>,
        options: Options,
        out: Output<W>,
    ) -> io::Result<Self> {
        let addrs: Vec<SocketAddr> = targets.iter().map(|t| t.addr).collect();
        let (socket, send_to) = net::sending_socket(&addrs)?;
        // The kernel refuses broadcast without it, which guards against a
        // typo flooding a subnet.
        socket.set_broadcast(options.broadcast)?;
        Ok(Beater {
            node,
            boot: wire::new_boot_id(),
            every: duration_ms(options.every),
            count: options.count,
            outages: (0..targets.len()).map(|_| Outage::default()).collect(),
            acks: options.ack.map(|cfg| AckedPaths::new(cfg, targets.len())),
            watch: SelfWatch::default(),
            targets,
            socket,
            send_to,
            health: options.health,
            out,
            verbose: options.verbose,
            codec: options.codec,
            checks: options.checks,
            datagram: Vec::with_capacity(wire::MAX_DATAGRAM),
        })
    }

    /// Beats until `count` beats were sent (and, with acks, acknowledged or
    /// timed out), or forever, or until `stop` is set. Beat k is due k
    /// intervals after the start on the monotonic clock, so the cadence
    /// never drifts by the time a send takes; after a stall (a suspended
    /// process) missed slots are skipped, not burst.
    pub fn run(&mut self, stop: &AtomicBool) -> io::Result<Report> {
        let clock = Clock::new();
        let mut report = Report::default();
        let mut beats = Cadence::new(0, self.every);
        let mut receiver = net::Receiver::default();
        while !stop.load(Ordering::Relaxed) {
            if let Some(acks) = &mut self.acks {
                acks.expire(clock.elapsed());
                // Transitions always while beating forever (a cron run with
                // --count stays quiet unless --verbose), each ack with --verbose.
                let lines = Lines {
                    transitions: self.count.is_none() || self.verbose,
                    acks: self.verbose,
                };
                acks.report(&mut self.out, &self.targets, lines)?;
            }
            let done = self.count.is_some_and(|c| report.beats >= c);
            if done && self.acks.as_ref().is_none_or(AckedPaths::settled) {
                break;
            }
            let due = beats.due();
            if !done && clock.now() >= due {
                report.beats += 1;
                report.failed_sends += self.beat(report.beats, &clock)?;
                beats.advance(clock.now());
                continue;
            }
            let ack_due = self.acks.as_ref().and_then(AckedPaths::next_deadline);
            let wake = [(!done).then_some(due), ack_due.map(ceil_ms)]
                .into_iter()
                .flatten()
                .min();
            let wait = wake
                .map_or(net::STOP_CHECK, |at| clock.until(at))
                .min(net::STOP_CHECK);
            self.note_stall(clock.now(), Some(duration_ms(wait)))?;
            // Without --ack nothing should come back; receiving anyway keeps
            // the wait interruptible by signals.
            let batch = receiver.recv(&self.socket, wait)?;
            let at = clock.elapsed();
            self.note_stall(clock.now(), None)?;
            for (datagram, from) in batch {
                if let Some(acks) = &mut self.acks {
                    acks.on_datagram(datagram, from, at, &self.codec, &self.node, &self.send_to);
                }
            }
        }
        if let Some(acks) = &self.acks {
            report.unacked = acks.unacked();
        }
        Ok(report)
    }

    /// A sender that was not running (stopped, starved) could not read
    /// the acks that came meanwhile: with --ack, they get the stall's time
    /// too, and an `observer` line says so wherever transitions are printed.
    /// Called before a wait of `wait_ms` (`Some`) and after it (`None`).
    fn note_stall(&mut self, now: Millis, wait_ms: Option<Millis>) -> io::Result<()> {
        let Some(acks) = &mut self.acks else {
            return Ok(());
        };
        let tolerance = stall_tolerance(Some(self.every));
        let mut said = Vec::new();
        let stall = match wait_ms {
            Some(wait) => self.watch.waiting(now, wait, tolerance, &mut said),
            None => self.watch.back(now, tolerance, &mut said),
        };
        if let Some(stall) = stall {
            acks.stalled(Duration::from_millis(stall));
        }
        if self.count.is_none() || self.verbose {
            for line in said {
                self.out.emit(wall_ms(), &line)?;
            }
        }
        Ok(())
    }

    /// Sends beat `seq` to every target; returns how many sends failed.
    fn beat(&mut self, seq: u64, clock: &Clock) -> io::Result<u64> {
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
            ack: self.acks.is_some(),
            checks: self.checks.as_ref().map(Checks::latest),
        };
        if self
            .codec
            .encode(&Message::Beat(beat.clone()), &mut self.datagram)
            .is_err()
        {
            // Too much check output for one datagram: the statuses matter
            // more than the text.
            let mut beat = beat;
            for check in beat.checks.iter_mut().flatten() {
                check.output.clear();
            }
            self.codec
                .encode(&Message::Beat(beat), &mut self.datagram)
                .map_err(io::Error::other)?;
        }

        let mut sent_to = Vec::new();
        let mut failed = Vec::new();
        for (i, target) in self.targets.iter().enumerate() {
            match self.socket.send_to(&self.datagram, self.send_to[i]) {
                Ok(_) => {
                    self.outages[i].sent(&target.name);
                    sent_to.push(target.addr);
                }
                Err(e) => {
                    self.outages[i].failed(target, &e);
                    failed.push(Failed {
                        to: target.addr,
                        error: e.to_string(),
                    });
                }
            }
            if let Some(acks) = &mut self.acks {
                acks.sent(i, seq, clock.elapsed());
            }
        }
        let failures = failed.len() as u64;
        if self.verbose {
            let sent = Sent {
                node: &self.node,
                seq,
                boot: &self.boot,
                bytes: self.datagram.len(),
                to: sent_to,
                failed,
            };
            self.out.emit(wall_ms(), &sent)?;
        }
        Ok(failures)
    }
}

/// How often at most a target's failing sends are reported on stderr: a
/// firewall that drops some packets must not flood the log.
const WARN_EVERY: Duration = Duration::from_secs(60);

/// What stderr has been told about one target's failed sends: a warning
/// when sending starts failing (at most once per [`WARN_EVERY`], with how
/// many failures went unreported), and a notice when it works again.
#[derive(Debug, Default)]
struct Outage {
    failing: bool,
    warned: bool,
    last_warning: Option<std::time::Instant>,
    unreported: u64,
}

impl Outage {
    fn failed(&mut self, target: &Endpoint, e: &io::Error) {
        if self.failing {
            self.unreported += 1;
            return;
        }
        self.failing = true;
        self.warned = self.last_warning.is_none_or(|t| t.elapsed() >= WARN_EVERY);
        if !self.warned {
            self.unreported += 1;
            return;
        }
        let also = match std::mem::take(&mut self.unreported) {
            0 => String::new(),
            n => format!(" ({n} failed sends not reported since the last warning)"),
        };
        eprintln!(
            "hb-send: warning: {} ({}): {e}; still beating{also}",
            target.name, target.addr
        );
        self.last_warning = Some(std::time::Instant::now());
    }

    fn sent(&mut self, name: &str) {
        if std::mem::take(&mut self.failing) && std::mem::take(&mut self.warned) {
            eprintln!("hb-send: {name}: sending again");
        }
    }
}

/// A precise monotonic time as the millisecond at or after it, so a wait
/// until it never wakes early.
fn ceil_ms(d: Duration) -> Millis {
    d.as_micros().div_ceil(1000) as Millis
}

#[cfg(test)]
mod tests;
