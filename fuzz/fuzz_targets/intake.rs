#![no_main]
//! The gate every receiver puts datagrams through (`intake::Intake`), fed a
//! sequence of datagrams from sources inside and outside an allow list,
//! refusals of later stages (a replay, a view from a stranger) and clock
//! steps, with `--log-rejects` on or off and with or without a key.
//!
//! - Every datagram is accepted or refused, for the right reason: a source
//!   outside every range is `not-allowed` (checked against a bit-by-bit
//!   reading of the ranges), an allowed one is judged by the codec. The
//!   counters add up to what was fed.
//! - `rejected` lines: none without `--log-rejects`; with it, never more
//!   than 10 within any second, and once the clock has moved a second past
//!   the last line, the next one's `suppressed` accounts for every refusal
//!   not printed.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use arbitrary::Arbitrary;
use hb::clock::Millis;
use hb::intake::{Cidr, Intake};
use hb::wire::Reject;
use hb_fuzz::codec;
use libfuzzer_sys::fuzz_target;

/// `rejected` lines per second at most, as the documentation promises
/// (`--log-rejects`: "at most 10 a second").
const LINES_PER_SECOND: usize = 10;

#[derive(Arbitrary, Debug)]
struct Input {
    log: bool,
    keyed: bool,
    allow: Vec<Range>,
    ops: Vec<Op>,
}

