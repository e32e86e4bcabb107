//! Probing for `hb-poll`: one socket asks every target "are you alive?" at
//! once, matches replies by nonce, retries the silent ones, asks the relays
//! given with `--via` about those still silent, and checks `tcp://` targets
//! with a TCP connect.

use std::borrow::Cow;
use std::io;
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use compact_str::CompactString;
use hashbrown::HashMap;
use serde_json::value::RawValue;

use crate::auth::Codec;
use crate::checks::CheckResult;
use crate::net;
use crate::reload::{Reload, Reloaded};
use crate::wire::{self, Message, Nonces, Probe, ProbeHead};

use super::targets::{probed_addrs, resolve, Resolved, SendTo};
pub use super::targets::{Check, ReadTargets, Target};
use super::window::{pacing_allowance, Window, PACE_WAIT, SEND_BATCH};

/// What one round found out about one target. Its names are kept inline
/// when short (a target's `ADDRESS:PORT`, a boot id, most node names):
/// three allocations a target were a tenth of a large round.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub target: CompactString,
    pub addr: Option<SocketAddr>,
    /// The responder's own name (probes only).
    pub node: Option<CompactString>,
    pub boot: Option<CompactString>,
    /// Round-trip time of the answered attempt; `Some` exactly when up.
    pub rtt: Option<Duration>,
    /// When the answer came; `Some` exactly when up.
    pub answered: Option<Instant>,
    pub attempts: u32,
    pub health: Option<Box<RawValue>>,
    pub error: Option<String>,
    /// The relay whose probe got the answer, when the direct ones failed.
    pub via: Option<String>,
    /// The reply's plugin checks (`hb-ack --check`).
    pub checks: Option<Vec<CheckResult>>,
}

impl Outcome {
    pub fn is_up(&self) -> bool {
        self.rtt.is_some()
    }
}

/// Polls a set of targets, one round at a time.
pub struct Prober {
    /// Set by SIGINT/SIGTERM: a round in progress stops waiting.
    stop: Arc<AtomicBool>,
    node: String,
    /// Direct probes, all from `node`, encoded as far as the nonce.
    head: ProbeHead,
    targets: Vec<Resolved>,
    timeout: Duration,
    retries: u32,
    socket: UdpSocket,
    /// Where the socket sends each target's probes: every address of its
    /// name (IPv4-mapped on a dual-stack socket); none for TCP and
    /// unresolved targets.
    send_to: SendTo,
    /// hb-ack relays asked to probe a target the direct probes did not
    /// reach: as named, and where the socket sends to them.
    relays: Vec<(String, SocketAddr)>,
    codec: Codec,
    /// SIGHUP, while polling on (`--every`): the key file is read again,
    /// and the targets when they come from a file.
    reload: Option<(Reload, Option<ReadTargets>)>,
    /// Replies dropped by sockets this one replaced (see
    /// [`Prober::dropped`]).
    dropped_before: u32,
    datagram: Vec<u8>,
    /// Probes encoded and not sent yet, sent a batch at a time.
    outbox: net::Outbox,
    /// What each probe of the outbox asks: its nonce, for which target,
    /// through which relay (None: direct).
    queued: Vec<(u64, usize, Option<usize>)>,
    /// The probes of the current attempt in flight.
    window: Window,
    nonces: Nonces,
    receiver: net::Receiver,
}

/// The probes awaiting their replies, by nonce. The nonces are drawn by
/// this poller, not chosen by a stranger: a fast hash will do.
type Outstanding = HashMap<u64, Awaited>;

/// A probe awaiting its reply.
#[derive(Debug, Clone, Copy)]
struct Awaited {
    /// For which target.
    target: usize,
    sent: Instant,
    /// Through which relay (None: direct).
    relay: Option<usize>,
    /// The window's epoch it was sent in (see [`Window::answered`]).
    epoch: u32,
}

