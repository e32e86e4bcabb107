use std::io;
use std::net::SocketAddr;

use super::{Addresses, Outage, RETRY_EVERY};
use crate::net::Endpoint;

const PREFERRED: &str = "[::1]:26722";
const NEXT: &str = "127.0.0.1:26722";

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// `localhost` as Debian's hosts file resolves it: `::1` first.
fn localhost() -> Addresses {
    let addrs = vec![addr(PREFERRED), addr(NEXT)];
    Addresses::new(vec![Endpoint::new("localhost".into(), addrs)], |a| a)
}

fn refused() -> io::Error {
    io::Error::from(io::ErrorKind::ConnectionRefused)
}

/// One round of a beat at target 0: the planned sends, each refused if
/// `refuses` says so of its address (as the kernel reports after the
/// sends), then the fail-overs; returns where the beat went, in order.
fn round(a: &mut Addresses, refuses: impl Fn(SocketAddr) -> bool) -> Vec<SocketAddr> {
    a.next_round(true);
    let mut went = Vec::new();
    for j in a.plan(0) {
        a.sent(0, j, None);
        went.push(a.address(0, j).1);
    }
    for &to in &went.clone() {
        if refuses(to) {
            a.refused(to, &refused());
        }
    }
    while let Some(j) = a.fail_over(0) {
        let to = a.address(0, j).1;
        a.sent(0, j, None);
        went.push(to);
        if refuses(to) {
            a.refused(to, &refused());
        }
    }
    went
}

/// A refused address is tried again beside the one in use with the next
/// beat, then 2 beats later, then every RETRY_EVERY beats: it is never
/// left for good, and costs a datagram in RETRY_EVERY while it refuses.
#[test]
fn a_refused_address_is_tried_again_after_1_then_2_then_every_4() {
    let mut a = localhost();
    let only_next = |to: SocketAddr| to == addr(PREFERRED);
    // Refused, the beat goes on to the next address at once.
    assert_eq!(round(&mut a, only_next), [addr(PREFERRED), addr(NEXT)]);
    let retried: Vec<u64> = (2..=20)
        .filter(|_| round(&mut a, only_next).contains(&addr(PREFERRED)))
        .collect();
    assert_eq!(retried, [2, 4, 8, 12, 16, 20]);
    assert_eq!(RETRY_EVERY, 4);
    assert_eq!(a.lost(), 0, "every beat went on to the next address");
    assert_eq!(a.shown(0), ("localhost", addr(NEXT)));
}

/// One refusal (a forged ICMP error, a listener's restart) moves the
/// beats on for a beat or two: the first retry that the kernel refuses
/// not puts the preferred address back in use.
#[test]
fn a_retry_that_is_not_refused_puts_the_address_back_in_use() {
    let mut a = localhost();
    assert_eq!(round(&mut a, |to| to == addr(PREFERRED)).len(), 2);
    assert_eq!(round(&mut a, |_| false), [addr(NEXT), addr(PREFERRED)]);
    assert_eq!(round(&mut a, |_| false), [addr(PREFERRED)]);
    assert_eq!(a.shown(0), ("localhost", addr(PREFERRED)));
    // A listener down for a while: the retries go on every 4 beats, and
    // the first one after it is back brings the beats back.
    let mut a = localhost();
    let mut rounds = 0;
    let back_at = 9;
    loop {
        rounds += 1;
        let down = rounds < back_at;
        let went = round(&mut a, |to| down && to == addr(PREFERRED));
        if !down && went == [addr(PREFERRED)] {
            break;
        }
    }
    assert!(rounds <= back_at + RETRY_EVERY as usize, "back at {rounds}");
}

/// A name of one address, or one whose every address refuses, is still
/// sent every beat (a refusal may end at any time); a beat that every
/// address refused is lost, and counted once; notices are not counted.
#[test]
fn a_beat_every_address_refused_is_lost_and_counted_once() {
    let one = vec![Endpoint::new("one".into(), vec![addr(NEXT)])];
    let mut a = Addresses::new(one, |a| a);
    assert!(
        !a.several(),
        "nowhere else to go: a --once run ends at once"
    );
    assert!(localhost().several());
    for _ in 0..3 {
        a.next_round(true);
        assert_eq!(a.plan(0), [0]);
        a.sent(0, 0, Some(&refused()));
        assert_eq!(a.fail_over(0), None);
    }
    a.close();
    a.close();
    assert_eq!(a.lost(), 3);
    let mut a = localhost();
    let went = round(&mut a, |_| true);
    assert_eq!(went, [addr(PREFERRED), addr(NEXT)]);
    a.next_round(false);
    a.sent(0, 0, Some(&refused()));
    a.close();
    assert_eq!(a.lost(), 1, "the beat, not the notice");
    // Every address out of use: the first gets each beat, and the others
    // their retries.
    assert!(a.plan(0).starts_with(&[0]));
}

/// Acks and probes are known by any address of a name, not only the one
/// in use: a listener answers from where the beats went.
#[test]
fn every_address_of_every_name_is_known() {
    let two = vec![
        Endpoint::new("localhost".into(), vec![addr(PREFERRED), addr(NEXT)]),
        Endpoint::new("other".into(), vec![addr("192.0.2.1:26722")]),
    ];
    let a = Addresses::new(two, |a| a);
    assert_eq!(a.all().len(), 3);
    assert_eq!(a.target_of(addr(NEXT)), Some(0));
    assert_eq!(a.target_of(addr("192.0.2.1:26722")), Some(1));
    assert_eq!(a.target_of(addr("192.0.2.2:26722")), None);
}

#[test]
fn failing_sends_are_reported_at_most_once_a_minute() {
    let to = addr(NEXT);
    let e = io::Error::from(io::ErrorKind::PermissionDenied);
    let mut o = Outage::default();
    o.failed("t", to, &e, None);
    assert!(o.warned && o.failing && o.last_warning.is_some());
    o.failed("t", to, &e, None);
    o.reached("t", to);
    assert!(!o.failing && !o.warned);
    // A new outage within the minute: counted, not printed.
    o.failed("t", to, &e, None);
    assert!(o.failing && !o.warned);
    assert_eq!(o.unreported, 2);
}
