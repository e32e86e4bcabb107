//! What every receiver does with a datagram before it is a message: is
//! the source allowed, is it signed, does it decode? And the counting (and,
//! with `--log-rejects`, rate-limited logging) of everything refused, so
//! hostile or broken input is visible without ever stopping a tool.

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::str::FromStr;

use serde::Serialize;

use crate::auth::Codec;
use crate::clock::Millis;
use crate::metrics::Metrics;
use crate::net::Outbox;
use crate::wire::{Message, Reject};

/// What arrived, and what was refused and why.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Counters {
    /// Messages accepted.
    pub received: u64,
    /// Messages refused, by reason.
    pub rejected: BTreeMap<&'static str, u64>,
}

/// An address range, `10.0.0.0/8` or `2001:db8::/32`; a bare address is a
/// range of one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl FromStr for Cidr {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad =
            || format!("'{s}' is not an address range (10.0.0.0/8, 2001:db8::/32, 192.0.2.7)");
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (
                a.parse::<IpAddr>().map_err(|_| bad())?,
                Some(p.parse::<u8>().map_err(|_| bad())?),
            ),
            None => (s.parse::<IpAddr>().map_err(|_| bad())?, None),
        };
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(max);
        if prefix > max {
            return Err(bad());
        }
        // Peers are compared in their IPv4 form (see `contains`), so an
        // IPv4-mapped range is the IPv4 range it maps.
        if let (IpAddr::V6(v6), 96..) = (addr, prefix) {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return Ok(Cidr {
                    addr: v4.into(),
                    prefix: prefix - 96,
                });
            }
        }
        Ok(Cidr { addr, prefix })
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl Cidr {
    pub fn contains(&self, ip: IpAddr) -> bool {
        // A dual-stack socket reports IPv4 peers as IPv4-mapped IPv6.
        match (self.addr, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// A `rejected` line (`--log-rejects`).
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename = "rejected")]
pub struct Rejected {
    pub reason: &'static str,
    pub from: Option<SocketAddr>,
    /// Lines not printed since the previous one (rate limit).
    #[serde(skip_serializing_if = "is_zero")]
    pub suppressed: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// `rejected` lines printed per second at most: a flood of garbage must
/// not become a flood of output.
const LOG_PER_SECOND: usize = 10;

/// The gate every datagram passes.
pub struct Intake {
    pub codec: Codec,
    allow: Vec<Cidr>,
    pub counters: Counters,
    log: bool,
    /// When the `rejected` lines of the last second were printed, oldest
    /// first: at most [`LOG_PER_SECOND`] of them.
    logged: VecDeque<Millis>,
    suppressed: u64,
    /// `rejected` lines waiting to be printed.
    pub pending: Vec<Rejected>,
    /// Where counts are exported too (`--metrics`).
    pub metrics: Option<Metrics>,
    /// Answers not sent yet: a batch of requests is answered with one
    /// system call ([`Intake::send_answers`]), not one per answer.
    answers: Outbox,
}

impl Intake {
    /// `allow` empty: every source. `log`: produce `rejected` lines.
    pub fn new(codec: Codec, allow: Vec<Cidr>, log: bool) -> Self {
        Intake {
            codec,
            allow,
            counters: Counters::default(),
            log,
            logged: VecDeque::new(),
            suppressed: 0,
            pending: Vec::new(),
            answers: Outbox::default(),
            metrics: None,
        }
    }

    /// A datagram as a message, or None (counted, maybe logged).
    pub fn open<'a>(
        &mut self,
        datagram: &'a [u8],
        from: SocketAddr,
        now: Millis,
    ) -> Option<Message<'a>> {
        self.admit(from, now, |codec| codec.decode(datagram))
    }

    /// A request as a message, or None, as [`Intake::open`] says; read
    /// without its padding ([`Codec::decode_unpadded`], into `scratch`).
    pub fn open_request<'a>(
        &mut self,
        datagram: &'a [u8],
        scratch: &'a mut Vec<u8>,
        from: SocketAddr,
        now: Millis,
    ) -> Option<Message<'a>> {
        self.admit(from, now, |codec| codec.decode_unpadded(datagram, scratch))
    }

    /// What `decode` makes of a datagram from `from`, if it is allowed.
    fn admit<'a>(
        &mut self,
        from: SocketAddr,
        now: Millis,
        decode: impl FnOnce(&Codec) -> Result<Message<'a>, Reject>,
    ) -> Option<Message<'a>> {
        if !self.allow.is_empty() && !self.allow.iter().any(|c| c.contains(from.ip())) {
            self.reject(Reject::NotAllowed, Some(from), now);
            return None;
        }
        match decode(&self.codec) {
            Ok(msg) => Some(msg),
            Err(why) => {
                self.reject(why, Some(from), now);
                None
            }
        }
    }

    /// Counts (and maybe logs) a refusal, here or at a later stage (a
    /// replay, a view from a stranger).
    pub fn reject(&mut self, why: Reject, from: Option<SocketAddr>, now: Millis) {
        *self.counters.rejected.entry(why.as_str()).or_default() += 1;
        if let Some(m) = &self.metrics {
            m.rejected(why.as_str());
        }
        if !self.log {
            return;
        }
        // The limit holds in every second, not only in seconds counted
        // from a window's start: such windows let a full second's lines end
        // one window and as many start the next.
        while self
            .logged
            .front()
            .is_some_and(|&t| now.saturating_sub(t) >= 1000)
        {
            self.logged.pop_front();
        }
        if self.logged.len() >= LOG_PER_SECOND {
            self.suppressed += 1;
            return;
        }
        self.logged.push_back(now);
        self.pending.push(Rejected {
            reason: why.as_str(),
            from,
            suppressed: std::mem::take(&mut self.suppressed),
        });
    }

    pub fn accepted(&mut self) {
        self.counters.received += 1;
        if let Some(m) = &self.metrics {
            m.received();
        }
    }

    /// Answers a request of `asked_len` bytes from `to` with `msg` (encoded
    /// into `buf`), sent with the next [`Intake::send_answers`]. An answer
    /// larger than the request is not sent (false), signed or not: no
    /// receiver is an amplifier for a spoofed source address, nor for a
    /// replayed signed request.
    pub fn answer(
        &mut self,
        buf: &mut Vec<u8>,
        msg: &Message<'_>,
        to: SocketAddr,
        asked_len: usize,
    ) -> bool {
        if self.codec.encode(msg, buf).is_err() || buf.len() > asked_len {
            return false;
        }
        self.answers.push(buf, to);
        true
    }

    /// Sends the answers given since the last call, best effort: a peer
    /// that went away must not stop the receiver.
    pub fn send_answers(&mut self, socket: &UdpSocket) {
        if !self.answers.is_empty() {
            self.answers.send(socket);
        }
    }
}

#[cfg(test)]
mod tests;
