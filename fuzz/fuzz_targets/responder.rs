#![no_main]
//! The responder behind hb-ack (`pull::respond::Responder`) fed a sequence
//! of datagrams over real loopback sockets: probes and relay requests of
//! any padding from a poller, the relayed target's replies (with health,
//! plugin checks, any size), beats that ask for an ack, and raw bytes;
//! signed or not, under any responder name.
//!
//! What is checked is the rule that keeps hb-ack from being an amplifier:
//! nothing it sends is larger than the request that asked for it. A reply
//! is matched to its probe by nonce, a forwarded reply to its relay request
//! by the poller's nonce, an ack to its beat by node and seq; a relayed
//! probe is no larger than the relay request. And everything it sends
//! decodes (and passes the MAC check, when keyed).

use std::collections::HashMap;
use std::io::{self, ErrorKind};
use std::net::UdpSocket;

use arbitrary::Arbitrary;
use hb::auth::Codec;
use hb::clock::Millis;
use hb::intake::Intake;
use hb::output::Output;
use hb::pull::respond::{Options, Responder, Verbosity};
use hb::wire::{decode, Message, MAX_DATAGRAM};
use hb_fuzz::codec;
use libfuzzer_sys::fuzz_target;

/// Responder and sender names: short, and at the length limit with every
/// byte escaped on the wire (twice as long).
const NAMES: [&str; 4] = ["relay", "poller", "q253", "n\u{e9}ud"];
const BOOTS: [&str; 3] = ["b0", "b1", "0123456789abcdef"];

fn name(i: u8) -> String {
    match NAMES[usize::from(i) % NAMES.len()] {
        "q253" => "\"".repeat(253),
        n => n.to_owned(),
    }
}

#[derive(Arbitrary, Debug)]
struct Input {
    keyed: bool,
    node: u8,
    max_nodes: u8,
    ops: Vec<Op>,
}

#[derive(Arbitrary, Debug)]
enum Op {
    /// "Are you alive?", padded to `len` bytes.
    Probe {
        nonce: u8,
        len: u16,
    },
    /// "Probe the target for me", padded to `len` bytes.
    Relay {
        nonce: u8,
        len: u16,
    },
    /// The target answers one of the probes relayed to it (or a nonce of
    /// its own).
    TargetReply(ReplyOp),
    Beat(BeatOp),
    /// Any bytes, from the poller or the target.
    Raw {
        bytes: Vec<u8>,
        from_target: bool,
    },
}

#[derive(Arbitrary, Debug)]
struct ReplyOp {
    relayed: Option<u8>,
    nonce: u64,
    node: u8,
    boot: Option<u8>,
    health_len: u16,
    checks: Vec<(u8, u8)>,
    via: Option<u8>,
    len: u16,
}

#[derive(Arbitrary, Debug)]
struct BeatOp {
    node: u8,
    seq: Option<u16>,
    boot: Option<u8>,
    ack: bool,
    len: u16,
}

fn socket() -> UdpSocket {
    let s = UdpSocket::bind("127.0.0.1:0").expect("a loopback socket");
    s.set_nonblocking(true).unwrap();
    s
}

/// Pads an encoded JSON object with white space before its closing brace,
/// to `len` bytes (a longer one stays as it is), then signs it when keyed.
fn finish(mut json: Vec<u8>, len: u16, codec: &Codec) -> Vec<u8> {
    let len = usize::from(len) % (MAX_DATAGRAM + 1);
    if json.len() < len {
        let brace = json.pop().expect("an object");
        json.resize(len - 1, b' ');
        json.push(brace);
    }
    let _ = codec.seal(&mut json);
    json
}

/// Every datagram waiting on `socket`.
fn drain(socket: &UdpSocket) -> Vec<Vec<u8>> {
    let mut got = Vec::new();
    let mut buf = [0; 65536];
    loop {
        match socket.recv_from(&mut buf) {
            Ok((len, _)) => got.push(buf[..len].to_vec()),
            Err(e) if e.kind() == ErrorKind::WouldBlock => return got,
            Err(e) => panic!("receiving: {e}"),
        }
    }
}

/// The largest request that may have asked for each answer.
#[derive(Default)]
struct Asked {
    /// By the nonce of a probe or a relay request.
    probes: HashMap<u64, usize>,
    /// By the node and seq of a beat that asked for an ack.
    beats: HashMap<(String, u64), usize>,
    /// The largest relay request so far (a relayed probe carries a nonce of
    /// the responder's own).
    relay: usize,
}

impl Asked {
    fn probe(&mut self, nonce: u64, len: usize, relay: bool) {
        raise(&mut self.probes, nonce, len);
        if relay {
            self.relay = self.relay.max(len);
        }
    }

    fn beat(&mut self, node: &str, seq: u64, len: usize) {
        raise(&mut self.beats, (node.to_owned(), seq), len);
    }

