//! The responder behind `hb-ack`: answers probes ("are you alive?") with a
//! reply carrying health, and relays probes for a poller that cannot reach
//! a target itself (SWIM's ping-req). Beats that arrive on the same socket
//! are the acknowledgement approach's: see [`crate::ack::answer`].

use std::borrow::Cow;
use std::collections::HashMap;
use std::io::{self, Write};
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::value::{to_raw_value, RawValue};

use crate::ack::answer::Acknowledger;
use crate::auth::REQUEST_LEN;
use crate::checks::fit::fit;
use crate::checks::{CheckResult, Checks};
use crate::clock::{wall_ms, Cadence, Clock, Millis, Moment};
use crate::health::{Background, Health};
use crate::intake::{Counters, Intake};
use crate::net;
use crate::output::Sink;
use crate::reload::Reload;
use crate::text::CUT_MARK;
use crate::wire::{self, Message, Probe, Reject, Reply};

/// What the responder prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verbosity {
    /// Nothing on stdout.
    Quiet,
    /// One line per beat received.
    Beats,
    /// Beats, and the probes answered.
    Verbose,
}

/// A received message as printed: the message (`type` first), then where
/// it came from. A beat's own `ts_ms` (the sender's clock) is dropped, so
/// the line's `ts_ms` is unambiguously the receive time.
#[derive(Serialize)]
struct Received<'a> {
    #[serde(flatten)]
    msg: Message<'a>,
    from: SocketAddr,
}

/// The `status` line of hb-ack: what it received and refused.
#[derive(Serialize)]
#[serde(tag = "type", rename = "status")]
struct Status<'a> {
    #[serde(flatten)]
    counters: &'a Counters,
    relaying: usize,
}

/// How long a relayed probe's reply is awaited: longer than any sensible
/// poll timeout, short enough that abandoned requests do not pile up.
const RELAY_TTL: Duration = Duration::from_secs(10);
/// Relayed probes awaiting a reply, at most: a flood of relay requests
/// cannot grow memory without bound.
const MAX_RELAYED: usize = 4096;

/// A probe sent on a poller's behalf.
struct Relayed {
    requester: SocketAddr,
    /// The poller's nonce, for the forwarded reply.
    nonce: u64,
    /// The request's size: the forwarded reply may not exceed it unsigned.
    asked_len: usize,
    expires: Instant,
}

/// How a responder treats what it receives.
pub struct Options {
    pub verbosity: Verbosity,
    /// Replies carry its latest reading; None leaves health out.
    pub health: Option<Background>,
    /// Plugin checks whose latest results replies carry.
    pub checks: Option<Checks>,
    /// With a key: how far a new boot's clock may be from ours.
    pub max_skew_ms: u64,
    /// Senders whose last beat is remembered (replay protection), at most.
    pub max_nodes: usize,
    pub status_every: Option<Millis>,
    /// SIGHUP: the key file is read again.
    pub reload: Option<Reload>,
}

/// Answers on one socket.
pub struct Responder<W: Write> {
    socket: UdpSocket,
    node: String,
    boot: String,
    out: Sink<W>,
    intake: Intake,
    opts: Options,
    /// Acknowledges the beats that ask for it.
    acks: Acknowledger,
    datagram: Vec<u8>,
    /// The request being read, without its padding.
    unpadded: Vec<u8>,
    /// Relayed probes by the nonce this responder sent them with.
    relayed: HashMap<u64, Relayed>,
    /// Whether stderr was told that replies are cut to fit.
    said_cut: bool,
    /// The last health reading replies carried, encoded (see [`encoded`]).
    health: Option<(Health, Box<RawValue>)>,
}

impl<W: Write> Responder<W> {
    pub fn new(
        socket: UdpSocket,
        node: String,
        out: Sink<W>,
        intake: Intake,
        opts: Options,
    ) -> Self {
        Responder {
            acks: Acknowledger::new(node.clone(), opts.max_nodes, opts.max_skew_ms),
            socket,
            node,
            boot: wire::new_boot_id(),
            out,
            intake,
            opts,
            datagram: Vec::with_capacity(wire::MAX_DATAGRAM),
            unpadded: Vec::with_capacity(wire::MAX_DATAGRAM),
            relayed: HashMap::new(),
            said_cut: false,
            health: None,
        }
    }