impl Prober {
    /// Resolves the targets (a name that does not resolve makes its target
    /// down with the error, not the whole poll fail). `relays`
    /// (hb-ack addresses, already resolved) are asked to probe the targets
    /// that do not answer directly.
    pub fn new(
        node: String,
        targets: Vec<Target>,
        relays: Vec<(String, SocketAddr)>,
        timeout: Duration,
        retries: u32,
        codec: Codec,
    ) -> io::Result<Self> {
        let targets = resolve(targets);
        let mut addrs = probed_addrs(&targets);
        addrs.extend(relays.iter().map(|(_, a)| *a));
        let (socket, _) = net::sending_socket(&addrs)?;
        let relays = relays
            .into_iter()
            .map(|(name, addr)| (name, net::sent_to(&socket, addr)))
            .collect();
        let send_to = SendTo::new(socket.local_addr()?, &targets);
        Ok(Prober {
            stop: Arc::new(AtomicBool::new(false)),
            head: ProbeHead::new(&node),
            node,
            targets,
            timeout,
            retries,
            socket,
            send_to,
            relays,
            codec,
            reload: None,
            dropped_before: 0,
            datagram: Vec::with_capacity(wire::MAX_DATAGRAM),
            outbox: net::Outbox::default(),
            queued: Vec::new(),
            window: Window::default(),
            nonces: Nonces::new()?,
            receiver: net::Receiver::default(),
        })
    }

    /// Rounds stop waiting for replies once `stop` is set.
    pub fn stop_on(&mut self, stop: Arc<AtomicBool>) {
        self.stop = stop;
    }

    /// Reads the key file again when `reload` asks (see
    /// [`Prober::reloaded`]), and with `targets` the targets too.
    pub fn reload_on(&mut self, reload: Reload, targets: Option<ReadTargets>) {
        self.reload = Some((reload, targets));
    }

    /// When a reload was asked for: the key file read again, the targets
    /// too when they come from a file (see [`Prober::retarget`]), and the
    /// `reloaded` event that says so, with the targets added and removed.
    /// Targets that cannot be read are kept as they were.
    pub fn reloaded(&mut self) -> Option<Reloaded> {
        let (reload, read) = self.reload.as_mut().filter(|(r, _)| r.requested())?;
        let reload = reload.clone();
        let read = read.as_mut().map(|read| read());
        let event = reload.files(&mut self.codec);
        let Some(read) = read else {
            return Some(event);
        };
        let mut names: Vec<String> = self.targets().map(|t| t.name.to_string()).collect();
        let read = read.and_then(|targets| {
            self.retarget(targets)
                .context("opening an IPv6 socket for the new targets")?;
            Ok(self.targets().map(|t| t.name.to_string()).collect())
        });
        let change = reload.list(&mut names, read, "the targets as they were");
        Some(event.with_targets(change))
    }

    /// Polls `targets` from now on, in place of the current ones: their
    /// names are resolved again (a name that does not resolve makes its
    /// target down with the error, as at the start). A poller whose socket
    /// is IPv4 only opens a dual-stack one if a new target needs IPv6;
    /// on failure nothing changes.
    pub fn retarget(&mut self, targets: Vec<Target>) -> io::Result<()> {
        let targets = resolve(targets);
        let mut addrs = probed_addrs(&targets);
        addrs.extend(self.relays.iter().map(|(_, a)| *a));
        let ipv4_only = self.socket.local_addr()?.is_ipv4();
        if ipv4_only && addrs.iter().any(SocketAddr::is_ipv6) {
            let (socket, _) = net::sending_socket(&addrs)?;
            for (_, addr) in &mut self.relays {
                *addr = net::sent_to(&socket, *addr);
            }
            self.dropped_before = self.dropped().unwrap_or(0);
            self.socket = socket;
            self.receiver = net::Receiver::default();
        }
        self.send_to = SendTo::new(self.socket.local_addr()?, &targets);
        self.targets = targets;
        Ok(())
    }

    pub fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    pub fn targets(&self) -> impl Iterator<Item = &Target> {
        self.targets.iter().map(|r| &r.target)
    }

