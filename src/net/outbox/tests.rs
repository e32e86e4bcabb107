use std::net::Ipv6Addr;
use std::time::Duration;

use super::*;

fn receiver() -> UdpSocket {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    socket
}

/// Every datagram arrives whole, in order, where it was sent; the queue is
/// empty after.
#[test]
fn a_batch_arrives_whole_and_in_order() {
    let (a, b) = (receiver(), receiver());
    let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut outbox = Outbox::default();
    // More than one system call's worth would be the kernel's choice: many
    // datagrams, of different sizes.
    for i in 0..200u32 {
        let to = if i % 2 == 0 { &a } else { &b };
        let datagram = vec![b'x'; 1 + i as usize];
        outbox.push(&datagram, to.local_addr().unwrap());
    }
    assert_eq!(outbox.len(), 200);
    assert!(outbox.send(&sender).is_empty());
    assert!(outbox.is_empty());
    let mut buf = [0; 512];
    for i in 0..200usize {
        let to = if i % 2 == 0 { &a } else { &b };
        let (len, from) = to.recv_from(&mut buf).unwrap();
        assert_eq!((len, from), (1 + i, sender.local_addr().unwrap()));
    }
}

/// A datagram the kernel refuses (here an IPv6 address for an IPv4
/// socket) is said by its place; those after it are still sent.
#[test]
fn a_refused_datagram_is_said_and_the_rest_sent() {
    let to = receiver();
    let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut outbox = Outbox::default();
    outbox.push(b"one", to.local_addr().unwrap());
    outbox.push(b"refused", SocketAddr::from((Ipv6Addr::LOCALHOST, 9)));
    outbox.push(b"three", to.local_addr().unwrap());
    let failed = outbox.send(&sender);
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].0, 1);
    let mut buf = [0; 64];
    for want in [&b"one"[..], b"three"] {
        let (len, _) = to.recv_from(&mut buf).unwrap();
        assert_eq!(&buf[..len], want);
    }
}
