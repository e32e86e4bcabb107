//! hb-send's answers to a listener that suspects it: a listener that
//! missed its beats asks "are you alive?" (a probe, as hb-poll's) at the
//! address the beats come from, which is this sender's own socket, and an
//! answer refutes the suspicion. Beats say that this sender answers
//! (`"answers":true`).

use std::net::{SocketAddr, UdpSocket};

use crate::auth::Codec;
use crate::wire::{Message, Reply};

/// Who is answered, and as whom.
pub(super) struct Answerer<'a> {
    pub node: &'a str,
    pub boot: &'a str,
    pub codec: &'a Codec,
    /// Every address of the names the beats go to, the ones beats go to
    /// now or not: only probes from these hosts are answered, so a sender
    /// is nobody else's reflector.
    pub targets: &'a [SocketAddr],
}

impl Answerer<'_> {
    /// Answers `datagram` from `from` if it is a probe to answer: from a
    /// host this sender beats to, correctly signed when keyed, asking
    /// about this sender itself (not a relay request). The reply carries
    /// the nonce and this boot, and is sent only if it is no larger than
    /// the probe: no sender amplifies a spoofed request. Says whether
    /// `datagram` was a probe (answered or not), so that the caller looks
    /// no further into it.
    pub(super) fn answer(
        &self,
        socket: &UdpSocket,
        datagram: &[u8],
        from: SocketAddr,
        buf: &mut Vec<u8>,
    ) -> bool {
        let Ok(Message::Probe(probe)) = self.codec.decode(datagram) else {
            return false;
        };
        let known = self
            .targets
            .iter()
            .any(|t| t.ip().to_canonical() == from.ip().to_canonical());
        if !known || probe.target.is_some() {
            return true;
        }
        let reply = Message::Reply(Reply {
            node: self.node.into(),
            nonce: probe.nonce,
            boot: Some(self.boot.into()),
            ts_ms: None,
            health: None,
            via: None,
            checks: None,
        });
        if self.codec.encode(&reply, buf).is_ok() && buf.len() <= datagram.len() {
            // Best effort: a listener that went away must not stop beats.
            let _ = socket.send_to(buf, from);
        }
        true
    }
}

#[cfg(test)]
mod tests;
