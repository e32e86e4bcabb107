//! The push sender behind `hb-send`: a beat every interval, to every target,
//! and with `--ack`, the acks that come back (see [`crate::ack`]); and what
//! a sender says of itself: that it is alive when a listener suspects it
//! and asks (`answer`), that it stops on purpose (`leave`, when stopped by
//! a signal), that it will be away for a while (`away`), or that its job
//! starts and ends (`start`, `done`: see [`super::job`]).

use std::io::{self, Write};
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde::Serialize;
use serde_json::value::{to_raw_value, RawValue};

use super::plan::Plan;
use crate::ack;
use crate::ack::sender::{AckedPaths, Lines};
use crate::auth::Codec;
use crate::checks::fit::fit;
use crate::checks::Checks;
use crate::checks::{CheckResult, CUT_MARK};
use crate::clock::{duration_ms, wall_ms, Cadence, Clock, Millis, Moment};
use crate::health::Sampler;
use crate::net::unreachable::{self, Unreachable};
use crate::net::{self, Endpoint};
use crate::output::Sink;
use crate::reload::Reload;
use crate::self_watch::{stall_tolerance, SelfWatch};
use crate::wire::{self, Beat, Message};

mod answer;
mod notice;

use answer::Answerer;

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
    /// Stopped by a signal, say `leave` to every target before returning.
    pub leave: bool,
    /// SIGHUP: the key file is read again.
    pub reload: Option<Reload>,
    /// A job's schedule: each beat states when the next is due.
    pub job: Option<Plan>,
}

impl Options {
    /// A sender that sends notices only (`away`, a job's `start` and
    /// `done`): no beats' health, checks, acks, leave or reload.
    pub fn notices_only(every: Duration, broadcast: bool, codec: Codec) -> Self {
        Options {
            every,
            count: None,
            health: None,
            verbose: false,
            broadcast,
            codec,
            checks: None,
            ack: None,
            leave: false,
            reload: None,
            job: None,
        }
    }
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
    /// Per target: whether its last beat left without an error (and so
    /// arrived, unless the kernel reports it undeliverable later).
    left: Vec<bool>,
    /// What the kernel reported undeliverable, not yet put down to a target.
    unreachable: Vec<Unreachable>,
    /// Whether stderr was told that beats are cut to fit.
    said_cut: bool,
    health: Option<Sampler>,
    /// Where its lines go (with `--ack`, hooks and reminders too).
    out: Sink<W>,
    verbose: bool,
    /// With `--ack`: the path to each target, judged by its acks.
    acks: Option<AckedPaths>,
    /// The sender's watch over its own stalls.
    watch: SelfWatch,
    codec: Codec,
    reload: Option<Reload>,
    checks: Option<Checks>,
    datagram: Vec<u8>,
    leave: bool,
    job: Option<Plan>,
}

