//! Announced absences against a node that beats: an unsigned `away` from
//! a stranger mutes nothing, and an absence announced while the service
//! goes on beating ends in `up`, never in `down`.

use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use crate::harness::{beat, Running};

/// Sends `datagram` to `to` from `from_ip`, any port.
fn send_from(from_ip: &str, to: SocketAddr, datagram: &[u8]) {
    let socket = UdpSocket::bind((from_ip, 0)).unwrap();
    socket.send_to(datagram, to).unwrap();
}

fn away(node: &str, boot: &str, for_ms: u64) -> Vec<u8> {
    format!(r#"{{"type":"away","node":"{node}","boot":"{boot}","seq":1,"for_ms":{for_ms}}}"#)
        .into_bytes()
}

/// Without a key, an `away` of another process about a node that beats is
/// believed only from the host its beats come from (127.0.0.1 here; the
/// stranger is 127.0.0.2, another address of the loopback).
#[test]
fn an_unsigned_away_from_another_host_mutes_nothing() {
    let (mut l, addr) = Running::listener(&["--log-rejects"]);
    send_from("127.0.0.1", addr, &beat("web-1", "svc", 1, 1000));
    l.expect("up", |v| v["node"] == "web-1");
    send_from("127.0.0.2", addr, &away("web-1", "stranger", 604_800_000));
    let refused = l.expect("rejected", |v| v["reason"] == "not-allowed");
    assert!(
        refused["from"].as_str().unwrap().starts_with("127.0.0.2:"),
        "{refused}"
    );
    // The node's silence is still judged: suspect, then down.
    l.expect("down", |v| v["node"] == "web-1");
    assert!(l.seen_of("away", "web-1").is_empty(), "{}", l.history());
}

/// An `away` from the node's own host, by another process (a maintenance
/// announced by hand), while the service goes on beating on its own boot:
/// at the announced return the node is `up`, not `down` `away-expired`.
#[test]
fn a_node_that_beats_through_its_absence_is_up_at_its_end() {
    let (mut l, addr) = Running::listener(&[]);
    let service = UdpSocket::bind("127.0.0.1:0").unwrap();
    service.send_to(&beat("db-1", "svc", 1, 200), addr).unwrap();
    l.expect("up", |v| v["node"] == "db-1");
    send_from("127.0.0.1", addr, &away("db-1", "operator", 1000));
    l.expect("away", |v| v["node"] == "db-1");
    // The service was never stopped: it beats through the second.
    for seq in 2..=10 {
        std::thread::sleep(Duration::from_millis(200));
        service
            .send_to(&beat("db-1", "svc", seq, 200), addr)
            .unwrap();
    }
    let up = l.expect("up", |v| v["node"] == "db-1" && v["was"] == "away");
    assert!(up["silent_ms"].as_u64().unwrap() < 1000, "{up}");
    assert!(l.seen_of("down", "db-1").is_empty(), "{}", l.history());
}
