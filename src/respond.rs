//! The responder behind `hb-ack`: answers probes ("are you alive?") with a
//! reply carrying health, acknowledges beats that ask for it, and relays
//! probes for a poller that cannot reach a target itself (SWIM's ping-req).

use std::collections::HashMap;
use std::io::{self, Write};
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::value::to_raw_value;

use crate::health::Background;
use crate::net;
use crate::output::{wall_ms, Output};
use crate::wire::{self, Ack, Message, Probe, Reply};

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
    expires: Instant,
}

/// Answers on one socket.
pub struct Responder<W: Write> {
    socket: UdpSocket,
    node: String,
    boot: String,
    health: Option<Background>,
    out: Output<W>,
    verbosity: Verbosity,
    datagram: Vec<u8>,
    /// Relayed probes by the nonce this responder sent them with.
    relayed: HashMap<u64, Relayed>,
}

impl<W: Write> Responder<W> {
    /// `health`: replies carry its latest reading; None leaves health out.
    pub fn new(
        socket: UdpSocket,
        node: String,
        health: Option<Background>,
        out: Output<W>,
        verbosity: Verbosity,
    ) -> Self {
        Responder {
            socket,
            node,
            boot: wire::new_boot_id(),
            health,
            out,
            verbosity,
            datagram: Vec::with_capacity(wire::MAX_DATAGRAM),
            relayed: HashMap::new(),
        }
    }

    /// Answers until `stop` is set or output fails.
    pub fn run(&mut self, stop: &AtomicBool) -> io::Result<()> {
        let mut buf = vec![0u8; 65536];
        while !stop.load(Ordering::Relaxed) {
            if let Some((len, from)) = net::recv_within(&self.socket, &mut buf, net::STOP_CHECK)? {
                self.handle(&buf[..len], from)?;
            }
        }
        Ok(())
    }

    fn handle(&mut self, datagram: &[u8], from: SocketAddr) -> io::Result<()> {
        let msg = match wire::decode(datagram) {
            Ok(msg) => msg,
            // Not counted yet: hb-ack has no status output (see the
            // hostile-input issue); bad input is skipped, never fatal.
            Err(_) => return Ok(()),
        };
        match msg {
            Message::Beat(mut beat) => {
                if let (true, Some(seq)) = (beat.ack, beat.seq) {
                    let ack = Message::Ack(Ack {
                        node: self.node.as_str().into(),
                        of: beat.node.clone(),
                        seq,
                    });
                    send(&self.socket, &mut self.datagram, &ack, from);
                }
                if self.verbosity != Verbosity::Quiet {
                    beat.ts_ms = None;
                    let line = Received {
                        msg: Message::Beat(beat),
                        from,
                    };
                    self.out.emit(wall_ms(), &line)?;
                }
            }
            Message::Probe(probe) => {
                match probe.target {
                    Some(target) => self.relay(probe.nonce, target, from)?,
                    None => self.answer(probe.nonce, from)?,
                }
                if self.verbosity == Verbosity::Verbose {
                    let line = Received {
                        msg: Message::Probe(probe),
                        from,
                    };
                    self.out.emit(wall_ms(), &line)?;
                }
            }
            Message::Reply(mut reply) => {
                // The answer to a probe relayed for a poller: pass it on.
                if let Some(r) = self.relayed.remove(&reply.nonce) {
                    reply.nonce = r.nonce;
                    reply.via = Some(self.node.as_str().into());
                    send(
                        &self.socket,
                        &mut self.datagram,
                        &Message::Reply(reply),
                        r.requester,
                    );
                }
            }
            Message::Ack(_) | Message::View(_) => {}
        }
        Ok(())
    }

    /// Replies to a probe with this node's name, boot id and health.
    fn answer(&mut self, nonce: u64, to: SocketAddr) -> io::Result<()> {
        let health = match self.health.as_ref().and_then(Background::latest) {
            Some(h) => Some(to_raw_value(&h).map_err(io::Error::other)?),
            None => None,
        };
        let reply = Message::Reply(Reply {
            node: self.node.as_str().into(),
            nonce,
            boot: Some(self.boot.as_str().into()),
            ts_ms: Some(wall_ms()),
            health: health.as_deref(),
            via: None,
        });
        send(&self.socket, &mut self.datagram, &reply, to);
        Ok(())
    }

    /// Probes `target` for `requester`; its reply is forwarded when it
    /// comes (nothing is sent if it does not: the poller times out).
    fn relay(&mut self, nonce: u64, target: SocketAddr, requester: SocketAddr) -> io::Result<()> {
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
        send(&self.socket, &mut self.datagram, &probe, to);
        Ok(())
    }
}

/// Best effort: a peer that went away must not stop the responder.
fn send(socket: &UdpSocket, datagram: &mut Vec<u8>, msg: &Message<'_>, to: SocketAddr) {
    if wire::encode(msg, datagram).is_ok() {
        let _ = socket.send_to(datagram, to);
    }
}