impl<W: Write> Beater<W> {
    pub fn new(
        node: String,
        targets: Vec<Endpoint>,
        mut options: Options,
        mut out: Sink<W>,
    ) -> io::Result<Self> {
        // Every address of every name decides the socket's family.
        let addrs: Vec<SocketAddr> = targets
            .iter()
            .flat_map(|t| std::iter::once(t.addr).chain(t.others.iter().copied()))
            .collect();
        let (socket, _) = net::sending_socket(&addrs)?;
        let send_to = targets
            .iter()
            .map(|t| net::sent_to(&socket, t.addr))
            .collect();
        // The kernel refuses broadcast without it, which guards against a
        // typo flooding a subnet.
        socket.set_broadcast(options.broadcast)?;
        // A closed port or an unreachable host is reported, per target.
        unreachable::report(&socket)?;
        if let Some(ack) = &mut options.ack {
            out.subscribe(Box::new(std::mem::take(&mut ack.actions)));
        }
        Ok(Beater {
            node,
            boot: wire::new_boot_id(),
            every: duration_ms(options.every),
            count: options.count,
            outages: (0..targets.len()).map(|_| Outage::default()).collect(),
            left: vec![false; targets.len()],
            unreachable: Vec::new(),
            said_cut: false,
            acks: options.ack.map(|cfg| AckedPaths::new(cfg, targets.len())),
            watch: SelfWatch::default(),
            targets,
            socket,
            send_to,
            health: options.health,
            out,
            verbose: options.verbose,
            codec: options.codec,
            reload: options.reload,
            checks: options.checks,
            datagram: Vec::with_capacity(wire::MAX_DATAGRAM),
            leave: options.leave,
            job: options.job,
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
        let mut reply = Vec::with_capacity(wire::MAX_DATAGRAM);
        while !stop.load(Ordering::Relaxed) {
            let codec = &mut self.codec;
            if let Some(event) = self
                .reload
                .as_ref()
                .and_then(|r| r.keys_if_requested(codec))
            {
                self.out.emit(clock.moment(), &event)?;
            }
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
            // With acks, a reminder or a look at the hooks may be due too.
            let ack_due = self.acks.as_ref().and_then(|acks| {
                let acting = self.out.next_wake().map(Duration::from_millis);
                acks.next_deadline().into_iter().chain(acting).min()
            });
            let wake = [(!done).then_some(due), ack_due.map(ceil_ms)]
                .into_iter()
                .flatten()
                .min();
            let wait = wake
                .map_or(net::STOP_CHECK, |at| clock.until(at))
                .min(net::STOP_CHECK);
            self.note_stall(clock.now(), Some(duration_ms(wait)))?;
            // Probes of a listener that suspects this node, and with --ack
            // the acks; receiving keeps the wait interruptible by signals.
            let batch = receiver.recv(&self.socket, wait)?;
            let at = clock.elapsed();
            self.note_stall(clock.now(), None)?;
            let answerer = Answerer {
                node: &self.node,
                boot: &self.boot,
                codec: &self.codec,
                targets: &self.send_to,
            };
            for (datagram, from) in batch {
                if answerer.answer(&self.socket, datagram, from, &mut reply) {
                    continue;
                }
                if let Some(acks) = &mut self.acks {
                    acks.on_datagram(datagram, from, at, &self.codec, &self.node, &self.send_to);
                }
            }
            self.unreachable.extend(receiver.unreachable());
        }
        // Stopped by its operator: its silence from now on is no failure.
        // A sender that never beat has no listener to tell.
        if self.leave && stop.load(Ordering::Relaxed) && report.beats > 0 {
            report.failed_sends += self.say_leave(report.beats)?;
        }
        // What the kernel said of the last beats, for stderr.
        self.settle();
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
                self.out.emit(Moment::new(now, wall_ms()), &line)?;
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
            // A sender that stops after --count beats, or a job's, is gone
            // between its runs: it is judged as it always was (silence, or
            // the job's own deadline).
            answers: self.count.is_none() && self.job.is_none(),
            checks: self.checks.as_ref().map(Checks::latest),
            due: self.job.as_ref().and_then(|job| job.due_after(wall_ms())),
        };
        encode(&self.codec, &mut self.datagram, &mut self.said_cut, beat)?;

        self.settle();
        let mut failures = 0;
        let mut sent_to = Vec::new();
        let mut failed = Vec::new();
        for i in 0..self.targets.len() {
            match self.send(i) {
                Ok(()) => {
                    self.left[i] = true;
                    sent_to.push(self.targets[i].addr);
                }
                Err(e) => {
                    failures += 1;
                    failed.push(Failed {
                        to: self.targets[i].addr,
                        error: e.to_string(),
                    });
                    self.failed(i, &e);
                }
            }
            if let Some(acks) = &mut self.acks {
                acks.sent(i, seq, clock.elapsed());
            }
        }
        if self.verbose {
            let sent = Sent {
                node: &self.node,
                seq,
                boot: &self.boot,
                bytes: self.datagram.len(),
                to: sent_to,
                failed,
            };
            self.out.emit(clock.moment(), &sent)?;
        }
        Ok(failures)
    }

    /// Sends the datagram to target `i`. A send may fail with the error the
    /// kernel holds for another target's earlier datagram: then that is put
    /// down to its target and the send tried again.
    fn send(&mut self, i: usize) -> io::Result<()> {
        match self.socket.send_to(&self.datagram, self.send_to[i]) {
            Ok(_) => Ok(()),
            Err(e) if net::is_transient(&e) => {
                let before = self.unreachable.len();
                unreachable::take(&self.socket, &mut self.unreachable);
                if self.unreachable.len() == before {
                    return Err(e);
                }
                self.socket
                    .send_to(&self.datagram, self.send_to[i])
                    .map(drop)
            }
            Err(e) => Err(e),
        }
    }

    /// Puts down what the kernel reported undeliverable to the targets
    /// it was sent to; a target that sent its last beat without a report
    /// since is reachable. Only stderr hears of it: a beat that left was
    /// sent, and whether it arrived is what acks (`--ack`) prove, since a
    /// firewall that drops packets reports nothing.
    fn settle(&mut self) {
        unreachable::take(&self.socket, &mut self.unreachable);
        let reports = std::mem::take(&mut self.unreachable);
        for i in 0..self.targets.len() {
            let to = self.send_to[i];
            let report = reports.iter().find(|u| {
                u.to.ip().to_canonical() == to.ip().to_canonical() && u.to.port() == to.port()
            });
            match report {
                Some(u) => self.failed(i, &u.error),
                None if self.left[i] => self.outages[i].reached(&self.targets[i]),
                None => {}
            }
        }
    }

    /// Target `i` cannot be reached at its address: stderr is told (see
    /// [`Outage`]) and its name's next address, if any, is tried next.
    fn failed(&mut self, i: usize, e: &io::Error) {
        self.left[i] = false;
        let target = &mut self.targets[i];
        let tried = target.addr;
        let next = target.next_address();
        self.outages[i].failed(&target.name, tried, e, next);
        self.send_to[i] = net::sent_to(&self.socket, target.addr);
    }
}

/// Encodes `beat` into `datagram`, its checks cut to fit as
/// [`fit`] says (never the worst status), which stderr is told once.
fn encode(
    codec: &Codec,
    datagram: &mut Vec<u8>,
    said_cut: &mut bool,
    beat: Beat<'_>,
) -> io::Result<()> {
    let whole = Message::Beat(beat.clone());
    if codec.encode(&whole, datagram).is_ok() {
        return Ok(());
    }
    let all = beat.checks.clone().unwrap_or_default();
    let shaped = |health: bool, checks: &[CheckResult]| Beat {
        health: beat.health.filter(|_| health),
        checks: beat.checks.as_ref().map(|_| checks.to_vec()),
        ..beat.clone()
    };
    let fitted = fit(&all, |health, checks| {
        codec
            .encode(&Message::Beat(shaped(health, checks)), datagram)
            .is_ok()
    });
    let Some(fitted) = fitted else {
        return Err(io::Error::other(format!(
            "a beat of node '{}' does not fit one datagram even without its checks' output",
            beat.node
        )));
    };
    codec
        .encode(
            &Message::Beat(shaped(fitted.health, &fitted.checks)),
            datagram,
        )
        .map_err(io::Error::other)?;
    if !std::mem::replace(said_cut, true) {
        let health = if beat.health.is_some() && !fitted.health {
            ", health left out"
        } else {
            ""
        };
        let checks = match all.len() - fitted.checks.len() {
            0 => String::new(),
            n => format!(", {n} checks left out (the least severe)"),
        };
        crate::say!(
            "warning: a beat did not fit one datagram: check output cut (ends with {CUT_MARK}){health}{checks}; said once"
        );
    }
    Ok(())
}

/// How often at most a target's failing sends are reported on stderr: a
/// firewall that drops some packets must not flood the log.
const WARN_EVERY: Duration = Duration::from_secs(60);

/// What stderr has been told about one target's failed sends: a warning
/// when sending starts failing (at most once per [`WARN_EVERY`], with how
/// many failures went unreported), and a notice when a beat arrives again.
#[derive(Debug, Default)]
struct Outage {
    failing: bool,
    warned: bool,
    last_warning: Option<std::time::Instant>,
    unreported: u64,
}

impl Outage {
    /// A beat to `name` at `addr` failed with `e`; `next` is the address
    /// tried from now on, if the name has another.
    fn failed(&mut self, name: &str, addr: SocketAddr, e: &io::Error, next: Option<SocketAddr>) {
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
        let then = match next {
            Some(next) => format!("trying its next address, {next}"),
            None => "still beating".to_owned(),
        };
        crate::say!("warning: {name} ({addr}): {e}; {then}{also}");
        self.last_warning = Some(std::time::Instant::now());
    }

    /// A beat left for `target` and no failure was reported for it.
    fn reached(&mut self, target: &Endpoint) {
        if std::mem::take(&mut self.failing) && std::mem::take(&mut self.warned) {
            crate::say!("{} ({}): sending again", target.name, target.addr);
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
