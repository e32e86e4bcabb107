//! The observer's own faults are never the nodes' failures: a listener
//! that was stopped for a while, with every live node's beats waiting in
//! its socket, declares none of them down, and says it stalled.

use std::process::Command;
use std::time::{Duration, Instant};

use crate::harness::Running;

fn signal(pid: u32, sig: &str) {
    let ok = Command::new("kill")
        .args([format!("-{sig}"), pid.to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
}

/// 20 senders at 100 ms; the listener is stopped for 2 s (SIGSTOP), then
/// continued: no live node is `down`, and one `observer` line says it
/// stalled; a sender killed just before the stop is still declared down,
/// within its deadline plus the stall.
#[test]
fn a_stopped_listener_blames_no_live_node() {
    let (mut l, addr) = Running::listener(&[]);
    let to = addr.to_string();
    let mut senders: Vec<_> = (0..20)
        .map(|i| {
            let node = format!("node-{i:02}");
            Running::spawn(
                "hb-send",
                &["--to", &to, "--node", &node, "--every", "100ms"],
            )
        })
        .collect();
    let mut up = std::collections::BTreeSet::new();
    while up.len() < 20 {
        let v = l.expect("up", |_| true);
        up.insert(v["node"].as_str().unwrap().to_owned());
    }
    drop(senders.remove(0)); // node-00: killed
    signal(l.pid(), "STOP");
    // The stall under test: two seconds of a listener not running.
    std::thread::sleep(Duration::from_secs(2));
    signal(l.pid(), "CONT");
    let stalled = l.expect("observer", |v| {
        v["state"] == "stalled" && v["stall_ms"].as_u64() >= Some(1500)
    });
    let stall_ms = stalled["stall_ms"].as_u64().unwrap();
    assert!((1500..=3000).contains(&stall_ms), "{stalled}");
    let down = l.expect("down", |v| v["node"] == "node-00");
    assert_eq!(down["observer"], "stalled", "{down}");
    let silent = down["silent_ms"].as_u64().unwrap();
    assert!(
        silent >= 500 + stall_ms - 100 && silent <= 500 + stall_ms + 1500,
        "down after its deadline plus the stall ({stall_ms} ms): {down}"
    );
    // A second more of the live ones beating: still no down among them.
    let until = Instant::now() + Duration::from_secs(1);
    while let Some(left) = until.checked_duration_since(Instant::now()) {
        l.next(left);
    }
    let false_downs: Vec<_> = l
        .seen
        .iter()
        .filter(|v| v["type"] == "down" && v["node"] != "node-00")
        .collect();
    assert!(
        false_downs.is_empty(),
        "live nodes declared down: {false_downs:?}"
    );
    // One line for the stop; a loaded machine may stall the listener for
    // real too, and that is said as well, but only one stall was this long.
    let long = l
        .seen
        .iter()
        .filter(|v| v["type"] == "observer" && v["stall_ms"].as_u64() >= Some(1500))
        .count();
    assert_eq!(long, 1, "one stop, one line:\n{}", l.history());
    drop(senders);
}
