//! Relays end to end (SWIM's indirect probe, `hb-poll --via`): the
//! poller's own path to a target is cut, an hb-ack relay's is not.

use crate::harness::{bin, parse_event, test_name, Netns, Running, TempDir};

/// SWIM's indirect probe: the poller's own path to the target drops
/// everything, a relay's does not: the target is up, through the relay.
#[test]
fn relays_answer_when_the_direct_path_fails() {
    relay_around_a_blocked_path(test_name!(), &[]);
}

/// The same with every tool keyed: a signed relay request is still a full
/// request (padding counts the MAC), so the relay forwards it.
#[test]
fn signed_relays_answer_when_the_direct_path_fails() {
    let dir = TempDir::new();
    let key = dir.key_file("relay.key", "0123456789abcdef0123456789abcdef\n", 0o600);
    let key = key.to_str().unwrap();
    relay_around_a_blocked_path(test_name!(), &["--key-file", key]);
}

/// The relay test named `test` (with [`test_name!`]), every tool run with
/// `extra` flags.
fn relay_around_a_blocked_path(test: &str, extra: &[&str]) {
    let Some(ns) = Netns::new(test) else {
        return;
    };
    let start = |port: &str, node: &str| {
        let mut c = ns.command(&bin("hb-ack"));
        c.args([
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--node",
            node,
            "--quiet",
        ]);
        c.args(extra);
        let r = Running::start(c, node);
        r.listening();
        r
    };
    let _target = start("26723", "target");
    let _relay = start("26724", "relay");
    // Only the relay (from its port 26724) may reach the target.
    ns.nft(
        "table inet hbtest {\n  chain out {\n    type filter hook output priority 0;\n    udp dport 26723 udp sport != 26724 drop\n  }\n}\n",
    );
    // The relay's two hops get two timeouts: 2 s on a loaded machine.
    let out = ns
        .command(&bin("hb-poll"))
        .args(["127.0.0.1:26723", "--via", "127.0.0.1:26724", "-t", "1s"])
        .args(extra)
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    let poll = parse_event(stdout.lines().next().unwrap());
    assert_eq!(poll["status"], "up");
    assert_eq!(poll["node"], "target");
    assert_eq!(poll["path"], "127.0.0.1:26724");
    assert_eq!(poll["attempts"], 3, "the direct probes were tried first");

    // Without the relay, the same target is down.
    let out = ns
        .command(&bin("hb-poll"))
        .args(["127.0.0.1:26723", "-t", "100ms"])
        .args(extra)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}