    /// Answers until `stop` is set or output fails.
    pub fn run(&mut self, stop: &AtomicBool) -> io::Result<()> {
        let clock = Clock::new();
        let mut status = self
            .opts
            .status_every
            .map(|every| Cadence::new(every, every));
        let mut receiver = net::Receiver::default();
        while !stop.load(Ordering::Relaxed) {
            let now = clock.now();
            if let Some(cadence) = status.as_mut().filter(|c| c.due() <= now) {
                cadence.advance(now);
                let status = Status {
                    counters: &self.intake.counters,
                    relaying: self.relayed.len(),
                };
                self.out.emit_report(Moment::new(now, wall_ms()), &status)?;
            }
            let wait = status.map_or(net::STOP_CHECK, |c| clock.until(c.due()));
            let batch = receiver.recv(&self.socket, wait)?;
            let now = clock.now();
            for (datagram, from) in batch {
                self.take(datagram, from, now)?;
            }
            self.intake.send_answers(&self.socket);
            let codec = &mut self.intake.codec;
            if let Some(event) = self
                .opts
                .reload
                .as_ref()
                .and_then(|r| r.files_if_requested(codec))
            {
                self.out.emit(Moment::new(now, wall_ms()), &event)?;
            }
            if !self.intake.pending.is_empty() {
                let at = Moment::new(now, wall_ms());
                for line in self.intake.pending.drain(..) {
                    self.out.emit(at, &line)?;
                }
            }
        }
        Ok(())
    }

    /// Handles one datagram from `from`, received at `now`: what [`run`]
    /// does with each. Public for the fuzz targets (`fuzz/`), which drive
    /// the responder one datagram at a time and check that nothing it
    /// sends is larger than the request that asked for it.
    ///
    /// [`run`]: Responder::run
    pub fn handle(&mut self, datagram: &[u8], from: SocketAddr, now: Millis) -> io::Result<()> {
        self.take(datagram, from, now)?;
        self.intake.send_answers(&self.socket);
        Ok(())
    }

    /// Handles one datagram of a batch; its answer goes with the batch's.
    fn take(&mut self, datagram: &[u8], from: SocketAddr, now: Millis) -> io::Result<()> {
        let mut scratch = std::mem::take(&mut self.unpadded);
        let taken = match self.intake.open_request(datagram, &mut scratch, from, now) {
            Some(msg) => self.take_message(msg, datagram.len(), from, now),
            None => Ok(()),
        };
        self.unpadded = scratch;
        taken
    }

    /// Handles one message, `len` bytes as it came (its padding counts:
    /// no answer is larger than its request).
    fn take_message(
        &mut self,
        msg: Message<'_>,
        len: usize,
        from: SocketAddr,
        now: Millis,
    ) -> io::Result<()> {
        match msg {
            Message::Beat(mut beat) => {
                let acked = self.acks.on_beat(&beat, len, from, &mut self.intake, now);
                if let Err(why) = acked {
                    self.intake.reject(why, Some(from), now);
                    return Ok(());
                }
                if self.opts.verbosity != Verbosity::Quiet {
                    beat.ts_ms = None;
                    let line = Received {
                        msg: Message::Beat(beat),
                        from,
                    };
                    self.out.emit(Moment::new(now, wall_ms()), &line)?;
                }
            }
            Message::Probe(probe) => {
                self.intake.accepted();
                match probe.target {
                    // The relayed probe is padded like any request: a
                    // smaller request would make this responder send more
                    // than it was sent.
                    Some(_) if len < REQUEST_LEN => {
                        self.intake.reject(Reject::Amplification, Some(from), now)
                    }
                    Some(target) => self.relay(probe.nonce, target, from, len, now)?,
                    None => self.answer(probe.nonce, from, len, now)?,
                }
                if self.opts.verbosity == Verbosity::Verbose {
                    let line = Received {
                        msg: Message::Probe(probe),
                        from,
                    };
                    self.out.emit(Moment::new(now, wall_ms()), &line)?;
                }
            }
            Message::Reply(mut reply) => {
                // The answer to a probe relayed for a poller: pass it on.
                match self.relayed.remove(&reply.nonce) {
                    Some(r) => {
                        self.intake.accepted();
                        reply.nonce = r.nonce;
                        reply.via = Some(self.node.as_str().into());
                        let (to, limit) = (r.requester, r.asked_len);
                        let cut =
                            send_reply(&mut self.intake, &mut self.datagram, reply, to, limit, now);
                        if let Some(cut) = cut {
                            cut.say_once(&mut self.said_cut);
                        }
                    }
                    None => self.intake.reject(Reject::UnexpectedType, Some(from), now),
                }
            }
            // A sender's leave and away are for the listeners that judge
            // it (hb-listen); hb-ack only acknowledges beats.
            Message::Ack(_)
            | Message::View(_)
            | Message::Leave(_)
            | Message::Away(_)
            | Message::Start(_)
            | Message::Done(_) => self.intake.reject(Reject::UnexpectedType, Some(from), now),
        }
        Ok(())
    }

    /// Replies to a probe with this node's name, boot id, health and
    /// checks, cut to fit the probe that asked (see [`send_reply`]).
    fn answer(
        &mut self,
        nonce: u64,
        to: SocketAddr,
        asked_len: usize,
        now: Millis,
    ) -> io::Result<()> {
        let latest = self.opts.health.as_ref().and_then(Background::latest);
        let health = match latest {
            Some(h) => Some(Cow::Borrowed(encoded(&mut self.health, h)?)),
            None => None,
        };
        let reply = Reply {
            node: self.node.as_str().into(),
            nonce,
            boot: Some(self.boot.as_str().into()),
            ts_ms: Some(wall_ms()),
            health,
            via: None,
            checks: self.opts.checks.as_ref().map(Checks::latest),
        };
        let cut = send_reply(
            &mut self.intake,
            &mut self.datagram,
            reply,
            to,
            asked_len,
            now,
        );
        if let Some(cut) = cut {
            cut.say_once(&mut self.said_cut);
        }
        Ok(())
    }

