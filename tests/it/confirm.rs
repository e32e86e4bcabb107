//! Confirmed suspicions: hb-listen asks a suspect node that says it
//! answers; an answer refutes the suspicion, a closed port (the process
//! is gone) is `down` at once, silence keeps its deadline.

use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use crate::harness::{
    beat, beat_with, bin, send_raw, test_name, wall_ms, Netns, Running, TempDir, PATIENCE,
};

const KEY: &str = "confirm-test-key-0123456789abcdef";

fn ms(v: &Value, field: &str) -> u64 {
    v[field]
        .as_u64()
        .unwrap_or_else(|| panic!("{field} missing: {v}"))
}

/// hb-send beating `node` to `to` every `every`, forever, with `extra`.
fn sender(to: SocketAddr, node: &str, every: &str, extra: &[&str]) -> Running {
    let to = to.to_string();
    let mut args = vec!["--to", &to, "--node", node, "--every", every];
    args.extend_from_slice(extra);
    Running::spawn("hb-send", &args)
}

/// A process crash: SIGKILL, so no `leave` is said and the sender's port
/// closes. With 100 ms beats and --misses 50, its silence deadline is 5 s
/// away; a probe finds the closed port at its suspicion, 150 ms after the
/// last beat (2 s is the margin of a loaded machine).
#[test]
fn a_killed_sender_is_down_unreachable_long_before_its_deadline() {
    let (mut listen, addr) = Running::listener(&["--misses", "50"]);
    let send = sender(addr, "crashy", "100ms", &[]);
    listen.expect("up", |v| v["node"] == "crashy");
    let killed = wall_ms();
    send.signal("KILL");
    let down = listen.expect_after("down", killed, |v| v["node"] == "crashy");
    assert_eq!(down["cause"], "unreachable", "{down}");
    assert!(ms(&down, "silent_ms") < 2000, "{down}");
    assert!(ms(&down, "ts_ms") < killed + 2000, "{down}");
}

/// --no-confirm: today's behaviour, the same crash is `down` by silence at
/// its deadline.
#[test]
fn no_confirm_judges_a_killed_sender_by_silence() {
    let (mut listen, addr) = Running::listener(&["--misses", "10", "--no-confirm"]);
    let send = sender(addr, "crashy", "100ms", &[]);
    listen.expect("up", |v| v["node"] == "crashy");
    let killed = wall_ms();
    send.signal("KILL");
    let down = listen.expect_after("down", killed, |v| v["node"] == "crashy");
    assert_eq!(down["cause"], "silence", "{down}");
    assert!(ms(&down, "silent_ms") >= 1000, "{down}");
}

/// ICMP is signed by no key: with --key-file a closed port confirms a
/// down early only with --trust-unreachable. (Unanswered probes are left
/// out, --false-down-chance 0: they would make it down early either way.)
#[test]
fn with_a_key_a_closed_port_is_believed_only_when_trusted() {
    let dir = TempDir::new();
    let key = dir.key_file("key", &format!("{KEY}\n"), 0o600);
    let key = key.to_str().unwrap();
    for (trust, cause) in [(false, "silence"), (true, "unreachable")] {
        let mut args = vec![
            "--misses",
            "10",
            "--key-file",
            key,
            "--false-down-chance",
            "0",
        ];
        if trust {
            args.push("--trust-unreachable");
        }
        let (mut listen, addr) = Running::listener(&args);
        let send = sender(addr, "keyed", "100ms", &["--key-file", key]);
        listen.expect("up", |v| v["node"] == "keyed");
        let killed = wall_ms();
        send.signal("KILL");
        let down = listen.expect_after("down", killed, |v| v["node"] == "keyed");
        assert_eq!(down["cause"], cause, "trusted: {trust}: {down}");
        if !trust {
            assert!(ms(&down, "silent_ms") >= 1000, "{down}");
        }
    }
}