    /// One round: every target checked concurrently, silent ones retried
    /// up to `retries` times, each attempt waiting `timeout`. A round costs
    /// about one round trip when all answer, plus the timeouts of the dead.
    pub fn round(&mut self) -> io::Result<Vec<Outcome>> {
        let mut outcomes: Vec<Outcome> = self
            .targets
            .iter()
            .map(|r| Outcome {
                target: r.target.name.clone(),
                addr: r.addr(),
                node: None,
                boot: None,
                rtt: None,
                answered: None,
                attempts: 0,
                health: None,
                error: r.addrs.as_ref().err().cloned(),
                via: None,
                checks: None,
            })
            .collect();
        let (timeout, tries) = (self.timeout, self.retries + 1);
        std::thread::scope(|scope| -> io::Result<()> {
            let tcp: Vec<_> = self
                .targets
                .iter()
                .enumerate()
                .filter(|(_, r)| matches!(r.target.check, Check::Tcp(_)))
                .filter_map(|(i, r)| Some((i, r.addrs.clone().ok()?)))
                .map(|(i, addrs)| {
                    let handle = std::thread::Builder::new()
                        .stack_size(64 << 10)
                        .spawn_scoped(scope, move || tcp_connect(&addrs, timeout, tries))?;
                    Ok((i, handle))
                })
                .collect::<io::Result<_>>()?;
            self.probe_waves(&mut outcomes)?;
            for (i, handle) in tcp {
                let (up, attempts, error) = handle.join().expect("tcp check thread panicked");
                let o = &mut outcomes[i];
                (o.rtt, o.answered) = (up.map(|c| c.0), up.map(|c| c.1));
                (o.attempts, o.error) = (attempts, error);
            }
            Ok(())
        })?;
        Ok(outcomes)
    }

    /// UDP probes in waves: all pending targets, then wait for replies;
    /// the silent ones again, up to `retries` more times; then, if relays
    /// are given, each relay is asked to probe the targets still silent.
    fn probe_waves(&mut self, outcomes: &mut [Outcome]) -> io::Result<()> {
        let mut pending: Vec<usize> = (0..outcomes.len())
            .filter(|&i| !self.send_to.of(i).is_empty())
            .collect();
        let mut outstanding = Outstanding::with_capacity(pending.len());
        for attempt in 1..=self.retries + 1 {
            if pending.is_empty() {
                break;
            }
            // The last attempt's probes have waited out their timeout.
            self.window.restart();
            for &i in &pending {
                // Interrupted: the round's outcomes go unused.
                if self.stopped() {
                    break;
                }
                outcomes[i].attempts = attempt;
                // Every address of the name at once: the first reply
                // answers for the target (a name with IPv6 and IPv4
                // addresses is up if either reaches its hb-ack).
                for a in 0..self.send_to.of(i).len() {
                    let to = self.send_to.of(i)[a];
                    self.make_room(&mut outstanding, outcomes)?;
                    if let Err(e) = self.queue_probe(i, None, to) {
                        outcomes[i].error = Some(format!("send: {e}"));
                    }
                }
            }
            self.send_queued(&mut outstanding, outcomes)?;
            self.await_replies(self.timeout, &pending, &mut outstanding, outcomes)?;
            pending.retain(|&i| !outcomes[i].is_up());
        }
        if !pending.is_empty() && !self.relays.is_empty() {
            self.window.restart();
            for &i in &pending {
                if self.stopped() {
                    break;
                }
                // Each relay is asked about every address of the name.
                let addrs = self.targets[i].addrs.clone().unwrap_or_default();
                for r in 0..self.relays.len() {
                    for &target in &addrs {
                        self.make_room(&mut outstanding, outcomes)?;
                        // Best effort: a relay we cannot reach is a failed path.
                        let relay = Some((r, target));
                        let _ = self.queue_probe(i, relay, self.relays[r].1);
                    }
                }
            }
            self.send_queued(&mut outstanding, outcomes)?;
            // Two hops each way.
            self.await_replies(2 * self.timeout, &pending, &mut outstanding, outcomes)?;
            pending.retain(|&i| !outcomes[i].is_up());
        }
        let timeout = humantime::format_duration(self.timeout);
        let relays = match self.relays.len() {
            0 => String::new(),
            n => format!(", nor through {}", counted(n, "relay")),
        };
        for &i in &pending {
            let o = &mut outcomes[i];
            if o.error.is_none() {
                let probes = counted(o.attempts as usize, "probe");
                o.error = Some(format!("no reply to {probes}, {timeout} each{relays}"));
            }
        }
        Ok(())
    }

