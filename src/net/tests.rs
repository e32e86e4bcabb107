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

fn wall_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

/// The kernel says when each datagram arrived, not when it was read: a
/// datagram read long after it came still carries its arrival. (The
/// kernel turns its time stamps on a moment after the socket asks: the
/// first datagrams may be stamped when read.)
#[test]
fn datagrams_carry_their_arrival_time() {
    let socket = bind_udp("127.0.0.1:0".parse().unwrap()).unwrap();
    let to = socket.local_addr().unwrap();
    let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut receiver = Receiver::default();
    for _ in 0..100 {
        let before = wall_ns();
        sender.send_to(b"x", to).unwrap();
        let after = wall_ns();
        std::thread::sleep(Duration::from_millis(20));
        receiver.fill(&socket, STOP_CHECK).unwrap();
        let got: Vec<_> = receiver.timed().map(|d| d.arrived_ns).collect();
        let arrived = got[0].expect("an arrival time");
        if (before..=after).contains(&arrived) {
            return;
        }
    }
    panic!("no datagram carried its arrival time");
}

/// The kernel's count of datagrams dropped for want of room comes with the
/// first datagram queued after the drops.
#[test]
fn drops_for_want_of_room_are_counted() {
    let socket = bind_udp("127.0.0.1:0".parse().unwrap()).unwrap();
    socket2::SockRef::from(&socket)
        .set_recv_buffer_size(4096)
        .unwrap();
    let to = socket.local_addr().unwrap();
    let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
    for _ in 0..200 {
        sender.send_to(&[b'x'; 200], to).unwrap();
    }
    let mut receiver = Receiver::default();
    let mut read = 0;
    loop {
        let n = receiver.recv(&socket, Duration::ZERO).unwrap().count();
        read += n;
        if n == 0 {
            break;
        }
    }
    assert!(read < 200, "the buffer was meant to overflow");
    sender.send_to(b"after", to).unwrap();
    assert_eq!(receiver.recv(&socket, STOP_CHECK).unwrap().count(), 1);
    let dropped = receiver.dropped().expect("a drop count") as usize;
    assert_eq!(
        read + dropped,
        200,
        "every datagram read or counted dropped"
    );
}

/// A target needs a port something can be sent to: an explicit 0 is
/// refused, a missing one is the default.
#[test]
fn a_target_port_of_zero_is_refused() {
    for s in ["127.0.0.1:0", "[::1]:0", "monitor:0", "monitor:00"] {
        assert!(
            matches!(
                HostPort::parse_target(s, 26722),
                Err(AddrError::TargetPort(_))
            ),
            "{s}"
        );
        assert!(HostPort::parse_target(s, 0).is_err(), "{s}");
    }
    let hp = HostPort::parse_target("monitor", 0).unwrap();
    assert_eq!(hp.port, 0, "no port written: the caller's default");
    let hp = HostPort::parse_target("::0", 26722).unwrap();
    assert_eq!((hp.host.as_str(), hp.port), ("::", 26722));
}

#[test]
fn a_name_resolves_to_every_address_once() {
    let hp = HostPort::parse("localhost", 9).unwrap();
    let all = hp.resolve_all().unwrap();
    assert!(!all.is_empty());
    assert_eq!(hp.resolve().unwrap(), all[0]);
    for (i, a) in all.iter().enumerate() {
        assert!(!all[..i].contains(a), "{a} twice in {all:?}");
        assert!(a.ip().is_loopback());
    }
}

/// A sending socket asked to report undeliverable datagrams names the
/// closed port it sent to.
#[test]
fn a_closed_port_is_reported_with_its_address() {
    let closed = UdpSocket::bind("127.0.0.1:0").unwrap();
    let to = closed.local_addr().unwrap();
    drop(closed);
    let (socket, _) = sending_socket(&[to]).unwrap();
    unreachable::report(&socket).unwrap();
    let mut receiver = Receiver::default();
    let mut reports = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while reports.is_empty() && std::time::Instant::now() < deadline {
        // Loopback answers at once: most often before send_to returns.
        let _ = socket.send_to(b"{}", to);
        receiver
            .recv(&socket, Duration::from_millis(100))
            .unwrap()
            .for_each(drop);
        reports.extend(receiver.unreachable());
    }
    let report = reports.first().expect("the closed port was reported");
    assert_eq!(report.to, to);
    assert_eq!(report.error.kind(), std::io::ErrorKind::ConnectionRefused);
}
