use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::time::Duration;

use super::{note_destinations, send_from, Local, Locals, MOST_LOCALS};
use crate::net::{bind_udp, Receiver, STOP_CHECK};

/// 127.0.0.2 is this host's as much as 127.0.0.1 (all of 127/8 is), but
/// the kernel sends to 127.0.0.1 from 127.0.0.1: two local addresses, as
/// a listener with a second one has.
const SECOND: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);

/// A listening socket on the wildcard address of `family`, that notes
/// where datagrams were sent to.
fn listening(wildcard: IpAddr) -> UdpSocket {
    let socket = bind_udp(SocketAddr::new(wildcard, 0)).unwrap();
    note_destinations(&socket).unwrap();
    socket
}

/// The first datagram `socket` receives: where it was sent to, and from.
fn received(socket: &UdpSocket) -> (Option<IpAddr>, SocketAddr) {
    let mut receiver = Receiver::default();
    for _ in 0..40 {
        receiver.fill(socket, STOP_CHECK).unwrap();
        if let Some(got) = receiver.timed().next() {
            return (got.to, got.from);
        }
    }
    panic!("nothing received");
}

#[test]
fn a_datagram_says_which_local_address_it_was_sent_to() {
    for wildcard in [Ipv4Addr::UNSPECIFIED.into(), Ipv6Addr::UNSPECIFIED.into()] {
        let socket = listening(wildcard);
        let port = socket.local_addr().unwrap().port();
        let node = UdpSocket::bind("127.0.0.1:0").unwrap();
        for asked in [SECOND, Ipv4Addr::LOCALHOST] {
            node.send_to(b"beat", (asked, port)).unwrap();
            let (to, _) = received(&socket);
            assert_eq!(to, Some(asked.into()), "on {wildcard}");
        }
    }
    // IPv6's own words, where the machine has IPv6.
    let Ok(node) = UdpSocket::bind("[::1]:0") else {
        return;
    };
    let socket = listening(Ipv6Addr::UNSPECIFIED.into());
    let port = socket.local_addr().unwrap().port();
    node.send_to(b"beat", (Ipv6Addr::LOCALHOST, port)).unwrap();
    assert_eq!(received(&socket).0, Some(Ipv6Addr::LOCALHOST.into()));
}

/// A socket that did not ask hears nothing of destinations.
#[test]
fn a_socket_that_did_not_ask_is_told_no_destination() {
    let socket = bind_udp("0.0.0.0:0".parse().unwrap()).unwrap();
    let port = socket.local_addr().unwrap().port();
    let node = UdpSocket::bind("127.0.0.1:0").unwrap();
    node.send_to(b"beat", (SECOND, port)).unwrap();
    assert_eq!(received(&socket).0, None);
}

/// The answer to a datagram sent to the second address comes from it,
/// where the kernel alone would send it from 127.0.0.1; on an IPv4 socket
/// and on a dual-stack one, whose peer is IPv4-mapped.
#[test]
fn an_answer_comes_from_the_address_asked() {
    for wildcard in [Ipv4Addr::UNSPECIFIED.into(), Ipv6Addr::UNSPECIFIED.into()] {
        let socket = listening(wildcard);
        let port = socket.local_addr().unwrap().port();
        let node = UdpSocket::bind("127.0.0.1:0").unwrap();
        node.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        node.send_to(b"beat", (SECOND, port)).unwrap();
        let (to, from) = received(&socket);
        send_from(&socket, b"probe", from, to).unwrap();
        let mut buf = [0u8; 16];
        let (len, source) = node.recv_from(&mut buf).unwrap();
        assert_eq!(&buf[..len], b"probe");
        assert_eq!(source, SocketAddr::from((SECOND, port)), "on {wildcard}");
        // Without a source named, the kernel's choice: the other address.
        send_from(&socket, b"probe", from, None).unwrap();
        let (_, source) = node.recv_from(&mut buf).unwrap();
        assert_eq!(source, SocketAddr::from((Ipv4Addr::LOCALHOST, port)));
    }
}

/// An address that is not this host's (any more) does not lose the
/// datagram: it leaves from the kernel's choice.
#[test]
fn an_address_not_this_hosts_sends_from_the_kernels_choice() {
    let socket = listening(Ipv4Addr::UNSPECIFIED.into());
    let port = socket.local_addr().unwrap().port();
    let node = UdpSocket::bind("127.0.0.1:0").unwrap();
    node.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let gone = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
    let to = node.local_addr().unwrap();
    send_from(&socket, b"probe", to, Some(gone)).unwrap();
    let mut buf = [0u8; 16];
    let (_, source) = node.recv_from(&mut buf).unwrap();
    assert_eq!(source, SocketAddr::from((Ipv4Addr::LOCALHOST, port)));
}

#[test]
fn locals_are_numbered_once_each_and_only_so_many() {
    let mut locals = Locals::default();
    let a: IpAddr = "10.0.0.1".parse().unwrap();
    let b: IpAddr = "2001:db8::1".parse().unwrap();
    assert_eq!(locals.number(None), Local::default());
    let (na, nb) = (locals.number(Some(a)), locals.number(Some(b)));
    assert_ne!(na, nb);
    assert_eq!(locals.number(Some(a)), na);
    assert_eq!(locals.address(na), Some(a));
    assert_eq!(locals.address(nb), Some(b));
    assert_eq!(locals.address(Local::default()), None);
    for i in 0..2 * MOST_LOCALS {
        locals.number(Some(IpAddr::V4(Ipv4Addr::from(0x0a01_0000 + i as u32))));
    }
    let past = IpAddr::V4(Ipv4Addr::new(10, 2, 0, 1));
    assert_eq!(locals.number(Some(past)), Local::default(), "past the most");
    assert_eq!(locals.address(na), Some(a), "the first ones stay");
}