/// An allow-list entry: an address and a prefix (taken modulo the family's
/// width plus one, so every prefix length occurs).
#[derive(Arbitrary, Debug)]
struct Range {
    addr: Addr,
    prefix: u8,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Addr {
    V4([u8; 4]),
    V6([u8; 16]),
}

impl Addr {
    fn ip(self) -> IpAddr {
        match self {
            Addr::V4(b) => Ipv4Addr::from(b).into(),
            Addr::V6(b) => Ipv6Addr::from(b).into(),
        }
    }
}

#[derive(Arbitrary, Debug)]
enum Op {
    Datagram {
        from: Source,
        payload: Payload,
    },
    /// A refusal decided after the intake (replay, unknown peer, ...).
    Later {
        reason: u8,
        from: Option<Source>,
    },
    /// A step of up to about a second (5 ms units), so that refusals fall
    /// on both sides of a second's edge.
    Step {
        ms5: u8,
    },
    /// A long quiet spell.
    Wait {
        seconds: u8,
    },
}

/// Where a datagram comes from: near one of the allowed ranges (its address
/// with some bits flipped), or anywhere; maybe as an IPv4-mapped IPv6
/// address, as a dual-stack socket reports IPv4 peers.
#[derive(Arbitrary, Debug)]
struct Source {
    near: Option<u8>,
    flip: u128,
    anywhere: Addr,
    mapped: bool,
    port: u16,
}

#[derive(Arbitrary, Debug)]
enum Payload {
    /// A valid beat (signed when keyed).
    Beat {
        node: u8,
    },
    Raw(Vec<u8>),
}

/// Whether `ip` is in `net`/`prefix`, comparing one bit at a time. IPv4
/// peers count by their IPv4 address, also when a dual-stack socket shows
/// them IPv4-mapped, and an IPv4-mapped range of a prefix of 96 or more is
/// the IPv4 range it maps: an IPv4 range holds IPv4 addresses, an IPv6
/// range IPv6 ones.
fn in_range(net: IpAddr, prefix: u8, ip: IpAddr) -> bool {
    let (net, prefix) = match net {
        IpAddr::V6(v6) if prefix >= 96 => match v6.to_ipv4_mapped() {
            Some(v4) => (IpAddr::V4(v4), prefix - 96),
            None => (net, prefix),
        },
        _ => (net, prefix),
    };
    let (net, ip, width) = match (net, ip.to_canonical()) {
        (IpAddr::V4(n), IpAddr::V4(i)) => (u128::from(u32::from(n)), u128::from(u32::from(i)), 32),
        (IpAddr::V6(n), IpAddr::V6(i)) => (u128::from(n), u128::from(i), 128),
        _ => return false,
    };
    (0..u32::from(prefix)).all(|k| {
        let bit = width - 1 - k;
        (net >> bit) & 1 == (ip >> bit) & 1
    })
}

fn source(from: &Source, allow: &[(IpAddr, u8)]) -> SocketAddr {
    let ip = match (from.near, allow.is_empty()) {
        (Some(i), false) => match allow[usize::from(i) % allow.len()].0 {
            IpAddr::V4(net) => {
                // Flipping low bits only, mostly: a flip of 0 is the range's own address.
                let flip = (from.flip as u32) >> ((from.flip >> 120) as u32 % 32);
                IpAddr::V4(Ipv4Addr::from(u32::from(net) ^ flip))
            }
            IpAddr::V6(net) => {
                let flip = from.flip >> ((from.flip & 0x7f) as u32);
                IpAddr::V6(Ipv6Addr::from(u128::from(net) ^ flip))
            }
        },
        _ => from.anywhere.ip(),
    };
    let ip = match (ip, from.mapped) {
        (IpAddr::V4(v4), true) => IpAddr::V6(v4.to_ipv6_mapped()),
        _ => ip,
    };
    SocketAddr::new(ip, from.port)
}

fn total(intake: &Intake) -> u64 {
    intake.counters.received + intake.counters.rejected.values().sum::<u64>()
}

fuzz_target!(|input: Input| {
    let mut allow = Vec::new();
    let mut ranges = Vec::new();
    for r in input.allow.iter().take(8) {
        let ip = r.addr.ip();
        let prefix = r.prefix % if ip.is_ipv4() { 33 } else { 129 };
        let cidr: Cidr = format!("{ip}/{prefix}")
            .parse()
            .expect("a valid range parses");
        allow.push((ip, prefix));
        ranges.push(cidr);
    }
    let codec = codec(input.keyed);
    let mut intake = Intake::new(codec.clone(), ranges, input.log);

    let mut now: Millis = 0;
    let mut fed = 0u64;
    // Every `rejected` line so far: the time it was produced, and what it
    // said was suppressed before it.
    let mut lines: Vec<Millis> = Vec::new();
    let mut suppressed = 0u64;
    for op in input.ops {
        let before = intake.counters.rejected.clone();
        match op {
            Op::Datagram { from, payload } => {
                let from = source(&from, &allow);
                let datagram = match payload {
                    Payload::Beat { node } => {
                        let mut beat =
                            format!(r#"{{"type":"beat","node":"n{node}"}}"#).into_bytes();
                        codec.seal(&mut beat).expect("a short beat seals");
                        beat
                    }
                    Payload::Raw(bytes) => bytes,
                };
                fed += 1;
                let allowed = allow.is_empty()
                    || allow
                        .iter()
                        .any(|&(net, prefix)| in_range(net, prefix, from.ip()));
                let expected = if allowed {
                    codec.decode(&datagram).err()
                } else {
                    Some(Reject::NotAllowed)
                };
                let opened = intake.open(&datagram, from, now).is_some();
                if opened {
                    intake.accepted();
                }
                assert_eq!(opened, expected.is_none(), "from {from}, {datagram:?}");
                if let Some(why) = expected {
                    let count = |m: &std::collections::BTreeMap<&str, u64>| {
                        m.get(why.as_str()).copied().unwrap_or(0)
                    };
                    assert_eq!(
                        count(&intake.counters.rejected),
                        count(&before) + 1,
                        "{why}"
                    );
                }
            }
            Op::Later { reason, from } => {
                let from = from.map(|f| source(&f, &allow));
                let why = Reject::ALL[usize::from(reason) % Reject::ALL.len()];
                fed += 1;
                intake.reject(why, from, now);
            }
            Op::Step { ms5 } => now += 5 * Millis::from(ms5),
            Op::Wait { seconds } => now += 1000 * Millis::from(seconds),
        }
        assert_eq!(total(&intake), fed, "counters add up to what was fed");
        let printed = std::mem::take(&mut intake.pending);
        assert!(
            input.log || printed.is_empty(),
            "lines without --log-rejects"
        );
        for line in printed {
            lines.push(now);
            suppressed += line.suppressed;
        }
        let recent = lines.iter().rev().take_while(|&&t| now - t < 1000).count();
        assert!(
            recent <= LINES_PER_SECOND,
            "{recent} rejected lines within a second (at {now} ms: {:?})",
            &lines[lines.len() - recent..]
        );
    }
    if input.log {
        // A second after the last line, a refusal is printed again, and
        // says how many were not.
        now += 1000;
        intake.reject(Reject::BadJson, None, now);
        let last = intake.pending.pop().expect("a line after a quiet second");
        let rejected: u64 = intake.counters.rejected.values().sum();
        assert_eq!(
            lines.len() as u64 + 1 + suppressed + last.suppressed,
            rejected,
            "every refusal is printed or counted as suppressed"
        );
    }
});
