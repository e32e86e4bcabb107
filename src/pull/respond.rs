//! The responder behind `hb-ack`: answers probes ("are you alive?") with a
//! reply carrying health, and relays probes for a poller that cannot reach
//! a target itself (SWIM's ping-req). Beats that arrive on the same socket
//! are the acknowledgement approach's: see [`crate::ack::answer`].

use std::collections::HashMap;
use std::io::{self, Write};
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::value::to_raw_value;

use crate::ack::answer::Acknowledger;
use crate::auth::REQUEST_LEN;
use crate::checks::Checks;
use crate::clock::{Cadence, Clock, Millis};
use crate::health::Background;
use crate::intake::{Counters, Intake};
use crate::net;
use crate::output::{wall_ms, Output};
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
}

/// Answers on one socket.
pub struct Responder<W: Write> {
    socket: UdpSocket,
    node: String,
    boot: String,
    out: Output<W>,
    intake: Intake,
    opts: Options,
    /// Acknowledges the beats that ask for it.
    acks: Acknowledger,
    datagram: Vec<u8>,
    /// Relayed probes by the nonce this responder sent them with.
    relayed: HashMap<u64, Relayed>,
}

impl<W: Write> Responder<W> {
    pub fn new(
        socket: UdpSocket,
        node: String,
        out: Output<W>,
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
            relayed: HashMap::new(),
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
                self.out.emit(wall_ms(), &status)?;
            }
            let wait = status.map_or(net::STOP_CHECK, |c| clock.until(c.due()));
            let batch = receiver.recv(&self.socket, wait)?;
            let now = clock.now();
            for (datagram, from) in batch {
                self.handle(datagram, from, now)?;
            }
            if !self.intake.pending.is_empty() {
                let wall = wall_ms();
                for line in self.intake.pending.drain(..) {
                    self.out.emit(wall, &line)?;
                }
            }
        }
        Ok(())
    }

    fn handle(&mut self, datagram: &[u8], from: SocketAddr, now: Millis) -> io::Result<()> {
        let Some(msg) = self.intake.open(datagram, from, now) else {
            return Ok(());
        };
        match msg {
            Message::Beat(mut beat) => {
                let acked = self.acks.on_beat(
                    &beat,
                    datagram.len(),
                    from,
                    &self.socket,
                    &mut self.intake,
                    now,
                );
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
                    self.out.emit(wall_ms(), &line)?;
                }
            }
            Message::Probe(probe) => {
                self.intake.accepted();
                match probe.target {
                    // The relayed probe is padded like any request: a
                    // smaller request would make this responder send more
                    // than it was sent.
                    Some(_) if datagram.len() < REQUEST_LEN => {
                        self.intake.reject(Reject::Amplification, Some(from), now)
                    }
                    Some(target) => self.relay(probe.nonce, target, from, datagram.len())?,
                    None => self.answer(probe.nonce, from, datagram.len(), now)?,
                }
                if self.opts.verbosity == Verbosity::Verbose {
                    let line = Received {
                        msg: Message::Probe(probe),
                        from,
                    };
                    self.out.emit(wall_ms(), &line)?;
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
                        send_reply(
                            &self.socket,
                            &mut self.intake,
                            &mut self.datagram,
                            reply,
                            to,
                            limit,
                            now,
                        );
                    }
                    None => self.intake.reject(Reject::UnexpectedType, Some(from), now),
                }
            }
            Message::Ack(_) | Message::View(_) => {
                self.intake.reject(Reject::UnexpectedType, Some(from), now)
            }
        }
        Ok(())
    }

    /// Replies to a probe with this node's name, boot id and health (or,
    /// unsigned and too large for the probe that asked, without health).
    fn answer(
        &mut self,
        nonce: u64,
        to: SocketAddr,
        asked_len: usize,
        now: Millis,
    ) -> io::Result<()> {
        let health = match self.opts.health.as_ref().and_then(Background::latest) {
            Some(h) => Some(to_raw_value(&h).map_err(io::Error::other)?),
            None => None,
        };
        let reply = Reply {
            node: self.node.as_str().into(),
            nonce,
            boot: Some(self.boot.as_str().into()),
            ts_ms: Some(wall_ms()),
            health: health.as_deref(),
            via: None,
            checks: self.opts.checks.as_ref().map(Checks::latest),
        };
        send_reply(
            &self.socket,
            &mut self.intake,
            &mut self.datagram,
            reply,
            to,
            asked_len,
            now,
        );
        Ok(())
    }

    /// Probes `target` for `requester`; its reply is forwarded when it
    /// comes (nothing is sent if it does not: the poller times out).
    fn relay(
        &mut self,
        nonce: u64,
        target: SocketAddr,
        requester: SocketAddr,
        asked_len: usize,
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
        let to = match (self.socket.local_addr()?, target) {
            // A dual-stack socket reaches IPv4 targets by their mapped form.
            (SocketAddr::V6(_), SocketAddr::V4(v4)) => {
                SocketAddr::from((v4.ip().to_ipv6_mapped(), v4.port()))
            }
            _ => target,
        };
        if self
            .intake
            .codec
            .encode_request(&probe, &mut self.datagram)
            .is_ok()
        {
            // Best effort: a target that is gone is what the poller learns.
            let _ = self.socket.send_to(&self.datagram, to);
        }
        Ok(())
    }
}

