//! The failure detectors' tuning flags in live runs: hb-listen on
//! loopback, fed beats by hb-send or by hand.
//!
//! Silence is real time here, so the assertions lean on what load cannot
//! move: a deadline never fires early, which bounds `silent_ms` from below
//! and puts phi at or above the level that fired it; and events come out
//! in order, so a line shows that everything before it was printed.

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::Value;

use crate::harness::{beat, cmd, send_raw, Running};

/// hb-send beating `count` times every 100 ms to `to` as `node`; returns
/// once the last beat is sent.
fn beat_for_a_while(node: &str, to: SocketAddr, count: u32) {
    cmd("hb-send")
        .args(["--to", &to.to_string(), "--node", node])
        .args(["--every", "100ms", "--count", &count.to_string()])
        .assert()
        .success();
}

fn number(event: &Value, field: &str) -> f64 {
    event[field]
        .as_f64()
        .unwrap_or_else(|| panic!("no number {field}: {event}"))
}

/// `suspect` and `down` carry phi, and come at the levels asked for: not at
/// the defaults (5 and 8), which would have fired earlier, at lower phi.
#[test]
fn phi_suspect_and_threshold_set_the_levels_events_fire_at() {
    // A floor of 300 ms under the standard deviation keeps suspect (phi 7)
    // and down (phi 20) about 0.9 s apart, so even a stalled listener sees
    // the suspect deadline before the down one.
    let (mut l, addr) = Running::listener(&[
        "--detector",
        "phi",
        "--phi-suspect",
        "7",
        "--phi-threshold",
        "20",
        "--min-std-dev",
        "300ms",
    ]);
    beat_for_a_while("p", addr, 5);
    let suspect = l.expect("suspect", |v| v["node"] == "p");
    assert!(number(&suspect, "phi") >= 7.0, "{suspect}");
    let down = l.expect("down", |v| v["node"] == "p");
    assert!(number(&down, "phi") >= 20.0, "{down}");
    assert!(
        number(&down, "silent_ms") > number(&suspect, "silent_ms"),
        "{suspect}\n{down}"
    );
}

/// The pause is tolerated on top of the mean interval: a node beating every
/// 100 ms is not down before 1.5 s (plus phi's own margin) of silence.
#[test]
fn acceptable_pause_delays_a_phi_down() {
    let (mut l, addr) = Running::listener(&["--detector", "phi", "--acceptable-pause", "1500ms"]);
    beat_for_a_while("p", addr, 5);
    let down = l.expect("down", |v| v["node"] == "p");
    // Without the pause: about 0.6 s (mean 100 ms, deviation floor 100 ms).
    assert!(number(&down, "silent_ms") >= 2000.0, "{down}");
    assert!(number(&down, "phi") >= 8.0, "{down}");
}

/// A clockwork sender is judged with at least the floor as its deviation:
/// with 400 ms, phi 8 needs more than 2 s of silence (5.2 deviations past
/// the mean), not the 0.6 s of the default 100 ms floor.
#[test]
fn min_std_dev_floors_the_deviation_of_a_regular_sender() {
    let (mut l, addr) = Running::listener(&["--detector", "phi", "--min-std-dev", "400ms"]);
    beat_for_a_while("p", addr, 5);
    let down = l.expect("down", |v| v["node"] == "p");
    assert!(number(&down, "silent_ms") >= 2000.0, "{down}");
}

/// The window is what phi learns from. A node declaring 1.5 s but beating
/// every 50 ms: a window of 2 forgets the declared interval after two
/// beats and judges the real cadence (down after about 0.6 s); the default
/// window still averages it in (down after about 4 s).
#[test]
fn phi_window_sets_how_much_history_phi_learns_from() {
    let (mut short, short_addr) = Running::listener(&["--detector", "phi", "--phi-window", "2"]);
    let (mut long, long_addr) = Running::listener(&["--detector", "phi"]);
    for seq in 1..=6 {
        let datagram = beat("w", "b", seq, 1500);
        send_raw(short_addr, &datagram);
        send_raw(long_addr, &datagram);
        // Pacing the sender, not waiting for the listeners.
        std::thread::sleep(Duration::from_millis(50));
    }
    let quick = short.expect("down", |v| v["node"] == "w");
    let slow = long.expect("down", |v| v["node"] == "w");
    // The default window's mean and deviation hold the 1.5 s prior, which
    // keeps phi below 8 for more than 2.5 s of silence unless the beats
    // themselves came more than a second apart.
    assert!(number(&slow, "silent_ms") > 2500.0, "{slow}");
    assert!(number(&quick, "silent_ms") < 2500.0, "{quick}");
}

/// Flapping counts changes within the window: three changes (down, up,
/// down) within a minute flap; with a window shorter than one interval the
/// same beats never put more than two changes (a down and the up right
/// after it) in one window.
#[test]
fn flap_window_bounds_which_changes_count() {
    let common = ["--misses", "1", "--flap-changes", "2"];
    let (mut minute, m_addr) = Running::listener(&[&common[..], &["--flap-window", "1m"]].concat());
    let (mut instant, i_addr) =
        Running::listener(&[&common[..], &["--flap-window", "50ms"]].concat());
    let mut both = [(&mut minute, m_addr), (&mut instant, i_addr)];
    // Each beat only once both listeners have the node down: a down comes
    // exactly one interval (100 ms) after the beat before it.
    for seq in 1..=3 {
        for (l, addr) in both.iter_mut() {
            send_raw(*addr, &beat("f", "b", seq, 100));
            l.expect("up", |v| v["node"] == "f");
        }
        if seq < 3 {
            for (l, _) in both.iter_mut() {
                l.expect("down", |v| v["node"] == "f");
            }
        }
    }
    // Down, up, down: the third change flaps (and is printed with it,
    // before the last up).
    let flaps = minute.seen_of("flapping", "f");
    assert_eq!(flaps.len(), 1, "{}", minute.history());
    assert_eq!(flaps[0]["changes"], 3);
    assert_eq!(flaps[0]["window_ms"], 60_000);
    assert!(
        instant.seen_of("flapping", "f").is_empty(),
        "{}",
        instant.history()
    );
}
