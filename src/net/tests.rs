use super::*;

fn hp(host: &str, port: u16) -> HostPort {
    HostPort {
        host: host.into(),
        port,
    }
}

#[test]
fn a_batch_holds_every_queued_datagram_with_its_sender() {
    let receiver_socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let to = receiver_socket.local_addr().unwrap();
    let (a, b) = (
        UdpSocket::bind("127.0.0.1:0").unwrap(),
        UdpSocket::bind("127.0.0.1:0").unwrap(),
    );
    let count = BATCH + 5;
    for i in 0..count {
        let from = if i % 2 == 0 { &a } else { &b };
        from.send_to(format!("datagram {i}").as_bytes(), to)
            .unwrap();
    }
    let mut receiver = Receiver::default();
    let mut got = Vec::new();
    while got.len() < count {
        let batch = receiver.recv(&receiver_socket, STOP_CHECK).unwrap();
        let batch: Vec<_> = batch.map(|(d, from)| (d.to_vec(), from)).collect();
        assert!(!batch.is_empty() && batch.len() <= BATCH);
        got.extend(batch);
    }
    for (i, (datagram, from)) in got.iter().enumerate() {
        assert_eq!(datagram, format!("datagram {i}").as_bytes());
        let sender = if i % 2 == 0 { &a } else { &b };
        assert_eq!(*from, sender.local_addr().unwrap());
    }
    // Nothing left: an empty batch once the wait is over.
    let wait = Duration::from_millis(5);
    assert_eq!(receiver.recv(&receiver_socket, wait).unwrap().count(), 0);
}

#[test]
fn ipv6_and_ipv4_mapped_senders_keep_their_addresses() {
    let receiver_socket = bind_udp((Ipv6Addr::UNSPECIFIED, 0).into()).unwrap();
    let port = receiver_socket.local_addr().unwrap().port();
    let v6 = UdpSocket::bind("[::1]:0").unwrap();
    let v4 = UdpSocket::bind("127.0.0.1:0").unwrap();
    v6.send_to(b"six", ("::1", port)).unwrap();
    v4.send_to(b"four", ("127.0.0.1", port)).unwrap();
    let mut receiver = Receiver::default();
    let mut got = Vec::new();
    while got.len() < 2 {
        let batch = receiver.recv(&receiver_socket, STOP_CHECK).unwrap();
        got.extend(batch.map(|(d, from)| (d.to_vec(), from)));
    }
    assert_eq!(got[0], (b"six".to_vec(), v6.local_addr().unwrap()));
    let v4_addr = v4.local_addr().unwrap();
    let mapped = SocketAddr::from((Ipv4Addr::LOCALHOST.to_ipv6_mapped(), v4_addr.port()));
    assert_eq!(got[1], (b"four".to_vec(), mapped));
}

#[test]
fn an_oversized_datagram_arrives_cut_but_still_too_large() {
    let receiver_socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let to = receiver_socket.local_addr().unwrap();
    let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
    sender.send_to(&[b'x'; 60_000], to).unwrap();
    sender.send_to(b"small", to).unwrap();
    let mut receiver = Receiver::default();
    let mut lens = Vec::new();
    while lens.len() < 2 {
        lens.extend(
            receiver
                .recv(&receiver_socket, STOP_CHECK)
                .unwrap()
                .map(|(d, _)| d.len()),
        );
    }
    assert!(lens[0] > crate::wire::MAX_DATAGRAM, "{lens:?}");
    assert_eq!(lens[1], 5);
}

#[test]
fn parses_the_usual_forms() {
    let d = 26722;
    assert_eq!(HostPort::parse("web-1", d).unwrap(), hp("web-1", d));
    assert_eq!(HostPort::parse("web-1:99", d).unwrap(), hp("web-1", 99));
    assert_eq!(HostPort::parse("10.0.0.1:5", d).unwrap(), hp("10.0.0.1", 5));
    assert_eq!(HostPort::parse("::1", d).unwrap(), hp("::1", d));
    assert_eq!(HostPort::parse("[::1]:7", d).unwrap(), hp("::1", 7));
    assert_eq!(HostPort::parse("[::1]", d).unwrap(), hp("::1", d));
    assert_eq!(
        HostPort::parse("[::1]:7", d).unwrap().to_string(),
        "[::1]:7"
    );
}

#[test]
fn refuses_nonsense() {
    for bad in [
        "",
        ":",
        "a:b",
        "a:70000",
        "[::1",
        "[x]:1",
        "1::2::3:4",
        "a b:1",
    ] {
        assert!(HostPort::parse(bad, 1).is_err(), "{bad}");
    }
    assert!("web-1".parse::<HostPort>().is_err(), "port required");
    assert_eq!("0.0.0.0:0".parse::<HostPort>().unwrap().port, 0);
}

/// A bare IPv6 address that ends in ":0" names no port (found by the
/// `host_port` fuzz target): where a port is required it is refused.
#[test]
fn a_bare_ipv6_address_ending_in_zero_names_no_port() {
    for bare in ["::0", "fe80::1:0"] {
        assert!(bare.parse::<HostPort>().is_err(), "{bare}");
    }
    assert_eq!("[::]:0".parse::<HostPort>().unwrap(), hp("::", 0));
}

#[test]
fn resolves_loopback() {
    let a = HostPort::parse("127.0.0.1:9", 0)
        .unwrap()
        .resolve()
        .unwrap();
    assert_eq!(a, "127.0.0.1:9".parse().unwrap());
}

#[test]
fn mixed_families_share_one_dual_stack_socket() {
    let targets = ["127.0.0.1:9".parse().unwrap(), "[::1]:9".parse().unwrap()];
    let (socket, mapped) = sending_socket(&targets).unwrap();
    assert!(socket.local_addr().unwrap().is_ipv6());
    assert_eq!(mapped[0], "[::ffff:127.0.0.1]:9".parse().unwrap());
    assert_eq!(mapped[1], targets[1]);
    let (socket, same) = sending_socket(&targets[..1]).unwrap();
    assert!(socket.local_addr().unwrap().is_ipv4());
    assert_eq!(same, &targets[..1]);
}

#[test]
fn dual_stack_wildcard_binds() {
    let s = bind_udp("[::]:0".parse().unwrap()).unwrap();
    assert!(s.local_addr().unwrap().is_ipv6());
}
