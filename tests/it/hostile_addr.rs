//! Addresses as an adversary, or an ordinary day, makes them: a name with
//! an address that takes beats and one that drops them silently, whose
//! first address is refused by a forged ICMP error or by a listener's
//! restart; a dual-stack `localhost` before a listener on 0.0.0.0; and a
//! listener with two addresses, beaten to at the second. Each in network
//! namespaces of its own (root and `ip`; skipped loudly without them),
//! where the test sets the addresses and the hosts file.

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::harness::{test_name, wall_ms, Netns, Running, TempDir};

const KEY: &str = "hostile-addr-test-key-0123456789";
/// The listener's port in every namespace of these tests.
const PORT: u16 = 26722;
/// Where `monitor` is the listener: first in the resolver's order.
const LISTENER: Ipv4Addr = Ipv4Addr::LOCALHOST;
/// The other address of `monitor`: a socket that takes datagrams and
/// never reads them, an address that drops beats silently (a firewall, a
/// host that is gone) and so is never refused.
const SILENT: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);

/// A namespace where `monitor` resolves to [`LISTENER`], then [`SILENT`]
/// (the address bound there is dropped with it).
fn monitor_and_a_silent_address(test: &str) -> Option<(Netns, UdpSocket)> {
    let ns = Netns::plain(test)?;
    ns.hosts(&format!("{LISTENER} monitor\n{SILENT} monitor\n"));
    let silent = ns.within(|| UdpSocket::bind((SILENT, PORT)).unwrap());
    Some((ns, silent))
}

fn key_args(dir: &TempDir, keyed: bool) -> Vec<String> {
    match keyed {
        true => {
            let key = dir.key_file("key", &format!("{KEY}\n"), 0o600);
            vec!["--key-file".into(), key.to_str().unwrap().into()]
        }
        false => Vec::new(),
    }
}

/// A listener stopped and started again 2 s later (an upgrade, a
/// reboot of the service) refuses the beats meanwhile: the sender moves
/// on to the silent address, and must come back by itself. The time it
/// takes is printed: the figure of docs/security.md.
#[test]
fn a_listener_restart_strands_no_sender() {
    let Some((ns, _silent)) = monitor_and_a_silent_address(test_name!()) else {
        return;
    };
    let listen = format!("{LISTENER}:{PORT}");
    let mut listener = ns.bound("hb-listen", &listen, &[]);
    let send = ["--node", "n", "--every", "1s", "--to", "monitor"];
    let sender = Running::start(ns.tool("hb-send", &send), "hb-send in netns");
    listener.expect("up", |v| v["node"] == "n");
    drop(listener);
    sender.stderr_address(&format!(
        "monitor:{PORT} ({LISTENER}:{PORT}): Connection refused (os error 111); trying its next address, {SILENT}:{PORT}"
    ));
    std::thread::sleep(Duration::from_secs(2));
    let mut listener = ns.bound("hb-listen", &listen, &[]);
    let restarted = Instant::now();
    listener.expect("up", |v| v["node"] == "n");
    let back = restarted.elapsed();
    eprintln!("hb-send was back {back:?} after the listener's 2 s restart");
    // Retries after 1 beat, then 2, then every 4: at most 4 s here.
    assert!(back < Duration::from_secs(6), "back after {back:?}");
    sender.stderr_address(&format!(
        "monitor:{PORT} ({LISTENER}:{PORT}): sending again"
    ));
}

/// The ICMP port unreachable the kernel would send if nothing listened
/// on `to`, for a datagram from `from`: forged, as anyone who can send
/// the sender's host an IP packet with the listener's address can.
fn port_unreachable(from: SocketAddr, to: SocketAddr) -> Vec<u8> {
    let (SocketAddr::V4(from), SocketAddr::V4(to)) = (from, to) else {
        panic!("IPv4 only: {from}, {to}");
    };
    let mut quoted = vec![0x45, 0, 0, 28 + 100, 0, 0, 0x40, 0, 64, 17, 0, 0];
    quoted.extend(from.ip().octets());
    quoted.extend(to.ip().octets());
    let sum = checksum(&quoted);
    quoted[10..12].copy_from_slice(&sum.to_be_bytes());
    quoted.extend(from.port().to_be_bytes());
    quoted.extend(to.port().to_be_bytes());
    quoted.extend(108u16.to_be_bytes());
    quoted.extend([0, 0]);
    // Destination unreachable, port unreachable.
    let mut icmp = vec![3, 3, 0, 0, 0, 0, 0, 0];
    icmp.extend(quoted);
    let sum = checksum(&icmp);
    icmp[2..4].copy_from_slice(&sum.to_be_bytes());
    icmp
}

