//! Heartbeats with quorum on loopback: three real hb-listen observers
//! sharing views. (Packet loss between one observer and a node needs
//! network namespaces: see bench/quorum-lab and its smoke test in
//! `bench.rs`.)

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use crate::harness::{beat, beat_with, bin, cmd, send_raw, test_name, wall_ms, Netns, Running};

/// Three observers on loopback, each with the other two as peers.
///
/// An observer is given its peers' addresses when it starts, and takes a
/// view only from an address it was given. Started on ports of their own
/// choosing (`--listen 127.0.0.1:0`), the observers cannot all know each
/// other's; and ports the test would find free and release for them could
/// be taken by another process before they bind. So the test keeps one
/// socket of its own bound for each observer, gives those as the peers,
/// and relays: a view observer `j` sends to observer `k`'s socket goes on
/// to observer `k` from observer `j`'s socket, the address `k` knows `j` by.
struct Group {
    /// Each observer and the address it listens on (for beats).
    observers: Vec<(Running, SocketAddr)>,
    _relay: Relay,
}

impl Group {
    /// The observers `obs1`, `obs2` and `obs3`, observer `i` also given
    /// `extra[i]`. A peer is lost after 3 view intervals of silence and a
    /// node is down after 5 of its intervals: both long enough that a
    /// loaded machine holding a process up does not change a verdict.
    fn start(extra: &[&[&str]; 3]) -> Group {
        let stand_ins: Vec<UdpSocket> = (0..3)
            .map(|_| UdpSocket::bind("127.0.0.1:0").unwrap())
            .collect();
        let peers: Vec<String> = stand_ins
            .iter()
            .map(|s| s.local_addr().unwrap().to_string())
            .collect();
        let observers: Vec<(Running, SocketAddr)> = (0..3)
            .map(|i| {
                let name = format!("obs{}", i + 1);
                let mut args = vec![
                    "--observer",
                    &name,
                    "--view-every",
                    "300ms",
                    "--misses",
                    "5",
                ];
                for (j, peer) in peers.iter().enumerate() {
                    if j != i {
                        args.extend(["--peer", peer.as_str()]);
                    }
                }
                args.extend_from_slice(extra[i]);
                Running::listener(&args)
            })
            .collect();
        let addrs = observers.iter().map(|(_, addr)| *addr).collect();
        Group {
            observers,
            _relay: Relay::start(stand_ins, addrs),
        }
    }
}