    /// Queues one probe for target `i`, directly or (`relay`: which relay,
    /// and which of the target's addresses) as a relay request; it goes
    /// with the next [`Prober::send_queued`].
    fn queue_probe(
        &mut self,
        i: usize,
        relay: Option<(usize, SocketAddr)>,
        to: SocketAddr,
    ) -> io::Result<()> {
        let nonce = self.nonces.draw();
        let encoded = match relay {
            None => self.head.encode(nonce, &mut self.datagram),
            Some((_, target)) => {
                let probe = Message::Probe(Probe {
                    node: self.node.as_str().into(),
                    nonce,
                    target: Some(target),
                });
                wire::encode(&probe, &mut self.datagram)
            }
        };
        encoded
            .and_then(|()| self.codec.seal_request(&mut self.datagram))
            .map_err(io::Error::other)?;
        self.outbox.push(&self.datagram, to);
        self.queued.push((nonce, i, relay.map(|(r, _)| r)));
        Ok(())
    }

    /// Before a probe is queued: sends the queued ones once they fill a
    /// batch or the window's room, and when the window then has no room
    /// for a batch, takes replies until it has. If that takes longer than
    /// [`PACE_WAIT`], the probes in flight are taken for lost: silent
    /// targets slow a round, never stall it, and datagrams from strangers
    /// cannot hold it up longer.
    fn make_room(
        &mut self,
        outstanding: &mut Outstanding,
        outcomes: &mut [Outcome],
    ) -> io::Result<()> {
        if self.queued.len() < SEND_BATCH.min(self.window.room()) {
            return Ok(());
        }
        self.send_queued(outstanding, outcomes)?;
        let deadline = Instant::now() + PACE_WAIT;
        while self.window.room() < SEND_BATCH && !self.stopped() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                self.window.restart();
                break;
            }
            self.take_replies(left, outstanding, outcomes)?;
        }
        Ok(())
    }

    /// Sends the queued probes, awaited from now on, then takes the
    /// replies that already came back, so that our own receive buffer
    /// never fills up. A direct probe the kernel refused says why in its
    /// target's outcome; a relay it refused is a failed path, no more.
    fn send_queued(
        &mut self,
        outstanding: &mut Outstanding,
        outcomes: &mut [Outcome],
    ) -> io::Result<()> {
        let mut refused = self.outbox.send(&self.socket).into_iter().peekable();
        let sent = Instant::now();
        for (at, (nonce, i, relay)) in self.queued.drain(..).enumerate() {
            match refused.next_if(|(r, _)| *r == at) {
                Some((_, e)) if relay.is_none() => outcomes[i].error = Some(format!("send: {e}")),
                Some(_) => {}
                None => {
                    let epoch = self.window.epoch();
                    let awaited = Awaited {
                        target: i,
                        sent,
                        relay,
                        epoch,
                    };
                    outstanding.insert(nonce, awaited);
                    self.window.sent();
                }
            }
        }
        while self.take_replies(Duration::ZERO, outstanding, outcomes)? {}
        Ok(())
    }

    /// Takes replies for up to `wait`, or until every pending target answered.
    fn await_replies(
        &mut self,
        wait: Duration,
        pending: &[usize],
        outstanding: &mut Outstanding,
        outcomes: &mut [Outcome],
    ) -> io::Result<()> {
        let deadline = Instant::now() + wait;
        while pending.iter().any(|&i| !outcomes[i].is_up()) && !self.stopped() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            self.take_replies(left, outstanding, outcomes)?;
        }
        Ok(())
    }

    /// Takes the replies that arrive within `wait` (one batch); false if
    /// none did.
    fn take_replies(
        &mut self,
        wait: Duration,
        outstanding: &mut Outstanding,
        outcomes: &mut [Outcome],
    ) -> io::Result<bool> {
        let Prober {
            receiver,
            socket,
            codec,
            relays,
            window,
            ..
        } = self;
        let mut any = false;
        for (datagram, from) in receiver.recv(socket, wait)? {
            any = true;
            if let Some(epoch) = accept_reply(codec, relays, datagram, from, outstanding, outcomes)
            {
                window.answered(epoch);
            }
        }
        Ok(any)
    }

    /// The longest a round takes when nothing goes wrong with the poller
    /// itself: every attempt's wait and pacing, and the relays' double
    /// wait. A round that took longer was stalled.
    pub fn round_budget(&self) -> Duration {
        let probes = self.send_to.len();
        let attempt = self.timeout + pacing_allowance(probes);
        let relayed = match self.relays.len() {
            0 => Duration::ZERO,
            n => 2 * self.timeout + pacing_allowance(probes * n),
        };
        attempt * (self.retries + 1) + relayed
    }

    /// How many replies the poller's socket dropped so far for want of
    /// room, as the kernel last said; with those of the sockets it
    /// replaced, so that the count never goes back.
    pub fn dropped(&self) -> Option<u32> {
        match (self.receiver.dropped(), self.dropped_before) {
            (None, 0) => None,
            (now, before) => Some(now.unwrap_or(0).wrapping_add(before)),
        }
    }

    /// Reads and drops the replies that arrive within `wait`: late answers
    /// to a past round, read between rounds so that the wait stays
    /// interruptible.
    pub fn discard_replies(&mut self, wait: Duration) -> io::Result<()> {
        self.receiver.recv(&self.socket, wait)?.for_each(drop);
        Ok(())
    }
}