    /// Checks what the responder sent to `at` (an answer, or a relayed
    /// probe at the target); returns a relayed probe's nonce.
    fn check(&self, sent: &[u8], codec: &Codec, at_target: bool) -> Option<u64> {
        let text = || String::from_utf8_lossy(sent);
        let limit = match codec.decode(sent) {
            Ok(Message::Probe(p)) if at_target => {
                let relay = self.relay;
                assert!(
                    sent.len() <= relay,
                    "relayed {} bytes for a request of at most {relay}: {}",
                    sent.len(),
                    text()
                );
                return Some(p.nonce);
            }
            Ok(Message::Reply(r)) => self.probes.get(&r.nonce),
            Ok(Message::Ack(a)) => self.beats.get(&(a.of.to_string(), a.seq)),
            other => panic!("sent {other:?}: {}", text()),
        };
        let limit = *limit.expect("an answer to a request that was made");
        assert!(
            sent.len() <= limit,
            "answered {} bytes to a request of {limit}: {}",
            sent.len(),
            text()
        );
        None
    }
}

fn raise<K: std::hash::Hash + Eq>(map: &mut HashMap<K, usize>, key: K, len: usize) {
    let max = map.entry(key).or_default();
    *max = (*max).max(len);
}

fuzz_target!(|input: Input| {
    let codec = codec(input.keyed);
    let (poller, target) = (socket(), socket());
    let (poller_addr, target_addr) = (poller.local_addr().unwrap(), target.local_addr().unwrap());
    let opts = Options {
        verbosity: Verbosity::Verbose,
        health: None,
        checks: None,
        max_skew_ms: 30_000,
        max_nodes: usize::from(input.max_nodes % 8),
        status_every: None,
        reload: None,
    };
    let intake = Intake::new(codec.clone(), Vec::new(), false);
    let mut responder = Responder::new(
        socket(),
        name(input.node),
        hb::output::Sink::new(Output::new(io::sink())),
        intake,
        opts,
    );
    let mut asked = Asked::default();
    let mut relayed: Vec<u64> = Vec::new();
    let mut now: Millis = 0;
    for op in input.ops.into_iter().take(64) {
        now += 1;
        let (datagram, from) = match op {
            Op::Probe { nonce, len } => {
                let json = format!(r#"{{"type":"probe","node":"poller","nonce":{nonce}}}"#);
                let d = finish(json.into_bytes(), len, &codec);
                asked.probe(nonce.into(), d.len(), false);
                (d, poller_addr)
            }
            Op::Relay { nonce, len } => {
                let json = format!(
                    r#"{{"type":"probe","node":"poller","nonce":{nonce},"target":"{target_addr}"}}"#
                );
                let d = finish(json.into_bytes(), len, &codec);
                asked.probe(nonce.into(), d.len(), true);
                (d, poller_addr)
            }
            Op::TargetReply(r) => {
                let nonce = match (r.relayed, relayed.is_empty()) {
                    (Some(i), false) => relayed[usize::from(i) % relayed.len()],
                    _ => r.nonce,
                };
                let mut reply = serde_json::json!({
                    "type": "reply",
                    "node": name(r.node),
                    "nonce": nonce,
                    "health": {"pad": "h".repeat(usize::from(r.health_len) % MAX_DATAGRAM)},
                });
                if let Some(b) = r.boot {
                    reply["boot"] = BOOTS[usize::from(b) % BOOTS.len()].into();
                }
                if let Some(v) = r.via {
                    reply["via"] = name(v).into();
                }
                if !r.checks.is_empty() {
                    let checks: Vec<_> = r
                        .checks
                        .iter()
                        .take(8)
                        .map(|&(status, len)| {
                            let word =
                                ["ok", "warning", "critical", "unknown"][usize::from(status) % 4];
                            serde_json::json!({
                                "name": format!("c{status}"),
                                "status": word,
                                "output": "o".repeat(usize::from(len)),
                            })
                        })
                        .collect();
                    reply["checks"] = checks.into();
                }
                let json = serde_json::to_vec(&reply).unwrap();
                (finish(json, r.len, &codec), target_addr)
            }
            Op::Beat(b) => {
                let node = name(b.node);
                let mut beat = serde_json::json!({"type": "beat", "node": node, "ack": b.ack});
                if let Some(seq) = b.seq {
                    beat["seq"] = seq.into();
                }
                if let Some(i) = b.boot {
                    beat["boot"] = BOOTS[usize::from(i) % BOOTS.len()].into();
                    beat["ts_ms"] = hb::clock::wall_ms().into();
                }
                let d = finish(serde_json::to_vec(&beat).unwrap(), b.len, &codec);
                if let Some(seq) = b.seq {
                    asked.beat(&node, seq.into(), d.len());
                }
                (d, poller_addr)
            }
            Op::Raw { bytes, from_target } => {
                // Never let raw bytes make the responder probe an address
                // outside this test.
                match decode(&bytes) {
                    Ok(Message::Probe(p)) if p.target.is_some_and(|t| t != target_addr) => continue,
                    Ok(Message::Probe(p)) => asked.probe(p.nonce, bytes.len(), p.target.is_some()),
                    Ok(Message::Beat(b)) => {
                        if let Some(seq) = b.seq {
                            asked.beat(&b.node, seq, bytes.len());
                        }
                    }
                    _ => {}
                }
                (
                    bytes,
                    if from_target {
                        target_addr
                    } else {
                        poller_addr
                    },
                )
            }
        };
        responder
            .handle(&datagram, from, now)
            .expect("output to a sink");

        for sent in drain(&target) {
            relayed.extend(asked.check(&sent, &codec, true));
        }
        for sent in drain(&poller) {
            assert_eq!(asked.check(&sent, &codec, false), None);
        }
    }
});
