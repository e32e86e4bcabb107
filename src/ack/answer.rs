//! Heartbeats with acknowledgement, the receiver's side (hb-ack): a beat
//! that asks for it (`"ack":true`, from `hb-send --ack`) is acknowledged
//! to the address it came from, once replay protection believes it.

use std::net::SocketAddr;

use crate::clock::wall_ms;
use crate::clock::Millis;
use crate::intake::Intake;
use crate::replay::{Claim, Freshness, Senders};
use crate::wire::{Ack, Beat, Message, Reject, MAX_DATAGRAM};

/// Acknowledges beats on behalf of the receiver called `node`.
pub struct Acknowledger {
    node: String,
    /// Each sender's last accepted boot and seq, for a bounded number.
    senders: Senders,
    /// With a key: how far a new boot's clock may be from ours.
    max_skew_ms: u64,
    /// The ack being sent.
    datagram: Vec<u8>,
}

impl Acknowledger {
    /// Remembers `max_nodes` senders at most.
    pub fn new(node: String, max_nodes: usize, max_skew_ms: u64) -> Self {
        Acknowledger {
            node,
            senders: Senders::new(max_nodes),
            max_skew_ms,
            datagram: Vec::with_capacity(MAX_DATAGRAM),
        }
    }

    /// A beat of `beat_len` bytes from `from`: refused if replay protection
    /// or the node limit says so; else counted and, if it asks, acknowledged
    /// on `socket` (an ack larger than the beat is not sent, and counted as
    /// `amplification`).
    pub fn on_beat(
        &mut self,
        beat: &Beat<'_>,
        beat_len: usize,
        from: SocketAddr,
        intake: &mut Intake,
        now: Millis,
    ) -> Result<(), Reject> {
        let claim = Claim {
            boot: beat.boot.as_deref(),
            seq: beat.seq,
            ts_ms: beat.ts_ms,
        };
        let fresh = Freshness {
            now_wall_ms: wall_ms(),
            max_skew_ms: intake.codec.is_keyed().then_some(self.max_skew_ms),
        };
        self.senders.admit(&beat.node, &claim, fresh)?;
        intake.accepted();
        if let (true, Some(seq)) = (beat.ack, beat.seq) {
            let ack = Message::Ack(Ack {
                node: self.node.as_str().into(),
                of: beat.node.clone(),
                seq,
            });
            if !intake.answer(&mut self.datagram, &ack, from, beat_len) {
                intake.reject(Reject::Amplification, Some(from), now);
            }
        }
        Ok(())
    }
}