/// `n` things, in words: `1 probe`, `3 probes`.
fn counted(n: usize, thing: &str) -> String {
    format!("{n} {thing}{}", if n == 1 { "" } else { "s" })
}

/// How long each attempt waits for a reply when no timeout was set:
/// `default`, or with `every`, at most each attempt's share of it (with
/// `retries` and, through `relays`, two attempts more), so that a round
/// ends within its interval however the targets answer (thousands of
/// silent ones add their pacing, as [`Prober::round_budget`] counts it).
pub fn fitted_timeout(
    default: Duration,
    retries: u32,
    relays: bool,
    every: Option<Duration>,
) -> Duration {
    let Some(every) = every else {
        return default;
    };
    let attempts = retries + 1 + if relays { 2 } else { 0 };
    default.min(every / attempts).max(Duration::from_millis(1))
}

/// Takes a reply if its nonce is one we sent and still await, and records
/// it if its target is not answered yet; anything else (duplicates,
/// strangers) is ignored. A direct reply's source is the target's address
/// that answered. Gives the window's epoch the answered probe was sent in.
fn accept_reply(
    codec: &Codec,
    relays: &[(String, SocketAddr)],
    datagram: &[u8],
    from: SocketAddr,
    outstanding: &mut Outstanding,
    outcomes: &mut [Outcome],
) -> Option<u32> {
    let Ok(Message::Reply(reply)) = codec.decode(datagram) else {
        return None;
    };
    let Awaited {
        target,
        sent,
        relay,
        epoch,
    } = outstanding.remove(&reply.nonce)?;
    let o = &mut outcomes[target];
    if o.is_up() {
        return Some(epoch);
    }
    o.rtt = Some(sent.elapsed());
    o.answered = Some(Instant::now());
    o.node = Some(CompactString::from(reply.node));
    o.boot = reply.boot.map(CompactString::from);
    o.health = reply.health.map(Cow::into_owned);
    o.error = None;
    o.via = relay.map(|r| relays[r].0.clone());
    if relay.is_none() {
        o.addr = Some(net::canonical(from));
    }
    o.checks = reply.checks;
    Some(epoch)
}

/// A TCP connect check: up to `tries` attempts, each a connect to every
/// address of the name in turn, each connect waiting `timeout`. Gives the
/// round trip of the first that succeeds and when it did, the attempts
/// made, and the last error when none did.
fn tcp_connect(
    addrs: &[SocketAddr],
    timeout: Duration,
    tries: u32,
) -> (Option<(Duration, Instant)>, u32, Option<String>) {
    let mut error = String::new();
    for attempt in 1..=tries {
        for addr in addrs {
            let start = Instant::now();
            match TcpStream::connect_timeout(addr, timeout) {
                Ok(_) => return (Some((start.elapsed(), Instant::now())), attempt, None),
                Err(e) => error = format!("tcp connect to {addr}: {e}"),
            }
        }
    }
    (None, tries, Some(error))
}

#[cfg(test)]
mod tests;
