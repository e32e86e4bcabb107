//! The listener's probes against a forged source: without a key anyone
//! can send a beat that says `"answers":true` with a victim's address as
//! its source. However many names, and whatever becomes of them (suspect,
//! a job's `start`), the victim gets at most three times the bytes sent
//! in its name.

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use crate::harness::{beat_with, wall_ms, Running};

/// Bytes the victim receives from the listener per byte sent in its name.
fn flood_ratio(names: usize, misses: &str) -> (usize, usize) {
    let (mut listen, addr) = Running::listener(&["--misses", misses]);
    let victim = UdpSocket::bind("127.0.0.1:0").unwrap();
    victim
        .set_read_timeout(Some(Duration::from_millis(20)))
        .unwrap();
    let mut sent = 0;
    let mut send = |datagram: &[u8]| {
        victim.send_to(datagram, addr).unwrap();
        sent += datagram.len();
    };
    for i in 0..names {
        let extra = format!(r#""ts_ms":{},"answers":true"#, wall_ms());
        send(&beat_with(&format!("v{i}"), "b", 1, 100, &extra));
    }
    listen.expect("suspect", |v| v["node"] == format!("v{}", names - 1));
    // A suspect node that says it starts a run is up through `started`:
    // its suspicion ends, and with it the asking.
    for i in 0..names {
        let start = format!(r#"{{"type":"start","node":"v{i}","seq":1,"boot":"job"}}"#);
        send(start.as_bytes());
    }
    let mut received = 0;
    let mut buf = [0u8; 2048];
    let watched = Instant::now();
    while watched.elapsed() < Duration::from_secs(3) {
        if let Ok((len, _)) = victim.recv_from(&mut buf) {
            received += len;
        }
    }
    (sent, received)
}

#[test]
fn a_forged_source_gets_at_most_three_times_the_bytes_sent_in_its_name() {
    for names in [1, 60] {
        let (sent, received) = flood_ratio(names, "20");
        eprintln!(
            "{names} forged names: {sent} bytes in, {received} out ({:.2}x)",
            received as f64 / sent as f64
        );
        assert!(
            received <= 3 * sent,
            "{names} names: {sent} in, {received} out"
        );
    }
}