/// Sends a reply; unsigned and too large for the request, without its
/// health and checks; counted as refused (`amplification`) if even that is too large.
fn send_reply(
    socket: &UdpSocket,
    intake: &mut Intake,
    datagram: &mut Vec<u8>,
    mut reply: Reply<'_>,
    to: SocketAddr,
    asked_len: usize,
    now: Millis,
) {
    let whole = Message::Reply(reply.clone());
    if intake.answer(socket, datagram, &whole, to, asked_len) {
        return;
    }
    reply.health = None;
    reply.checks = None;
    if !intake.answer(socket, datagram, &Message::Reply(reply), to, asked_len) {
        intake.reject(Reject::Amplification, Some(to), now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::{Codec, Keys};
    use crate::checks::{CheckResult, CheckStatus};
    use serde_json::value::RawValue;

    fn socket() -> UdpSocket {
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        // Only bounds a hang: every read below expects a datagram.
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s
    }

    /// hb-ack, named `relay`, driven by hand (`handle`).
    fn responder(codec: Codec) -> Responder<Vec<u8>> {
        let opts = Options {
            verbosity: Verbosity::Quiet,
            health: None,
            checks: None,
            max_skew_ms: 30_000,
            max_nodes: 100,
            status_every: None,
        };
        let intake = Intake::new(codec, Vec::new(), false);
        Responder::new(
            socket(),
            "relay".into(),
            Output::new(Vec::new()),
            intake,
            opts,
        )
    }

    fn amplification(r: &Responder<Vec<u8>>) -> u64 {
        let rejected = &r.intake.counters.rejected;
        rejected.get("amplification").copied().unwrap_or(0)
    }

    /// The next datagram `s` gets.
    fn next(s: &UdpSocket) -> Vec<u8> {
        let mut buf = [0; wire::MAX_DATAGRAM];
        let (len, _) = s.recv_from(&mut buf).unwrap();
        buf[..len].to_vec()
    }

    /// A relay request ("probe `target` for me"), padded by hand to `len`.
    fn relay_request(target: SocketAddr, len: usize) -> Vec<u8> {
        let mut d = format!(r#"{{"type":"probe","node":"poller","nonce":7,"target":"{target}"}}"#)
            .into_bytes();
        let brace = d.pop().unwrap();
        d.resize(len - 1, b' ');
        d.push(brace);
        d
    }

    /// The relayed probe (REQUEST_LEN bytes) is never sent for a smaller
    /// request: a relay request must be padded like any request.
    #[test]
    fn a_relay_request_smaller_than_a_padded_request_is_refused() {
        let (target, poller) = (socket(), socket());
        let poller = poller.local_addr().unwrap();
        let mut r = responder(Codec::default());
        let short = relay_request(target.local_addr().unwrap(), REQUEST_LEN - 1);
        r.handle(&short, poller, 0).unwrap();
        assert_eq!(amplification(&r), 1);
        assert!(r.relayed.is_empty(), "nothing relayed");

        let padded = relay_request(target.local_addr().unwrap(), REQUEST_LEN);
        r.handle(&padded, poller, 0).unwrap();
        assert_eq!(amplification(&r), 1);
        assert_eq!(r.relayed.len(), 1);
        let relayed = next(&target);
        assert!(relayed.len() <= padded.len(), "{} bytes", relayed.len());
        let Ok(Message::Probe(p)) = wire::decode(&relayed) else {
            panic!("{:?}", String::from_utf8_lossy(&relayed))
        };
        assert!(r.relayed.contains_key(&p.nonce));
    }

    /// A reply from the node called `node` with `pad` bytes of health
    /// padding and a plugin check, encoded with `codec`.
    fn reply(codec: &Codec, nonce: u64, pad: usize, node: &str, via: Option<&str>) -> Vec<u8> {
        let health = RawValue::from_string(format!(r#"{{"pad":"{}"}}"#, "x".repeat(pad))).unwrap();
        let reply = Reply {
            node: node.into(),
            nonce,
            boot: Some("b".into()),
            ts_ms: None,
            health: Some(&health),
            via: via.map(Into::into),
            checks: Some(vec![CheckResult {
                name: "disk".into(),
                status: CheckStatus::Ok,
                output: "DISK OK".into(),
            }]),
        };
        let mut buf = Vec::new();
        codec.encode(&Message::Reply(reply), &mut buf).unwrap();
        buf
    }

    /// `msg` encoded with `codec` as a request: REQUEST_LEN bytes,
    /// signature included.
    fn padded(codec: &Codec, msg: &Message<'_>) -> Vec<u8> {
        let mut buf = Vec::new();
        codec.encode_request(msg, &mut buf).unwrap();
        assert_eq!(buf.len(), REQUEST_LEN);
        buf
    }

    /// The target's reply goes back to the poller only within the size of
    /// the poller's request: as is when it fits (to the byte), without
    /// health when not, not at all when even that is too large. Signed
    /// too: a replayed signed request must not be amplified either.
    #[test]
    fn a_forwarded_reply_is_never_larger_than_the_relay_request() {
        let dir = std::env::temp_dir().join(format!("hb-respond-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let key = dir.join("key");
        std::fs::write(&key, "0123456789abcdef0123456789abcdef\n").unwrap();
        let private = std::os::unix::fs::PermissionsExt::from_mode(0o600);
        std::fs::set_permissions(&key, private).unwrap();
        let keyed = Codec::new(Some(Keys::load(&key).unwrap()));
        std::fs::remove_dir_all(&dir).unwrap();

        for codec in [Codec::default(), keyed] {
            let (target, poller) = (socket(), socket());
            let mut r = responder(codec.clone());
            // The forwarded reply: the target's, with the poller's nonce
            // and the relay's name.
            let forwarded = |nonce, pad, node| reply(&codec, nonce, pad, node, Some("relay"));
            let fit = REQUEST_LEN - forwarded(1, 0, "target").len();
            // A name of quotes, each escaped on the wire: too large even
            // without health and checks.
            let quotes = "\"".repeat(wire::MAX_NODE_LEN);
            // (poller's nonce, health padding, target's name, forwarded whole)
            for (nonce, pad, node, whole) in [
                (1, fit, "target", true),
                (2, fit + 1, "target", false),
                (3, 0, quotes.as_str(), false),
            ] {
                assert_eq!(forwarded(nonce, pad, node).len() <= REQUEST_LEN, whole);
                let probe = Message::Probe(Probe {
                    node: "poller".into(),
                    nonce,
                    target: Some(target.local_addr().unwrap()),
                });
                let request = padded(&codec, &probe);
                r.handle(&request, poller.local_addr().unwrap(), 0).unwrap();
                let relayed = next(&target);
                let Ok(Message::Probe(relayed)) = codec.decode(&relayed) else {
                    panic!()
                };
                let answer = reply(&codec, relayed.nonce, pad, node, None);
                r.handle(&answer, target.local_addr().unwrap(), 0).unwrap();
                if nonce == 3 {
                    assert_eq!(amplification(&r), 1, "too large even without health");
                    continue;
                }
                assert_eq!(amplification(&r), 0, "nonce {nonce} forwarded");
                let got = next(&poller);
                assert!(got.len() <= REQUEST_LEN, "{} bytes forwarded", got.len());
                assert_eq!(got.len() == REQUEST_LEN, whole);
                let Ok(Message::Reply(got)) = codec.decode(&got) else {
                    panic!("{:?}", String::from_utf8_lossy(&got))
                };
                assert_eq!((got.nonce, got.via.as_deref()), (nonce, Some("relay")));
                assert_eq!(got.health.is_some(), whole, "nonce {nonce}");
                assert_eq!(got.checks.is_some(), whole, "nonce {nonce}");
            }
            assert!(r.relayed.is_empty());
        }
    }
}
