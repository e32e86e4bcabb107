//! `--quorum K` against the default majority: K = 1 lets one observer of
//! three decide alone, K = 3 needs every observer of three.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use serde_json::json;

use crate::harness::{beat, dead_target, send_raw, Running};

/// With K = 1 an observer whose two peers never answer still declares a
/// node up and down (a majority, 2 of 3, would hold every verdict).
#[test]
fn quorum_1_lets_one_observer_of_three_decide_alone() {
    let (_peer2, peer2) = dead_target();
    let (_peer3, peer3) = dead_target();
    let (mut o1, addr) = Running::listener(&[
        "--observer",
        "o1",
        "--peer",
        &peer2,
        "--peer",
        &peer3,
        "--quorum",
        "1",
        "--misses",
        "2",
    ]);
    send_raw(addr, &beat("web", "b", 1, 100));
    let up = o1.expect("up", |v| v["node"] == "web");
    assert_eq!(
        (&up["votes"], &up["quorum"]),
        (&json!({"o1": "up"}), &json!(1))
    );
    let down = o1.expect("down", |v| v["node"] == "web");
    assert_eq!(
        (&down["votes"], &down["quorum"]),
        (&json!({"o1": "down"}), &json!(1))
    );
}

/// A loopback address of this test process's own (Linux answers on all of
/// 127.0.0.0/8), from its process id: observers that must know each
/// other's addresses before they start bind fixed ports on it, which
/// another copy of the suite running at the same time does not share.
fn own_loopback() -> Ipv4Addr {
    let [_, a, b, c] = std::process::id().to_be_bytes();
    Ipv4Addr::new(127, 100 + a % 100, b, c)
}

/// Beats of node `web` every 100 ms, from a thread, to whichever
/// observers the test names at the moment. Stops on drop.
struct Beating {
    to: Arc<Mutex<Vec<SocketAddr>>>,
    stop: Arc<AtomicBool>,
}

impl Beating {
    fn start(to: Vec<SocketAddr>) -> Beating {
        let to = Arc::new(Mutex::new(to));
        let stop = Arc::new(AtomicBool::new(false));
        let (targets, stopped) = (Arc::clone(&to), Arc::clone(&stop));
        thread::spawn(move || {
            for seq in 1.. {
                if stopped.load(Ordering::Relaxed) {
                    break;
                }
                for addr in targets.lock().unwrap().iter() {
                    send_raw(*addr, &beat("web", "b", seq, 100));
                }
                // The node's cadence, not a wait for the listeners.
                thread::sleep(Duration::from_millis(100));
            }
        });
        Beating { to, stop }
    }

    fn only_to(&self, to: Vec<SocketAddr>) {
        *self.to.lock().unwrap() = to;
    }
}

impl Drop for Beating {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// With K = 3 a node is up only when all three observers see it up, and
/// down only when all three see it down: two observers that lose it (a
/// majority) do not take it down while the third still hears it.
#[test]
fn quorum_equal_to_the_group_needs_every_observer() {
    let ip = own_loopback();
    let addrs: Vec<SocketAddr> = (1..=3).map(|i| (ip, 26800 + i).into()).collect();
    let mut observers: Vec<Running> = (0..3)
        .map(|i| {
            let name = format!("o{}", i + 1);
            let listen = addrs[i].to_string();
            let mut args = vec!["--listen", &listen, "--observer", &name, "--quorum", "3"];
            args.extend([
                "--view-every",
                "100ms",
                "--misses",
                "5",
                "--status-every",
                "100ms",
            ]);
            let peers: Vec<String> = (0..3)
                .filter(|&j| j != i)
                .map(|j| addrs[j].to_string())
                .collect();
            for peer in &peers {
                args.extend(["--peer", peer.as_str()]);
            }
            let o = Running::spawn("hb-listen", &args);
            assert_eq!(o.listening(), addrs[i]);
            o
        })
        .collect();
    let all_up = json!({"o1": "up", "o2": "up", "o3": "up"});
    let beating = Beating::start(addrs.clone());
    for o in &mut observers {
        let up = o.expect("up", |v| v["node"] == "web");
        assert_eq!((&up["votes"], &up["quorum"]), (&all_up, &json!(3)));
    }

    // o1 and o2 lose the node; o3 still hears it.
    beating.only_to(vec![addrs[2]]);
    for o in &mut observers[..2] {
        o.expect("status", |v| v["nodes"]["web"]["state"] == "down");
    }
    // Time for their down votes to reach o3 (views go out at once on a
    // change, and every 100 ms): a majority quorum would print `down` now.
    for _ in 0..5 {
        observers[2].expect("status", |_| true);
    }
    for o in &observers {
        assert!(o.seen_of("down", "web").is_empty(), "{}", o.history());
    }

    // o3 loses it too: now all three agree.
    beating.only_to(Vec::new());
    let all_down = json!({"o1": "down", "o2": "down", "o3": "down"});
    for o in &mut observers {
        let down = o.expect("down", |v| v["node"] == "web");
        assert_eq!((&down["votes"], &down["quorum"]), (&all_down, &json!(3)));
    }
}
