use super::{Endpoint, Outage};
use std::io;
use std::net::SocketAddr;

#[test]
fn failing_sends_are_reported_at_most_once_a_minute() {
    let target = Endpoint::new("t".into(), vec!["127.0.0.1:9".parse().unwrap()]);
    let e = io::Error::from(io::ErrorKind::PermissionDenied);
    let mut o = Outage::default();
    o.failed("t", target.addr, &e, None);
    assert!(o.warned && o.last_warning.is_some());
    o.failed("t", target.addr, &e, None);
    o.reached(&target);
    assert!(!o.failing && !o.warned);
    // A new outage within the minute: counted, not printed.
    o.failed("t", target.addr, &e, None);
    assert!(o.failing && !o.warned);
    assert_eq!(o.unreported, 2);
}

/// A name's addresses are tried in turn, each once before the first again.
#[test]
fn an_endpoint_moves_through_every_address_of_its_name() {
    let addrs: Vec<SocketAddr> = ["[::1]:9", "127.0.0.1:9"]
        .iter()
        .map(|a| a.parse().unwrap())
        .collect();
    let mut target = Endpoint::new("localhost".into(), addrs.clone());
    assert_eq!(target.addr, addrs[0]);
    assert_eq!(target.next_address(), Some(addrs[1]));
    assert_eq!(target.next_address(), Some(addrs[0]));
    let mut single = Endpoint::new("one".into(), vec![addrs[1]]);
    assert_eq!(single.next_address(), None);
    assert_eq!(single.addr, addrs[1]);
}