/// Carries the views of a [`Group`]: what arrives at `stand_ins[k]` from
/// `observers[j]` is sent on to `observers[k]` from `stand_ins[j]`. Views
/// sent before it starts wait in the sockets' receive buffers.
struct Relay {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl Relay {
    fn start(stand_ins: Vec<UdpSocket>, observers: Vec<SocketAddr>) -> Relay {
        let stop = Arc::new(AtomicBool::new(false));
        let threads = (0..stand_ins.len())
            .map(|k| {
                let inbox = stand_ins[k].try_clone().unwrap();
                // Short, so the relay stops soon after it is dropped.
                inbox
                    .set_read_timeout(Some(Duration::from_millis(20)))
                    .unwrap();
                let outboxes: Vec<UdpSocket> =
                    stand_ins.iter().map(|s| s.try_clone().unwrap()).collect();
                let observers = observers.clone();
                let stop = Arc::clone(&stop);
                thread::spawn(move || {
                    let mut buf = vec![0; 1 << 16];
                    while !stop.load(Ordering::Relaxed) {
                        let Ok((len, from)) = inbox.recv_from(&mut buf) else {
                            continue;
                        };
                        if let Some(j) = observers.iter().position(|&o| o == from) {
                            // A dead observer's port refuses: nothing to do.
                            let _ = outboxes[j].send_to(&buf[..len], observers[k]);
                        }
                    }
                })
            })
            .collect();
        Relay { stop, threads }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

#[test]
fn all_observers_agree_up_then_down() {
    let mut group = Group::start(&[&[], &[], &[]]);
    let to: Vec<String> = group.observers.iter().map(|(_, a)| a.to_string()).collect();
    let mut args = vec!["--node", "web", "--every", "200ms", "--count", "10"];
    for t in &to {
        args.extend(["--to", t.as_str()]);
    }
    // The 10th and last beat leaves 9 intervals after the start at the
    // earliest: a down stamped earlier came while the node was beating.
    let silent_from = wall_ms() + 9 * 200;
    let _sender = Running::spawn("hb-send", &args);
    for (o, _) in &mut group.observers {
        let up = o.expect("up", |v| v["node"] == "web");
        assert_eq!(up["quorum"], 2, "{up}");
        assert!(up["votes"].as_object().unwrap().len() >= 2, "{up}");
    }
    for (o, _) in &mut group.observers {
        let down = o.expect_after("down", silent_from, |v| v["node"] == "web");
        let votes = down["votes"].as_object().unwrap();
        assert!(
            votes.values().filter(|v| *v == "down").count() >= 2,
            "{down}"
        );
        // `silent_ms` is this observer's own measure: an observer whose
        // detector is a little behind learns the verdict from the others,
        // so it is past suspicion (1.5 intervals), not always past 5.
        assert!(down["silent_ms"].as_u64().unwrap() >= 300, "{down}");
    }
}

/// obs3 never hears the node (its own blind spot, as a dead link would
/// be): alone it would report it down; the group does not.
#[test]
fn one_observer_alone_cannot_take_a_live_node_out() {
    let mut group = Group::start(&[
        &[],
        &[],
        &[
            "--expect",
            "web",
            "--every",
            "100ms",
            "--status-every",
            "100ms",
        ],
    ]);
    let to: Vec<String> = group.observers[..2]
        .iter()
        .map(|(_, a)| a.to_string())
        .collect();
    // 5 intervals of 200 ms before obs1 and obs2 would vote down: more
    // than a loaded machine holds the sender up.
    let _sender = Running::spawn(
        "hb-send",
        &[
            "--node", "web", "--every", "200ms", "--to", &to[0], "--to", &to[1],
        ],
    );
    let (blind, _) = &mut group.observers[2];
    // The group verdict obs3 prints is up, from the others' votes ...
    let up = blind.expect("up", |v| v["node"] == "web");
    assert_eq!(up["votes"]["obs1"], "up", "{up}");
    // ... and stays up after obs3's own detector says down (expected,
    // never heard), for as long as we watch.
    let status = blind.expect("status", |v| v["down"] == serde_json::json!(["web"]));
    assert_eq!(status["group"]["has_quorum"], true, "{status}");
    let later = status["ts_ms"].as_u64().unwrap() + 1000;
    blind.expect("status", |v| v["ts_ms"].as_u64() > Some(later));
    assert!(
        blind.seen.iter().all(|v| v["type"] != "down"),
        "a false down was printed:\n{}",
        blind.history()
    );
}

/// With both peers gone, one observer has no quorum: it says so and holds
/// its verdicts instead of declaring everyone down.
#[test]
fn an_isolated_observer_says_no_quorum_and_holds_verdicts() {
    let mut group = Group::start(&[&["--status-every", "100ms"], &[], &[]]);
    send_raw(group.observers[0].1, &beat("web", "b", 1, 100));
    group.observers[0].0.expect("quorum", |_| true);
    let killed = wall_ms();
    group.observers.truncate(1); // the two peers are killed
    let (only, _) = &mut group.observers[0];
    let lost = only.expect_after("no-quorum", killed, |_| true);
    assert_eq!(lost["reachable"], serde_json::json!(["obs1"]));
    assert_eq!(lost["quorum"], 2);
    // Its own detector now says down, and its status says why nothing is
    // printed: no quorum.
    let status = only.expect("status", |v| v["down"] == serde_json::json!(["web"]));
    assert_eq!(status["group"]["has_quorum"], false, "{status}");
    assert!(
        only.seen.iter().all(|v| v["type"] != "down"),
        "verdict without quorum:\n{}",
        only.history()
    );
}

#[test]
fn views_from_strangers_are_refused() {
    let (mut o, addr) = Running::listener(&[
        "--peer",
        "127.0.0.1:9",
        "--observer",
        "me",
        "--status-every",
        "50ms",
    ]);
    send_raw(
        addr,
        br#"{"type":"view","node":"mallory","seq":1,"down":["web"]}"#,
    );
    let status = o.expect("status", |v| v["rejected"]["unknown-peer"] == 1);
    assert_eq!(status["group"]["reachable"], serde_json::json!(["me"]));
}

#[test]
fn quorum_flags_are_checked() {
    let out = cmd("hb-listen")
        .args(["--peer", "127.0.0.1:9", "--quorum", "3"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--quorum 3"));
    for args in [
        &["--observer", "x"][..],
        &["--quorum", "1"],
        &["--view-every", "1s"],
    ] {
        let out = cmd("hb-listen").args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?} needs --peer");
    }
}

/// All-to-all push without listing everyone: one beat to a multicast
/// group reaches every listener that joined it (IPv4 and IPv6), in a
/// network namespace whose loopback carries multicast.
#[test]
fn multicast_beats_reach_every_listener_of_the_group() {
    let Some(ns) = Netns::new(test_name!()) else {
        return;
    };
    // IPv4 multicast loops back on lo given a route; IPv6 multicast does
    // not, so it goes over a veth pair (no duplicate address detection,
    // so its link-local addresses work at once).
    ns.ip(&["link", "set", "lo", "multicast", "on"]);
    ns.ip(&["route", "add", "224.0.0.0/4", "dev", "lo"]);
    let no_dad = ns
        .command(std::path::Path::new("sysctl"))
        .args(["-qw", "net.ipv6.conf.default.accept_dad=0"])
        .status()
        .unwrap();
    assert!(no_dad.success());
    ns.ip(&["link", "add", "v0", "type", "veth", "peer", "name", "v1"]);
    ns.ip(&["link", "set", "v0", "up"]);
    ns.ip(&["link", "set", "v1", "up"]);
    for (listen, group, to) in [
        ("0.0.0.0:26722", "239.255.26.22", "239.255.26.22:26722"),
        ("[::]:26724", "ff15::26:22", "[ff15::26:22]:26724"),
    ] {
        let mut listeners: Vec<Running> = (0..2)
            .map(|_| {
                let mut c = ns.command(&bin("hb-listen"));
                c.args(["--listen", listen, "--join", group]);
                let r = Running::start(c, "hb-listen in netns");
                r.listening();
                r
            })
            .collect();
        let mut send = ns.command(&bin("hb-send"));
        send.args(["--node", "m", "--to", to, "--count", "3", "--every", "50ms"]);
        assert!(send.status().unwrap().success());
        for l in &mut listeners {
            let up = l.expect("up", |v| v["node"] == "m");
            assert!(up["addr"].is_string(), "{up}");
        }
    }
}

#[test]
fn join_needs_a_multicast_group_and_broadcast_needs_a_flag() {
    let out = cmd("hb-listen")
        .args(["--join", "10.0.0.1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a multicast group"));
    // Without --broadcast the kernel refuses (and nothing leaves the host).
    let out = cmd("hb-send")
        .args(["--to", "255.255.255.255:9", "--once", "--every", "1s"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("Permission denied"));
}

/// Every observer that suspects a node asks it: a node whose beats stop
/// but that answers every probe stays up in each observer's views (an
/// answer counts as a beat there), so the group never says down.
#[test]
fn every_suspecting_observer_probes_and_answers_keep_the_node_up() {
    let mut group = Group::start(&[&[], &[], &[]]);
    let node = UdpSocket::bind("127.0.0.1:0").unwrap();
    node.set_read_timeout(Some(crate::harness::PATIENCE))
        .unwrap();
    let observers: Vec<SocketAddr> = group.observers.iter().map(|(_, a)| *a).collect();
    let beat = beat_with("asked", "b1", 1, 200, r#""answers":true"#);
    for o in &observers {
        node.send_to(&beat, o).unwrap();
    }
    group.observers[0].0.expect("up", |v| v["node"] == "asked");
    // Silent from now on, every probe answered: 5 rounds of suspicion and
    // answer at each observer outlast the 1 s deadline of the beat.
    let mut asked_by = [0; 3];
    let mut buf = [0u8; 2048];
    while asked_by.iter().any(|&n| n < 5) {
        let (len, from) = node.recv_from(&mut buf).expect("a probe");
        let probe: serde_json::Value = serde_json::from_slice(&buf[..len]).unwrap();
        assert_eq!(probe["type"], "probe", "{probe}");
        let i = observers
            .iter()
            .position(|&o| o == from)
            .expect("a probe from an observer");
        asked_by[i] += 1;
        let reply = format!(
            r#"{{"type":"reply","node":"asked","nonce":{},"boot":"b1"}}"#,
            probe["nonce"]
        );
        node.send_to(reply.as_bytes(), from).unwrap();
    }
    for (observer, _) in &mut group.observers {
        while observer.next(Duration::ZERO).is_some() {}
        assert!(
            observer.seen_of("down", "asked").is_empty(),
            "{}",
            observer.history()
        );
    }
}