    /// Probes `target` for `requester`; its reply is forwarded when it
    /// comes (nothing is sent if it does not: the poller times out). A
    /// relayed probe larger than the request is not sent (`amplification`).
    fn relay(
        &mut self,
        nonce: u64,
        target: SocketAddr,
        requester: SocketAddr,
        asked_len: usize,
        received: Millis,
    ) -> io::Result<()> {
        let now = Instant::now();
        self.relayed.retain(|_, r| r.expires > now);
        if self.relayed.len() >= MAX_RELAYED {
            return Ok(());
        }
        let ours = getrandom::u64().map_err(io::Error::other)?;
        self.relayed.insert(
            ours,
            Relayed {
                requester,
                nonce,
                asked_len,
                expires: now + RELAY_TTL,
            },
        );
        let probe = Message::Probe(Probe {
            node: self.node.as_str().into(),
            nonce: ours,
            target: None,
        });
        // A dual-stack socket reaches IPv4 targets by their mapped form.
        let to = net::sent_to(&self.socket, target);
        let encoded = self.intake.codec.encode_request(&probe, &mut self.datagram);
        // A padded request has room for a probe, unless this responder's
        // name is long (and escaped on the wire): then the probe would be
        // larger than what asked for it.
        if encoded.is_err() || self.datagram.len() > asked_len {
            self.relayed.remove(&ours);
            let why = Reject::Amplification;
            self.intake.reject(why, Some(requester), received);
            return Ok(());
        }
        // Best effort: a target that is gone is what the poller learns.
        let _ = self.socket.send_to(&self.datagram, to);
        Ok(())
    }
}

/// `health` as replies carry it, kept in `last` with the reading it
/// encodes: encoded once per reading rather than once per probe, since a
/// round of thousands of probes shares one reading.
fn encoded(last: &mut Option<(Health, Box<RawValue>)>, health: Health) -> io::Result<&RawValue> {
    if last.as_ref().is_none_or(|(was, _)| *was != health) {
        let raw = to_raw_value(&health).map_err(io::Error::other)?;
        *last = Some((health, raw));
    }
    Ok(&last.as_ref().expect("just encoded").1)
}

/// Sends a reply within the size of the request that asked for it: whole
/// if it fits, else with its checks' output cut, health and checks left
/// out as [`fit`] says (never the worst status); counted as refused
/// (`amplification`) if not even that fits. Returns what was cut, if
/// anything.
fn send_reply(
    intake: &mut Intake,
    datagram: &mut Vec<u8>,
    reply: Reply<'_>,
    to: SocketAddr,
    asked_len: usize,
    now: Millis,
) -> Option<Cut> {
    let whole = Message::Reply(reply.clone());
    if intake.answer(datagram, &whole, to, asked_len) {
        if let Some(m) = &intake.metrics {
            m.answered();
        }
        return None;
    }
    let all = reply.checks.clone().unwrap_or_default();
    let shaped = |health: bool, checks: &[CheckResult]| Reply {
        health: reply.health.clone().filter(|_| health),
        checks: reply.checks.as_ref().map(|_| checks.to_vec()),
        ..reply.clone()
    };
    let codec = &intake.codec;
    let fitted = fit(&all, |health, checks| {
        let msg = Message::Reply(shaped(health, checks));
        codec.encode(&msg, datagram).is_ok() && datagram.len() <= asked_len
    });
    let Some(fitted) = fitted else {
        intake.reject(Reject::Amplification, Some(to), now);
        return None;
    };
    let msg = Message::Reply(shaped(fitted.health, &fitted.checks));
    if intake.answer(datagram, &msg, to, asked_len) {
        if let Some(m) = &intake.metrics {
            m.answered();
        }
    }
    Some(Cut {
        room: asked_len,
        health: reply.health.is_some() && !fitted.health,
        left_out: all.len() - fitted.checks.len(),
    })
}

/// What a reply lost to fit its request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Cut {
    /// The request's size, which the reply may not exceed.
    room: usize,
    health: bool,
    /// Checks left out.
    left_out: usize,
}

impl Cut {
    /// Says on stderr, once per responder, that replies are being cut.
    fn say_once(self, said: &mut bool) {
        if std::mem::replace(said, true) {
            return;
        }
        let health = if self.health { ", health left out" } else { "" };
        let checks = match self.left_out {
            0 => String::new(),
            n => format!(", {n} checks left out (the least severe)"),
        };
        crate::say!(
            "warning: a reply did not fit the {} bytes of its probe: check output cut (ends with {CUT_MARK}){health}{checks}; said once",
            self.room
        );
    }
}

#[cfg(test)]
mod tests;