/// The Internet checksum (RFC 1071).
fn checksum(bytes: &[u8]) -> u16 {
    let mut sum: u32 = bytes
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// One forged ICMP error, which no key signs, for a beat that did arrive:
/// the sender tries the silent address, then its listener again, and the
/// listener never loses it, with a key or without.
#[test]
fn one_forged_icmp_error_strands_no_sender() {
    for keyed in [false, true] {
        let Some((ns, _silent)) = monitor_and_a_silent_address(test_name!()) else {
            return;
        };
        let dir = TempDir::new();
        let key = key_args(&dir, keyed);
        let key: Vec<&str> = key.iter().map(String::as_str).collect();
        let listen = format!("{LISTENER}:{PORT}");
        let mut args = vec!["--beats", "--misses", "5"];
        args.extend(&key);
        let mut listener = ns.bound("hb-listen", &listen, &args);
        let mut send = vec!["--node", "n", "--every", "100ms", "--to", "monitor"];
        send.extend(&key);
        let sender = Running::start(ns.tool("hb-send", &send), "hb-send in netns");
        let up = listener.expect("up", |v| v["node"] == "n");
        let from: SocketAddr = up["addr"].as_str().unwrap().parse().unwrap();
        let icmp = port_unreachable(from, SocketAddr::from((LISTENER, PORT)));
        let forged = wall_ms();
        ns.within(|| {
            use socket2::{Domain, Protocol, Socket, Type};
            let raw = Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::ICMPV4)).unwrap();
            let to = SocketAddr::from((from.ip().to_canonical(), 0));
            raw.send_to(&icmp, &to.into()).unwrap();
        });
        sender.stderr_address(&format!(
            "({LISTENER}:{PORT}): Connection refused (os error 111); trying its next address"
        ));
        // Two seconds of beats after it, four times the deadline.
        listener.expect("beat", |v| {
            v["node"] == "n" && v["ts_ms"].as_u64().unwrap() > forged + 2000
        });
        let downs = listener.seen_of("down", "n");
        assert!(downs.is_empty(), "keyed: {keyed}: {downs:?}");
    }
}

/// hb-send --once to `localhost`, which Debian's hosts file makes `::1`
/// first: with a listener on 0.0.0.0 alone, `::1` refuses the beat, which
/// goes on to 127.0.0.1 and arrives; with no listener at all, both
/// refuse it, and the exit code says so.
#[test]
fn once_through_a_dual_stack_localhost_reaches_an_ipv4_listener() {
    let Some(ns) = Netns::plain(test_name!()) else {
        return;
    };
    ns.hosts("127.0.0.1 localhost\n::1 localhost ip6-localhost ip6-loopback\n");
    let once = [
        "--node",
        "once",
        "--once",
        "--every",
        "1s",
        "--to",
        "localhost",
    ];
    let out = ns.tool("hb-send", &once).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "no listener: {stderr}");
    assert!(
        stderr.contains("1 of 1 beats could not be sent to every target"),
        "{stderr}"
    );
    let mut listener = ns.bound("hb-listen", &format!("0.0.0.0:{PORT}"), &[]);
    let out = ns.tool("hb-send", &once).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "localhost:{PORT} ([::1]:{PORT}): Connection refused"
        )),
        "the resolver's first address is ::1: {stderr}"
    );
    let up = listener.expect("up", |v| v["node"] == "once");
    assert!(
        up["addr"].as_str().unwrap().starts_with("127.0.0.1:"),
        "{up}"
    );
}

/// A listener with two addresses, beaten to at its second: the route back
/// to the node leaves from its first, yet the node answers only the
/// address it beats to. A node suspended for a moment answers the probes
/// that waited (the suspicion is refuted, never a down); a node killed is
/// down at once, its closed port reported as before. On an IPv4 socket
/// and on a dual-stack one.
#[test]
fn a_multi_homed_listener_asks_from_the_address_beaten_to() {
    for listen in ["0.0.0.0", "[::]"] {
        let (Some(node), Some(monitor)) = (Netns::plain(test_name!()), Netns::plain(test_name!()))
        else {
            return;
        };
        node.link(
            &monitor,
            &["10.26.0.1/24"],
            &["10.26.0.2/24", "10.26.0.3/24"],
        );
        let listen = format!("{listen}:{PORT}");
        let mut listener = monitor.bound("hb-listen", &listen, &["--misses", "10"]);
        let send = ["--node", "multi", "--every", "100ms", "--to", "10.26.0.3"];
        let sender = Running::start(node.tool("hb-send", &send), "hb-send in netns");
        listener.expect("up", |v| v["node"] == "multi");
        // Woken, the sender may send the beat it owes before it answers
        // the probes waiting in its socket: then the beat, not an answer,
        // ends the suspicion. A few tries; answers never read from the
        // right address would never refute.
        let mut refuted = None;
        for _ in 0..5 {
            let stopped = wall_ms();
            sender.signal("STOP");
            listener.expect_after("suspect", stopped, |v| v["node"] == "multi");
            // Probes every 50 ms wait in its socket meanwhile.
            std::thread::sleep(Duration::from_millis(300));
            sender.signal("CONT");
            let back = listener.expect("up", |v| v["node"] == "multi" && v["was"] == "suspect");
            if back["refuted"] == true {
                refuted = Some(back);
                break;
            }
        }
        assert!(refuted.is_some(), "on {listen}: {}", listener.history());
        assert!(
            listener.seen_of("down", "multi").is_empty(),
            "{}",
            listener.history()
        );
        let killed = wall_ms();
        sender.signal("KILL");
        let down: Value = listener.expect_after("down", killed, |v| v["node"] == "multi");
        assert_eq!(down["cause"], "unreachable", "on {listen}: {down}");
    }
}
