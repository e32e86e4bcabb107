#![no_main]
//! Any text as an `--allow` range (`intake::Cidr`): parsing never panics;
//! a range prints (`Display`) as `ADDR/PREFIX` with a prefix within the
//! family's width, which parses back to the same range; and the range
//! contains its own address and the address with its last host bit
//! flipped (unless they are IPv4-mapped: such peers count as IPv4), not
//! the one with its last network bit flipped, and (an IPv4 range) the
//! IPv4-mapped IPv6 form of its address, as a dual-stack socket reports it.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use hb::intake::Cidr;
use libfuzzer_sys::fuzz_target;

/// `ip` with bit `bit` (0: the lowest) flipped.
fn flip(ip: IpAddr, bit: u32) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => Ipv4Addr::from(u32::from(v4) ^ (1 << bit)).into(),
        IpAddr::V6(v6) => Ipv6Addr::from(u128::from(v6) ^ (1 << bit)).into(),
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(range) = text.parse::<Cidr>() else {
        return;
    };
    let shown = range.to_string();
    assert_eq!(shown.parse::<Cidr>(), Ok(range), "{text:?} -> {shown}");
    let (addr, prefix) = shown.split_once('/').expect("ADDR/PREFIX");
    let addr: IpAddr = addr.parse().expect("an address");
    let prefix: u32 = prefix.parse().expect("a prefix");
    let width = if addr.is_ipv4() { 32 } else { 128 };
    assert!(prefix <= width, "{shown}");
    // A dual-stack socket's IPv4 peers count by their IPv4 address: an
    // IPv6 range (an IPv4-mapped one of a prefix under 96, say ::/0) holds
    // no IPv4-mapped address.
    let peer = match addr {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().is_none(),
        IpAddr::V4(_) => true,
    };
    assert_eq!(range.contains(addr), peer, "{shown} and its own address");
    if prefix < width {
        assert_eq!(range.contains(flip(addr, 0)), peer, "{shown}: host bit");
    }
    if prefix > 0 {
        assert!(
            !range.contains(flip(addr, width - prefix)),
            "{shown}: network bit"
        );
    }
    if let IpAddr::V4(v4) = addr {
        assert!(
            range.contains(v4.to_ipv6_mapped().into()),
            "{shown}: mapped"
        );
    }
});
