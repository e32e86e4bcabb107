use std::net::{Ipv4Addr, Ipv6Addr};

use super::*;

#[test]
fn targets_parse() {
    assert_eq!(
        Target::parse("web-1").unwrap().check,
        Check::Probe(HostPort::parse("web-1", 26723).unwrap())
    );
    assert!(matches!(
        Target::parse("tcp://db:5432").unwrap().check,
        Check::Tcp(_)
    ));
    assert!(Target::parse("tcp://db").is_err(), "tcp needs a port");
}

#[test]
fn a_target_named_twice_is_polled_once() {
    let named = ["web-1", "db-1", "web-1:26723", "web-1", "tcp://web-1:26723"]
        .map(|t| Target::parse(t).unwrap());
    let kept: Vec<String> = distinct(named.to_vec())
        .into_iter()
        .map(|t| t.name.to_string())
        .collect();
    // A TCP check of the same address is another check.
    assert_eq!(kept, ["web-1", "db-1", "tcp://web-1:26723"]);
}

/// A dual-stack socket reaches IPv4 targets by their mapped form; TCP
/// targets get no probes.
#[test]
fn probes_go_where_the_socket_reaches_them() {
    let named = ["127.0.0.2:9", "[::1]:9", "tcp://127.0.0.3:9"].map(|t| Target::parse(t).unwrap());
    let targets = resolve(named.to_vec());
    let v4 = SocketAddr::from((Ipv4Addr::UNSPECIFIED, 4000));
    let dual = SocketAddr::from((Ipv6Addr::UNSPECIFIED, 4000));
    let mapped = SocketAddr::from((Ipv4Addr::new(127, 0, 0, 2).to_ipv6_mapped(), 9));
    let v6 = SocketAddr::from((Ipv6Addr::LOCALHOST, 9));
    let each = |send_to: SendTo| (0..3).map(|i| send_to.of(i).to_vec()).collect::<Vec<_>>();
    assert_eq!(
        each(SendTo::new(dual, &targets)),
        [vec![mapped], vec![v6], Vec::new()]
    );
    let direct = SocketAddr::from((Ipv4Addr::new(127, 0, 0, 2), 9));
    assert_eq!(
        each(SendTo::new(v4, &targets)),
        [vec![direct], vec![v6], Vec::new()]
    );
}
