use super::*;
use crate::clock::Moment;
use crate::detector::{Config as DetectorConfig, Rule};
use crate::wire::{Beat, Message};

/// A link in a group of two (the other observer at `peer`), with a view
/// every second, driven by a fake clock from 0, and the detector it shares.
fn member(peer: SocketAddr) -> (GroupLink, Detector) {
    let cfg = DetectorConfig {
        rule: Rule::Fixed { misses: 5 },
        default_every_ms: 1000,
        emit_beats: false,
        up_after: 1,
        flap: None,
        max_nodes: 1000,
    };
    let m = Membership::new("me".into(), vec![peer], Some(2), 1000, 1000).unwrap();
    (GroupLink::new(m, 0), Detector::new(cfg, 0))
}

/// A first beat from `node`: a local `up`, so a change to share.
fn first_beat(link: &mut GroupLink, detector: &mut Detector, now: Millis, node: &str) {
    let beat = Beat {
        node: node.into(),
        seq: Some(1),
        boot: Some("b".into()),
        every_ms: Some(60_000),
        ts_ms: None,
        health: None,
        ack: false,
        answers: false,
        checks: None,
        due: None,
    };
    let mut events = Vec::new();
    detector.observe(Moment::new(now, now), None, &beat, &mut events);
    for event in &events {
        link.take_vote(event);
    }
    assert!(link.dirty);
}

/// A view of no nodes from the observer called `observer`: it says the
/// observer lives.
fn empty_view(observer: &str) -> View<'_> {
    View {
        node: observer.into(),
        seq: 1,
        boot: None,
        ts_ms: None,
        up: Vec::new(),
        suspect: Vec::new(),
        down: Vec::new(),
        left: Vec::new(),
        away: Vec::new(),
    }
}

/// The `n` view datagrams `peer` got, as their seqs.
fn received(peer: &UdpSocket, n: usize) -> Vec<u64> {
    peer.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    let mut buf = [0; wire::MAX_DATAGRAM];
    (0..n)
        .map(|_| {
            let (len, _) = peer.recv_from(&mut buf).unwrap();
            match wire::decode(&buf[..len]).unwrap() {
                Message::View(v) => v.seq,
                other => panic!("{other:?}"),
            }
        })
        .collect()
}

/// A local change sends a view before the interval is over, but not
/// sooner than a tenth of the interval after the last view: a burst of
/// changes is a few views, not one per change.
#[test]
fn views_for_changes_go_early_but_at_most_ten_an_interval() {
    let peer = UdpSocket::bind("127.0.0.1:0").unwrap();
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let codec = Codec::default();
    let (mut l, mut d) = member(peer.local_addr().unwrap());
    l.share_view(&socket, 0, &d, &codec);
    assert_eq!(l.seq, 1);
    assert_eq!(l.next_wake(), Some(1000), "a full view each interval");

    // A change 50 ms after the last view waits until 100 ms.
    first_beat(&mut l, &mut d, 50, "web");
    assert_eq!(l.next_wake(), Some(100));
    for now in [50, 99] {
        l.share_view(&socket, now, &d, &codec);
    }
    assert_eq!(l.seq, 1);
    l.share_view(&socket, 100, &d, &codec);
    assert_eq!(l.seq, 2);

    // Nothing changed since: the next one a full interval later.
    assert_eq!(l.next_wake(), Some(1100));
    l.share_view(&socket, 1099, &d, &codec);
    assert_eq!(l.seq, 2);
    l.share_view(&socket, 1100, &d, &codec);
    assert_eq!(l.seq, 3);

    // A change every millisecond for 150 ms: one view, at 1200, and
    // the changes since then wait until 1300.
    for now in 1101..1251 {
        first_beat(&mut l, &mut d, now, &format!("n{now}"));
        l.share_view(&socket, now, &d, &codec);
    }
    assert_eq!(l.seq, 4);
    assert_eq!(l.next_wake(), Some(1300));
    assert_eq!(received(&peer, 4), [1, 2, 3, 4]);
}

/// Driven as hb-listen drives it (wake, tick, share views, sleep until
/// the next wake), a link whose peer went silent wakes for its views and
/// once for the peer's timeout, never at once again.
#[test]
fn a_gone_peer_does_not_keep_the_listener_awake() {
    let peer = UdpSocket::bind("127.0.0.1:0").unwrap();
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let codec = Codec::default();
    let peer_addr = peer.local_addr().unwrap();
    let (mut l, d) = member(peer_addr);
    let view = empty_view("p1");
    l.on_view(&view, Some(peer_addr), Moment::new(0, 0), None, &d)
        .unwrap();
    assert!(l.status(0).has_quorum);
    let (mut now, mut wakes) = (0, Vec::new());
    while now < 6000 && wakes.len() < 100 {
        l.tick(now, &d);
        l.share_view(&socket, now, &d, &codec);
        let next = l.next_wake().unwrap();
        assert!(next > now, "woken again at once at {now}: {wakes:?}");
        wakes.push(next);
        now = next;
    }
    assert!(!l.status(now).has_quorum, "the peer timed out");
    assert_eq!(wakes, [1000, 2000, 3000, 3001, 4000, 5000, 6000]);
}

#[test]
fn views_from_strangers_are_refused_and_a_quorum_larger_than_the_group_too() {
    let peer: SocketAddr = "127.0.0.1:9".parse().unwrap();
    let (mut l, d) = member(peer);
    let view = empty_view("x");
    let stranger = "127.0.0.1:10".parse().ok();
    assert_eq!(
        l.on_view(&view, stranger, Moment::new(0, 0), None, &d),
        Err(Reject::UnknownPeer)
    );
    assert_eq!(
        l.on_view(&view, None, Moment::new(0, 0), None, &d),
        Err(Reject::UnknownPeer)
    );
    let mapped = "[::ffff:127.0.0.1]:9".parse().ok();
    assert_eq!(
        l.on_view(&view, mapped, Moment::new(0, 0), None, &d),
        Ok(()),
        "IPv4-mapped is the same peer"
    );
    let too_large = Membership::new("me".into(), vec![peer], Some(3), 1000, 10);
    assert_eq!(
        too_large.err().map(|e| e.to_string()).as_deref(),
        Some("--quorum 3 is more than the 2 observers of the group")
    );
}