/// A hand-written beat (socat, printf) does not say that its sender
/// answers: it is never probed and judged by silence exactly as before,
/// even from a port that stays open.
#[test]
fn a_beat_without_answers_is_never_probed() {
    let (mut listen, addr) = Running::listener(&["--misses", "4"]);
    let node = UdpSocket::bind("127.0.0.1:0").unwrap();
    node.send_to(&beat("cron", "b1", 1, 100), addr).unwrap();
    listen.expect("up", |v| v["node"] == "cron");
    listen.expect("suspect", |v| v["node"] == "cron");
    let down = listen.expect("down", |v| v["node"] == "cron");
    assert_eq!(down["cause"], "silence", "{down}");
    assert!(ms(&down, "silent_ms") >= 400, "{down}");
    node.set_nonblocking(true).unwrap();
    let mut buf = [0u8; 2048];
    assert!(node.recv_from(&mut buf).is_err(), "a probe came");
    // A one-shot beat from a socket already closed: silence too.
    send_raw(addr, br#"{"type":"beat","node":"once","every_ms":100}"#);
    let down = listen.expect("down", |v| v["node"] == "once");
    assert_eq!(down["cause"], "silence", "{down}");
}

/// A node made by hand, beating (signed with `key`) from its own socket
/// that says it answers, then silent: what the listener's probes look like.
struct FakeNode {
    socket: UdpSocket,
    key: Option<hb::auth::Keys>,
    listener: SocketAddr,
}

impl FakeNode {
    fn new(listener: SocketAddr, key: Option<&Path>) -> FakeNode {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket.set_read_timeout(Some(PATIENCE)).unwrap();
        FakeNode {
            socket,
            key: key.map(|k| hb::auth::Keys::load(k).unwrap()),
            listener,
        }
    }

    fn send(&self, mut datagram: Vec<u8>, signed: bool) {
        if let (Some(key), true) = (&self.key, signed) {
            key.sign(&mut datagram);
        }
        self.socket.send_to(&datagram, self.listener).unwrap();
    }

    /// A signed beat, stamped now, that says its sender answers probes.
    fn beat(&self, seq: u64) {
        let extra = format!(r#""ts_ms":{},"answers":true"#, wall_ms());
        self.send(beat_with("fake", "fb", seq, 200, &extra), true);
    }

    /// Drops the probes already received: those of a suspicion that ended.
    fn drain(&self) {
        let mut buf = [0u8; 2048];
        self.socket.set_nonblocking(true).unwrap();
        while self.socket.recv_from(&mut buf).is_ok() {}
        self.socket.set_nonblocking(false).unwrap();
    }

    /// The next probe from the listener: its nonce and size.
    fn probe(&self) -> (u64, usize) {
        let mut buf = [0u8; 2048];
        let (len, from) = self.socket.recv_from(&mut buf).expect("a probe");
        assert_eq!(from, self.listener);
        let probe: Value = serde_json::from_slice(&buf[..len]).unwrap();
        assert_eq!(probe["type"], "probe", "{probe}");
        assert_eq!(probe.get("mac").is_some(), self.key.is_some(), "{probe}");
        (probe["nonce"].as_u64().unwrap(), len)
    }

    fn answer(&self, nonce: u64, signed: bool) {
        let reply = self.answer_datagram(nonce, signed);
        self.socket.send_to(&reply, self.listener).unwrap();
    }

    /// The answer to the probe of `nonce`, as this node sends it.
    fn answer_datagram(&self, nonce: u64, signed: bool) -> Vec<u8> {
        let reply = format!(r#"{{"type":"reply","node":"fake","nonce":{nonce},"boot":"fb"}}"#);
        let mut datagram = reply.into_bytes();
        if let (Some(key), true) = (&self.key, signed) {
            key.sign(&mut datagram);
        }
        datagram
    }
}

/// A suspect node that answers is `up` again at once, `refuted`; its
/// deadline counts from the answer, so one that keeps answering is never
/// down. With a key, an unsigned answer refutes nothing.
#[test]
fn an_answer_refutes_a_suspicion_and_an_unsigned_one_does_not() {
    let dir = TempDir::new();
    let key = dir.key_file("key", &format!("{KEY}\n"), 0o600);
    let (mut listen, addr) = Running::listener(&[
        "--misses",
        "5",
        "--key-file",
        key.to_str().unwrap(),
        "--status-every",
        "100ms",
    ]);
    let node = FakeNode::new(addr, Some(&key));
    node.beat(1);
    listen.expect("up", |v| v["node"] == "fake");
    // Silent from now on: suspect at 300 ms, down at 1 s unless refuted.
    let (nonce, len) = node.probe();
    let answer = node.answer_datagram(nonce, true);
    assert!(
        len >= answer.len(),
        "a probe is as long as its answer: {len}"
    );
    node.answer(nonce, false);
    let status = listen.expect("status", |v| v["rejected"]["bad-mac"] == 1);
    assert_eq!(status["suspect"][0], "fake", "{status}");
    let mut refuted = 0;
    while refuted < 3 {
        let (nonce, _) = node.probe();
        node.answer(nonce, true);
        let up = listen.expect("up", |v| v["node"] == "fake" && v["was"] == "suspect");
        assert_eq!(up["refuted"], true, "{up}");
        node.drain();
        refuted += 1;
    }
    // Three refutations span more than the 1 s deadline of the last beat.
    assert!(
        listen.seen_of("down", "fake").is_empty(),
        "{}",
        listen.history()
    );
}

/// A real hb-send whose beats are all lost (nft drops them, in a network
/// namespace of the test's own) but whose answers pass stays up: each
/// suspicion is refuted, never a down.
#[test]
fn a_sender_whose_beats_are_lost_but_answers_stays_up() {
    let Some(ns) = Netns::new(test_name!()) else {
        return;
    };
    let mut listen_cmd = ns.command(&bin("hb-listen"));
    listen_cmd.args(["--listen", "127.0.0.1:26722", "--misses", "5"]);
    let mut listen = Running::start(listen_cmd, "hb-listen in netns");
    listen.listening();
    let mut send_cmd = ns.command(&bin("hb-send"));
    send_cmd.args(["--node", "lossy", "--every", "200ms"]);
    let _send = Running::start(send_cmd, "hb-send in netns");
    listen.expect("up", |v| v["node"] == "lossy");
    // Beats start `{"type":"beat"`: the first 10 bytes of the payload.
    let beats = format!("0x{}", hex(br#"{"type":"b"#));
    ns.nft(&format!(
        "table inet hbtest {{\n  chain out {{\n    type filter hook output priority 0;\n    udp dport 26722 @ih,0,80 {beats} drop\n  }}\n}}\n"
    ));
    for _ in 0..4 {
        let up = listen.expect("up", |v| v["node"] == "lossy" && v["was"] == "suspect");
        assert_eq!(up["refuted"], true, "{up}");
    }
    assert!(
        listen.seen_of("down", "lossy").is_empty(),
        "{}",
        listen.history()
    );
    // Answers lost too: the node is down by silence, at its deadline.
    let cut = wall_ms();
    ns.nft("flush table inet hbtest\ntable inet hbtest {\n  chain out {\n    type filter hook output priority 0;\n    udp dport 26722 drop\n  }\n}\n");
    let down = listen.expect_after("down", cut, |v| v["node"] == "lossy");
    assert_eq!(down["cause"], "silence", "{down}");
    assert!(ms(&down, "silent_ms") >= 1000, "{down}");
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Probes keep to the per-node limit: at most one per quarter interval
/// (here 50 ms), however long the node stays suspect (unanswered probes
/// declare nothing here: --false-down-chance 0).
#[test]
fn probes_keep_to_the_per_node_rate() {
    let (mut listen, addr) = Running::listener(&["--misses", "20", "--false-down-chance", "0"]);
    let node = FakeNode::new(addr, None);
    // Unsigned: its address is probed with at most three times the bytes
    // it sent; ten beats buy the probes of the 2.5 s watched.
    for seq in 1..=10 {
        node.beat(seq);
    }
    listen.expect("up", |v| v["node"] == "fake");
    node.socket
        .set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let mut at = Vec::new();
    let start = std::time::Instant::now();
    let mut buf = [0u8; 2048];
    while start.elapsed() < Duration::from_millis(2500) {
        if node.socket.recv_from(&mut buf).is_ok() {
            at.push(start.elapsed());
        }
    }
    assert!(at.len() >= 3, "probes at {at:?}");
    // Suspect from 300 ms, down at 4 s: 2.5 s see at most 1 + 2500/50.
    assert!(at.len() <= 51, "{} probes: {at:?}", at.len());
    for pair in at.windows(2) {
        // Received times: a probe is never sent within 50 ms of the last;
        // a late one may arrive close behind the next (a margin for that).
        assert!(pair[1] - pair[0] >= Duration::from_millis(40), "{at:?}");
    }
}

/// A paused sender (SIGSTOP) keeps its port: no error comes back, and no
/// `unreachable`; once it runs again its answer (or its beat) ends the
/// suspicion. Its first pause may be, to the listener, a host gone
/// (`no-answer`): it had never been seen to pause. Once it came back from
/// one (late, with the next seq), its silence is judged by its deadline
/// alone: a longer pause within it is no `down`.
#[test]
fn a_sender_back_from_a_pause_is_never_down_early_again() {
    let (mut listen, addr) = Running::listener(&["--misses", "20"]);
    let send = sender(addr, "paused", "100ms", &[]);
    listen.expect("up", |v| v["node"] == "paused");
    // Thirty beats: its path's loss is measured.
    std::thread::sleep(Duration::from_millis(3000));
    for pause in [600, 1200] {
        let stopped = wall_ms();
        send.signal("STOP");
        listen.expect("suspect", |v| v["node"] == "paused");
        std::thread::sleep(Duration::from_millis(pause));
        send.signal("CONT");
        let back = listen.expect("up", |v| {
            v["node"] == "paused" && (v["was"] == "suspect" || v["was"] == "down")
        });
        assert!(ms(&back, "silent_ms") < 2000, "{back}");
        if pause > 600 {
            let downs = listen.seen_of("down", "paused");
            assert!(
                downs.iter().all(|d| ms(d, "ts_ms") < stopped),
                "{}",
                listen.history()
            );
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// The same with a node made by hand, to the millisecond: a beat with the
/// next seq 350 ms after the last (150 ms late, over half its 200 ms
/// interval) shows it pauses; its 1.2 s of silence after that, which
/// unanswered probes would call a host gone at 550 ms, waits for its
/// deadline (2 s) and ends with its next beat.
#[test]
fn a_node_seen_to_pause_is_judged_by_its_deadline() {
    let (mut listen, addr) = Running::listener(&["--misses", "10"]);
    let node = FakeNode::new(addr, None);
    let tick = Duration::from_millis(200);
    for seq in 1..=25 {
        node.beat(seq);
        std::thread::sleep(tick);
    }
    std::thread::sleep(Duration::from_millis(150));
    node.beat(26);
    for seq in 27..=30 {
        std::thread::sleep(tick);
        node.beat(seq);
    }
    std::thread::sleep(Duration::from_millis(1200));
    let back = wall_ms();
    node.beat(31);
    listen.expect("up", |v| {
        v["node"] == "fake" && v["ts_ms"].as_u64().is_some_and(|t| t >= back)
    });
    assert!(
        listen.seen_of("down", "fake").is_empty(),
        "{}",
        listen.history()
    );
}

/// A listener and an hb-send beating every `every` to it, in a network
/// namespace of the test's own, the listener on `port`; once the node is
/// up and has beaten for `warm` (its path's loss measured).
fn in_netns(ns: &Netns, port: u16, every: &str, warm: Duration) -> (Running, Running) {
    let listen_at = format!("127.0.0.1:{port}");
    let mut listen_cmd = ns.command(&bin("hb-listen"));
    listen_cmd.args(["--listen", &listen_at]);
    let mut listen = Running::start(listen_cmd, "hb-listen in netns");
    listen.listening();
    let mut send_cmd = ns.command(&bin("hb-send"));
    send_cmd.args(["--node", "host", "--to", &listen_at, "--every", every]);
    let send = Running::start(send_cmd, "hb-send in netns");
    listen.expect("up", |v| v["node"] == "host");
    std::thread::sleep(warm);
    (listen, send)
}

/// A host that vanishes without a word (nft drops everything to and from
/// it, no ICMP) on a clean path is `down` with `"cause":"no-answer"`
/// before its --misses deadline (5 of its 500 ms intervals), with default
/// flags, and says what it weighed. On a quiet machine that is 2.75
/// intervals after its last beat; on one loaded with the other tests a
/// beat may come late, a silence it came back from, which the listener no
/// longer counts as evidence: later, so the test asks for no more than the
/// deadline. (Beats of 500 ms: on a loaded machine a beat more than half
/// of a short interval late would show a pause, and the deadline judge.)
#[test]
fn a_host_that_vanishes_is_down_no_answer_within_three_intervals() {
    let Some(ns) = Netns::new(test_name!()) else {
        return;
    };
    let (mut listen, _send) = in_netns(&ns, 26723, "500ms", Duration::from_secs(12));
    let cut = wall_ms();
    // Dropped on the way in: a send dropped on its way out fails, and a
    // probe that did not leave is no evidence.
    ns.nft("table inet hbtest {\n  chain in {\n    type filter hook input priority 0;\n    udp dport 26723 drop\n    udp sport 26723 drop\n  }\n}\n");
    let down = listen.expect_after("down", cut, |v| v["node"] == "host");
    assert_eq!(down["cause"], "no-answer", "{down}");
    assert!(ms(&down, "silent_ms") < 2500, "{down}");
    assert!(ms(&down, "probes") >= 2, "{down}");
    assert_eq!(down["bound"], 1e-6, "{down}");
    assert!(down["chance"].as_f64().unwrap() < 1e-6, "{down}");
}

/// A node alive on a path that loses 30% of the packets both ways (beats,
/// probes and answers alike) is never declared down.
#[test]
fn a_lossy_but_alive_node_is_not_down() {
    let Some(ns) = Netns::new(test_name!()) else {
        return;
    };
    ns.nft("table inet hbtest {\n  chain in {\n    type filter hook input priority 0;\n    udp dport 26724 numgen random mod 10 < 3 drop\n    udp sport 26724 numgen random mod 10 < 3 drop\n  }\n}\n");
    let (listen, _send) = in_netns(&ns, 26724, "100ms", Duration::from_secs(15));
    assert!(
        listen.seen_of("down", "host").is_empty(),
        "{}",
        listen.history()
    );
}
