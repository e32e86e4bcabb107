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
use crate::checks::CheckResult;
use crate::checks::Checks;
use crate::clock::{duration_ms, wall_ms, Cadence, Clock, Millis, Moment};
use crate::health::Sampler;
use crate::net::unreachable::{self, Unreachable};
use crate::net::{self, Endpoint};
use crate::output::Sink;
use crate::reload::Reload;
use crate::self_watch::{stall_tolerance, SelfWatch};
use crate::text::CUT_MARK;
use crate::wire::{self, Beat, Message};

mod addresses;
mod answer;
mod notice;

use addresses::Addresses;
use answer::Answerer;

/// What one beating session did, for the exit code of `--count`.
#[derive(Debug, Default)]
pub struct Report {
    pub beats: u64,
    /// Beats that did not reach every target: each address of a name
    /// refused one, at once or as the kernel reported (by the next beat,
    /// or by the end: see [`REPORT_WAIT_MS`]); and targets a leave
    /// reached at none.
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

/// Where a datagram went: the addresses it was handed to the network for,
/// and those that refused it at once.
#[derive(Default)]
struct Sends {
    to: Vec<SocketAddr>,
    failed: Vec<Failed>,
}

/// How long a run of `--count` beats to a name of several addresses
/// listens after its last beat for the kernel to refuse it (an ICMP error
/// comes back within a round trip), so that the beat goes on to the name's
/// next address. Where it could go nowhere else the run ends at once, as
/// quick as ever: what the kernel said by then (at once, on this host)
/// still counts.
pub const REPORT_WAIT_MS: Millis = 200;

/// Sends beats on a fixed cadence.
pub struct Beater<W: Write> {
    node: String,
    boot: String,
    every: Millis,
    count: Option<u64>,
    socket: UdpSocket,
    /// The targets' names and addresses, and which ones beats go to.
    addresses: Addresses,
    /// What the kernel reported undeliverable, not yet put down to an
    /// address.
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
        let addrs: Vec<SocketAddr> = targets.iter().flat_map(|t| t.addrs.clone()).collect();
        let (socket, _) = net::sending_socket(&addrs)?;
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
            unreachable: Vec::new(),
            said_cut: false,
            acks: options.ack.map(|cfg| AckedPaths::new(cfg, targets.len())),
            watch: SelfWatch::default(),
            addresses: Addresses::new(targets, |a| net::sent_to(&socket, a)),
            socket,
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
        let mut last_beat = 0;
        let mut receiver = net::Receiver::default();
        let mut reply = Vec::with_capacity(wire::MAX_DATAGRAM);
        while !stop.load(Ordering::Relaxed) {
            let codec = &mut self.codec;
            if let Some(event) = self
                .reload
                .as_ref()
                .and_then(|r| r.files_if_requested(codec))
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
                let addresses = &self.addresses;
                acks.report(&mut self.out, |i| addresses.shown(i), lines)?;
            }
            let done = self.count.is_some_and(|c| report.beats >= c);
            // After its last beat, what the kernel says of it.
            let hearing = Some(last_beat + REPORT_WAIT_MS)
                .filter(|&t| done && self.addresses.several() && clock.now() < t);
            if done && hearing.is_none() && self.acks.as_ref().is_none_or(AckedPaths::settled) {
                break;
            }
            let due = beats.due();
            if !done && clock.now() >= due {
                report.beats += 1;
                self.beat(report.beats, &clock)?;
                last_beat = clock.now();
                beats.advance(last_beat);
                continue;
            }
            // With acks, a reminder or a look at the hooks may be due too.
            let ack_due = self.acks.as_ref().and_then(|acks| {
                let acting = self.out.next_wake().map(Duration::from_millis);
                acks.next_deadline().into_iter().chain(acting).min()
            });
            let wake = [(!done).then_some(due), ack_due.map(ceil_ms), hearing]
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
                targets: self.addresses.all(),
            };
            for (datagram, from) in batch {
                if answerer.answer(&self.socket, datagram, from, &mut reply) {
                    continue;
                }
                if let Some(acks) = &mut self.acks {
                    let target = self.addresses.target_of(from);
                    acks.on_datagram(datagram, target, at, &self.codec, &self.node);
                }
            }
            self.unreachable.extend(receiver.unreachable());
            if !self.unreachable.is_empty() {
                self.fail_over(report.beats, &clock)?;
            }
        }
        // What the kernel said of the last beats: stderr is told, and the
        // beats every address of a name refused are lost.
        self.take_reports();
        self.addresses.close();
        report.failed_sends = self.addresses.lost();
        // Stopped by its operator: its silence from now on is no failure.
        // A sender that never beat has no listener to tell.
        if self.leave && stop.load(Ordering::Relaxed) && report.beats > 0 {
            report.failed_sends += self.say_leave(report.beats)?;
            crate::say!("{} leaves: said so to every target", self.node);
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
                self.out.emit(Moment::new(now, wall_ms()), &line)?;
            }
        }
        Ok(())
    }

    /// Sends beat `seq` to every target.
    fn beat(&mut self, seq: u64, clock: &Clock) -> io::Result<()> {
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

        self.next_round(true);
        let mut sends = Sends::default();
        for i in 0..self.addresses.len() {
            let plan = self.addresses.plan(i);
            self.deliver(i, plan, &mut sends);
            if let Some(acks) = &mut self.acks {
                acks.sent(i, seq, clock.elapsed());
            }
        }
        self.said(clock, seq, sends)
    }

    /// What the kernel reported undeliverable since the last look: the
    /// addresses it refused are out of use, and beat `seq`, the last, goes
    /// at once to the next address of each name that refused it.
    fn fail_over(&mut self, seq: u64, clock: &Clock) -> io::Result<()> {
        self.take_reports();
        let mut sends = Sends::default();
        for i in 0..self.addresses.len() {
            self.deliver(i, Vec::new(), &mut sends);
        }
        match sends.to.is_empty() && sends.failed.is_empty() {
            true => Ok(()),
            false => self.said(clock, seq, sends),
        }
    }

    /// With --verbose, the `sent` line of beat `seq`.
    fn said(&mut self, clock: &Clock, seq: u64, sends: Sends) -> io::Result<()> {
        if !self.verbose {
            return Ok(());
        }
        let sent = Sent {
            node: &self.node,
            seq,
            boot: &self.boot,
            bytes: self.datagram.len(),
            to: sends.to,
            failed: sends.failed,
        };
        self.out.emit(clock.moment(), &sent)
    }

    /// Sends the datagram to target `i` at its addresses `to`, then on to
    /// its next address while each refuses it at once.
    fn deliver(&mut self, i: usize, to: Vec<usize>, sent: &mut Sends) {
        let mut to = to.into_iter();
        while let Some(j) = to.next().or_else(|| self.addresses.fail_over(i)) {
            let (addr, shown) = self.addresses.address(i, j);
            let result = self.send(addr);
            match &result {
                Ok(()) => sent.to.push(shown),
                Err(e) => sent.failed.push(Failed {
                    to: shown,
                    error: e.to_string(),
                }),
            }
            self.addresses.sent(i, j, result.as_ref().err());
        }
    }

    /// Starts a round of datagrams (`counted`: a beat), the kernel's
    /// reports so far put down to the addresses they name.
    fn next_round(&mut self, counted: bool) {
        self.take_reports();
        self.addresses.next_round(counted);
    }

    /// Sends the datagram to `to`. A send may fail with the error the
    /// kernel holds for another address's earlier datagram: then that is
    /// put down to its address and the send tried again.
    fn send(&mut self, to: SocketAddr) -> io::Result<()> {
        match self.socket.send_to(&self.datagram, to) {
            Ok(_) => Ok(()),
            Err(e) if net::is_transient(&e) => {
                let before = self.unreachable.len();
                unreachable::take(&self.socket, &mut self.unreachable);
                if self.unreachable.len() == before {
                    return Err(e);
                }
                self.socket.send_to(&self.datagram, to).map(drop)
            }
            Err(e) => Err(e),
        }
    }

    /// Puts down what the kernel reported undeliverable to the addresses
    /// it was sent to (see [`Addresses`]). Only stderr hears of it: a beat
    /// that left was sent, and whether it arrived is what acks (`--ack`)
    /// prove, since a firewall that drops packets reports nothing.
    fn take_reports(&mut self) {
        unreachable::take(&self.socket, &mut self.unreachable);
        for report in self.unreachable.drain(..) {
            self.addresses.refused(report.to, &report.error);
        }
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

/// A precise monotonic time as the millisecond at or after it, so a wait
/// until it never wakes early.
fn ceil_ms(d: Duration) -> Millis {
    d.as_micros().div_ceil(1000) as Millis
}
