use super::*;

fn cidr(s: &str) -> Cidr {
    s.parse().unwrap()
}

#[test]
fn ranges_contain_what_they_should() {
    assert!(cidr("10.0.0.0/8").contains("10.1.2.3".parse().unwrap()));
    assert!(!cidr("10.0.0.0/8").contains("11.0.0.1".parse().unwrap()));
    assert!(cidr("0.0.0.0/0").contains("192.0.2.1".parse().unwrap()));
    assert!(cidr("192.0.2.7").contains("192.0.2.7".parse().unwrap()));
    assert!(!cidr("192.0.2.7").contains("192.0.2.8".parse().unwrap()));
    assert!(
        cidr("127.0.0.0/8").contains("::ffff:127.0.0.1".parse().unwrap()),
        "mapped"
    );
    assert!(cidr("2001:db8::/32").contains("2001:db8:1::5".parse().unwrap()));
    assert!(!cidr("2001:db8::/32").contains("10.0.0.1".parse().unwrap()));
    assert!(cidr("::/0").contains("::1".parse().unwrap()));
    for bad in ["10.0.0.0/33", "x/8", "10.0.0.0/", "::/129", ""] {
        assert!(bad.parse::<Cidr>().is_err(), "{bad}");
    }
    assert_eq!(cidr("10.0.0.0/8").to_string(), "10.0.0.0/8");
}

#[test]
fn rejects_are_counted_and_logging_is_rate_limited() {
    let mut intake = Intake::new(Codec::default(), vec![cidr("127.0.0.0/8")], true);
    let stranger: SocketAddr = "192.0.2.1:9".parse().unwrap();
    for i in 0..25 {
        assert!(intake
            .open(br#"{"type":"beat","node":"a"}"#, stranger, i)
            .is_none());
    }
    assert_eq!(intake.counters.rejected["not-allowed"], 25);
    assert_eq!(intake.pending.len(), 10);
    // A second later, the next line says how many were not printed.
    intake.reject(Reject::BadJson, None, 1500);
    assert_eq!(intake.pending.last().unwrap().suppressed, 15);
    let local: SocketAddr = "127.0.0.1:9".parse().unwrap();
    assert!(intake
        .open(br#"{"type":"beat","node":"a"}"#, local, 1600)
        .is_some());
    assert!(intake.open(b"junk", local, 1600).is_none());
    assert_eq!(intake.counters.rejected["bad-json"], 2);
}

/// At most 10 lines in any second, across the edge of a second too (found
/// by the `intake` fuzz target: a limit counted per window of a second let
/// a window's lines end it and 10 more start the next).
#[test]
fn log_lines_stay_within_the_limit_in_every_second() {
    let mut intake = Intake::new(Codec::default(), Vec::new(), true);
    intake.reject(Reject::BadJson, None, 0);
    for _ in 0..9 {
        intake.reject(Reject::BadJson, None, 900);
    }
    assert_eq!(intake.pending.len(), 10);
    for _ in 0..10 {
        intake.reject(Reject::BadJson, None, 1000);
    }
    // The line at 0 is a second old; those at 900 are not.
    assert_eq!(intake.pending.len(), 11);
    intake.reject(Reject::BadJson, None, 1900);
    assert_eq!(intake.pending.len(), 12);
    assert_eq!(intake.pending.last().unwrap().suppressed, 9);
}

/// A range written in IPv4-mapped form is the IPv4 range it maps, since
/// peers are compared in their IPv4 form (found by the `cidr` fuzz target:
/// such a range contained nothing, not even its own address).
#[test]
fn an_ipv4_mapped_range_holds_its_ipv4_addresses() {
    let mapped = cidr("::ffff:127.0.0.1/104");
    assert_eq!(mapped, cidr("127.0.0.1/8"));
    for peer in ["::ffff:127.0.0.1", "127.1.2.3", "::ffff:127.9.9.9"] {
        assert!(mapped.contains(peer.parse().unwrap()), "{peer}");
    }
    assert!(!mapped.contains("10.0.0.1".parse().unwrap()));
    assert_eq!(cidr("::ffff:192.0.2.7"), cidr("192.0.2.7"));
}

/// Answers wait for the batch: none is sent before `send_answers`, then
/// each goes to its requester, and one larger than its request is never
/// queued.
#[test]
fn answers_go_together_and_never_larger_than_asked() {
    use std::net::UdpSocket;
    use std::time::Duration;

    let mut intake = Intake::new(Codec::default(), Vec::new(), false);
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let requester = UdpSocket::bind("127.0.0.1:0").unwrap();
    requester.set_nonblocking(true).unwrap();
    let to = requester.local_addr().unwrap();
    let ack = |seq| {
        Message::Ack(crate::wire::Ack {
            node: "web-1".into(),
            of: "db-1".into(),
            seq,
        })
    };
    let mut buf = Vec::new();
    assert!(intake.answer(&mut buf, &ack(1), to, 512));
    assert!(
        !intake.answer(&mut buf, &ack(2), to, 10),
        "larger than asked"
    );
    assert!(intake.answer(&mut buf, &ack(3), to, 512));
    let mut got = [0; 512];
    assert!(
        requester.recv(&mut got).is_err(),
        "sent before the batch ends"
    );
    intake.send_answers(&socket);
    requester.set_nonblocking(false).unwrap();
    requester
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    for seq in [1, 3] {
        let len = requester.recv(&mut got).unwrap();
        let Ok(Message::Ack(a)) = crate::wire::decode(&got[..len]) else {
            panic!("not an ack")
        };
        assert_eq!(a.seq, seq);
    }
}
