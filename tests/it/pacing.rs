//! hb-poll's window of probes in flight: a round over thousands of targets
//! that share one responder (one socket on 0.0.0.0 answering for every
//! 127.x address) sends no faster than the responder answers, so the
//! responder's receive buffer never overflows and no target is reported
//! down for a probe the poller itself drowned; and a round over thousands
//! of silent targets still ends, after its timeout and a short pacing.

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use socket2::SockRef;

use crate::harness::{cmd, kernel_drops, parse_events, FakeResponder, TempDir};

/// Targets in a round: far more than any window, and than the responder's
/// buffer holds.
const TARGETS: usize = 3000;

/// The responder's receive buffer, as asked (the kernel doubles it): about
/// 310 probes of 512 bytes, more than two windows of the poller's, and far
/// fewer than a round's worth.
const RESPONDER_BUFFER: usize = 200_000;

/// A stand-in for one hb-ack answering for many addresses, doing as little
/// as it can per probe, on a socket whose buffer holds a few hundred
/// probes. Stops on drop.
fn shared_responder() -> FakeResponder {
    let socket = UdpSocket::bind("0.0.0.0:0").unwrap();
    SockRef::from(&socket)
        .set_recv_buffer_size(RESPONDER_BUFFER)
        .unwrap();
    FakeResponder::start(socket, |probe| {
        Some(format!(
            r#"{{"type":"reply","node":"shared","nonce":{}}}"#,
            nonce_of(probe)
        ))
    })
}

/// The nonce of a probe as hb-poll writes it (`"nonce":DIGITS`), read
/// without a JSON parser: the responder must be quick to be a fair test.
fn nonce_of(probe: &[u8]) -> &str {
    let text = std::str::from_utf8(probe).unwrap();
    let (_, rest) = text.split_once(r#""nonce":"#).unwrap();
    let end = rest.find(|c: char| !c.is_ascii_digit()).unwrap();
    &rest[..end]
}

/// `TARGETS` distinct loopback addresses, each at `port`, one a line.
fn target_file(dir: &TempDir, port: u16) -> String {
    let list: String = (0..TARGETS)
        .map(|i| format!("127.0.{}.{}:{port}\n", i / 250 + 1, i % 250 + 1))
        .collect();
    let path = dir.path().join("targets");
    std::fs::write(&path, list).unwrap();
    path.to_str().unwrap().to_owned()
}

#[test]
fn a_round_never_drowns_a_responder_that_answers_many_targets() {
    let responder = shared_responder();
    let dir = TempDir::new();
    let targets = target_file(&dir, responder.addr().port());
    // One attempt each, and time enough: a target is down here only if its
    // one probe was lost.
    let out = cmd("hb-poll")
        .args(["-f", &targets, "--retries", "0", "--timeout", "5s"])
        .output()
        .unwrap();
    let events = parse_events(&out.stdout);
    let summary = events.iter().find(|e| e["type"] == "summary").unwrap();
    let counts = (summary["up"].as_u64(), summary["down"].as_u64());
    assert_eq!(counts, (Some(TARGETS as u64), Some(0)), "up and down");
    let dropped = kernel_drops(responder.addr());
    assert_eq!(dropped, 0, "probes the responder's socket dropped");
}

#[test]
fn a_round_of_silent_targets_is_paced_not_stalled() {
    // Bound and never read: every probe to it vanishes, as to a dead host.
    let silent = UdpSocket::bind("0.0.0.0:0").unwrap();
    let SocketAddr::V4(at) = silent.local_addr().unwrap() else {
        unreachable!()
    };
    let dir = TempDir::new();
    let targets = target_file(&dir, at.port());
    let start = Instant::now();
    let out = cmd("hb-poll")
        .args(["-f", &targets, "--retries", "1", "--timeout", "200ms"])
        .output()
        .unwrap();
    let took = start.elapsed();
    let events = parse_events(&out.stdout);
    let summary = events.iter().find(|e| e["type"] == "summary").unwrap();
    assert_eq!(summary["down"].as_u64(), Some(TARGETS as u64), "down");
    let polls = events.iter().filter(|e| e["type"] == "poll");
    for poll in polls {
        assert_eq!(poll["attempts"], 2, "{poll}");
        assert_eq!(poll["error"], "no reply to 2 probes, 200ms each", "{poll}");
    }
    // Not a speed goal: a stalled round would wait out far more than two
    // timeouts and the pacing of two dozen windows.
    assert!(
        took < Duration::from_secs(20),
        "a round of silence took {took:?}"
    );
}
