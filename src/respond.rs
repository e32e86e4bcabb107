//! The responder behind `hb-ack`: answers probes ("are you alive?") with a
//! reply carrying health, and acknowledges beats that ask for it.

use std::io::{self, Write};
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};

use serde::Serialize;
use serde_json::value::to_raw_value;

use crate::health::Background;
use crate::net;
use crate::output::{wall_ms, Output};
use crate::wire::{self, Ack, Message, Reply};

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

/// Answers on one socket.
pub struct Responder<W: Write> {
    socket: UdpSocket,
    node: String,
    boot: String,
    health: Option<Background>,
    out: Output<W>,
    verbosity: Verbosity,
    datagram: Vec<u8>,
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
                let health = match self.health.as_ref().and_then(Background::latest) {
                    Some(h) => Some(to_raw_value(&h).map_err(io::Error::other)?),
                    None => None,
                };
                let reply = Message::Reply(Reply {
                    node: self.node.as_str().into(),
                    nonce: probe.nonce,
                    boot: Some(self.boot.as_str().into()),
                    ts_ms: Some(wall_ms()),
                    health: health.as_deref(),
                });
                send(&self.socket, &mut self.datagram, &reply, from);
                if self.verbosity == Verbosity::Verbose {
                    let line = Received {
                        msg: Message::Probe(probe),
                        from,
                    };
                    self.out.emit(wall_ms(), &line)?;
                }
            }
            Message::Reply(_) | Message::Ack(_) | Message::View(_) => {}
        }
        Ok(())
    }
}

/// Best effort: a peer that went away must not stop the responder.
fn send(socket: &UdpSocket, datagram: &mut Vec<u8>, msg: &Message<'_>, to: SocketAddr) {
    if wire::encode(msg, datagram).is_ok() {
        let _ = socket.send_to(datagram, to);
    }
}
