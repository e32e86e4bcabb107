//! Heartbeats with acknowledgement end to end: hb-send --ack against
//! hb-ack, acks lost on the way back, and hb-listen --from / --replay.

use std::net::UdpSocket;
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::harness::{
    bin, cmd, dead_target, parse_events, test_name, wall_ms, Netns, Running, PATIENCE,
};

/// hb-ack as the receiving end, node `rcv`; its address as hb-send takes it.
fn receiver() -> (Running, String) {
    let (r, addr) = Running::responder(&["--node", "rcv", "--no-health"]);
    (r, addr.to_string())
}

#[test]
fn both_ends_know_the_other_is_alive() {
    let (mut receiver, addr) = receiver();
    // An ack is on time within 20 intervals: a loaded machine may hold
    // one up for several.
    let mut sender = Running::spawn(
        "hb-send",
        &[
            "--ack", "--to", &addr, "--node", "snd", "--every", "50ms", "-t", "1s", "-v",
        ],
    );
    let up = sender.expect("up", |_| true);
    assert_eq!(
        (&up["target"], &up["node"]),
        (&addr.clone().into(), &"rcv".into())
    );
    let ack = sender.expect("ack", |v| v["seq"] == 3);
    assert_eq!(ack["late"], false);
    assert!(ack["rtt_ms"].as_f64().unwrap() >= 0.0, "{ack}");
    // The receiver sees the sender's beats, each asking for an ack.
    let seen = receiver.expect("beat", |v| v["seq"] == 3);
    assert_eq!((&seen["node"], &seen["ack"]), (&"snd".into(), &true.into()));
}

#[test]
fn receiver_killed_sender_reports_down_then_up_again() {
    let (receiver, addr) = receiver();
    // An ack may take 10 intervals on a loaded machine before it is missed.
    let mut sender = Running::spawn(
        "hb-send",
        &[
            "--ack", "--to", &addr, "--every", "100ms", "--misses", "3", "-t", "1s",
        ],
    );
    sender.expect("up", |_| true);
    let killed = wall_ms();
    drop(receiver);
    let down = sender.expect_after("down", killed, |_| true);
    assert_eq!(down["missed"], 3, "{down}");
    assert!(down["silent_ms"].as_u64().unwrap() >= 300, "{down}");

    // The same address: the sender knows its receiver by it.
    let restarted = wall_ms();
    let _again = Running::bound_again("hb-ack", &addr, &["--no-health"]);
    let back = sender.expect_after("up", restarted, |v| v["was"] == "down");
    assert!(back["down_ms"].as_u64().is_some(), "{back}");
    assert_eq!(sender.signal_and_wait("TERM").code(), Some(0));
}

#[test]
fn once_answers_did_my_heartbeat_arrive() {
    let (_receiver, addr) = receiver();
    cmd("hb-send")
        .args(["--ack", "--once", "--to", &addr, "-t", "2s"])
        .assert()
        .success()
        .stdout("")
        .stderr("");

    // Long enough for the live receiver to answer on a loaded machine.
    let (_nobody, dead) = dead_target();
    let out = cmd("hb-send")
        .args(["--ack", "--once", "--to", &addr, "--to", &dead, "-t", "1s"])
        .assert()
        .code(1)
        .get_output()
        .clone();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(
        stderr.trim(),
        format!("hb-send: no ack from {dead} for 1 of 1 beats within 1s")
    );
}

/// A fake receiver that answers beat 1 twice at once, beat 2 only after
/// its timeout (when beat 3 comes, an interval later), beat 3 at once: one
/// ack event each, the second marked late, and --count's exit code counts
/// the late one as not acknowledged in time. The timeout leaves the fake
/// half an interval to answer "at once" on a loaded machine.
#[test]
fn late_acks_prove_life_and_duplicates_are_ignored() {
    let fake = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = fake.local_addr().unwrap();
    let receiver = std::thread::spawn(move || {
        fake.set_read_timeout(Some(PATIENCE)).unwrap();
        let mut buf = [0u8; 2048];
        let mut held = None;
        for _ in 0..3 {
            let (len, from) = fake.recv_from(&mut buf).unwrap();
            let beat: Value = serde_json::from_slice(&buf[..len]).unwrap();
            let seq = beat["seq"].as_u64().unwrap();
            let ack = format!(r#"{{"type":"ack","node":"fake","of":"snd","seq":{seq}}}"#);
            match seq {
                1 => {
                    fake.send_to(ack.as_bytes(), from).unwrap();
                    fake.send_to(ack.as_bytes(), from).unwrap();
                }
                2 => held = Some((ack, from)),
                _ => {
                    let (late, to) = held.take().unwrap();
                    fake.send_to(late.as_bytes(), to).unwrap();
                    fake.send_to(ack.as_bytes(), from).unwrap();
                }
            }
        }
    });
    let out = cmd("hb-send")
        .args(["--ack", "--to", &addr.to_string(), "--node", "snd"])
        .args(["--count", "3", "--every", "1s", "-t", "500ms", "-v"])
        .output()
        .unwrap();
    receiver.join().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let acks: Vec<(u64, bool)> = parse_events(&out.stdout)
        .into_iter()
        .filter(|v| v["type"] == "ack")
        .map(|v| (v["seq"].as_u64().unwrap(), v["late"].as_bool().unwrap()))
        .collect();
    assert_eq!(acks, [(1, false), (2, true), (3, false)]);
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("for 1 of 3 beats within 500ms"), "{stderr}");
}

/// Both ends know the other is alive: the receiver judges the sender too,
/// by piping what hb-ack prints into hb-listen --from -.
#[test]
fn hb_ack_piped_into_hb_listen_judges_the_sender() {
    let mut ack = Command::new(bin("hb-ack"));
    ack.args(["--listen", "127.0.0.1:0", "--no-health"])
        .stdin(Stdio::null());
    let (ack, ack_stdout) = Running::start_raw(ack, "hb-ack");
    let addr = ack.listening().to_string();
    let mut listen = Command::new(bin("hb-listen"));
    // 10 intervals, 1 s: more than a loaded machine holds a beat up.
    listen
        .args(["--from", "-", "--misses", "10"])
        .stdin(ack_stdout);
    let mut listen = Running::start(listen, "hb-listen --from -");
    // The 4th and last beat leaves 3 intervals after the start at the
    // earliest: a down stamped earlier came while the sender was beating.
    let silent_from = wall_ms() + 3 * 100;
    cmd_send(&addr, "piped", &["--count", "4", "--every", "100ms"]);
    let up = listen.expect("up", |_| true);
    assert_eq!(up["node"], "piped");
    assert!(
        up["addr"].as_str().unwrap().starts_with("127.0.0.1:"),
        "{up}"
    );
    let down = listen.expect_after("down", silent_from, |_| true);
    assert_eq!(down["node"], "piped");
    assert!(down["silent_ms"].as_u64().unwrap() >= 1000);
}

/// hb-send --ack run to its end, which must be a success: every beat
/// acknowledged within a second (on time on a loaded machine too).
fn cmd_send(addr: &str, node: &str, extra: &[&str]) {
    cmd("hb-send")
        .args(["--ack", "--to", addr, "--node", node, "-t", "1s"])
        .args(extra)
        .assert()
        .success();
}

/// A recorded trace replays in milliseconds with exact deadlines.
#[test]
fn replay_is_deterministic() {
    let trace: String = [
        r#"{"type":"beat","node":"a","seq":1,"boot":"x","every_ms":100,"ts_ms":1000}"#,
        r#"{"type":"beat","node":"a","seq":2,"boot":"x","every_ms":100,"ts_ms":1100}"#,
        "",
        "not json",
        r#"{"type":"down","node":"ignored","ts_ms":1500}"#,
        r#"{"type":"beat","node":"a","seq":1,"boot":"y","every_ms":100,"ts_ms":2000,"from":"10.9.8.7:6"}"#,
    ]
    .map(|l| format!("{l}\n"))
    .concat();
    let run = || {
        let out = cmd("hb-listen")
            .args(["--from", "-", "--replay", "--misses", "3"])
            .write_stdin(trace.clone())
            .output()
            .unwrap();
        assert!(out.status.success());
        String::from_utf8(out.stdout).unwrap()
    };
    let first = run();
    assert_eq!(first, run(), "same input, same output");
    let events: Vec<(String, u64)> = parse_events(first.as_bytes())
        .into_iter()
        .map(|v| {
            (
                v["type"].as_str().unwrap().to_owned(),
                v["ts_ms"].as_u64().unwrap(),
            )
        })
        .collect();
    let expected = [
        ("up", 1000),
        ("suspect", 1250),
        ("down", 1400),
        ("restart", 2000),
        ("up", 2000),
    ];
    assert_eq!(
        events,
        expected.map(|(t, ms)| (t.to_owned(), ms)),
        "{first}"
    );
    assert!(
        first.contains(r#""addr":"10.9.8.7:6""#),
        "origin kept: {first}"
    );
}

/// What the detector says live, a replay of the recording says too.
#[test]
fn replay_gives_the_same_events_as_live() {
    // 10 intervals, 1 s: more than a loaded machine holds a beat up.
    let (mut live, addr) = Running::listener(&["--beats", "--misses", "10"]);
    let to = addr.to_string();
    // When each sender's last beat leaves at the earliest (4 and 10 beats,
    // 100 ms apart): a down stamped earlier would be a false one, and the
    // replay would agree with it.
    let started = wall_ms();
    let short = Running::spawn(
        "hb-send",
        &[
            "--to", &to, "--node", "short", "--every", "100ms", "--count", "4",
        ],
    );
    let long = Running::spawn(
        "hb-send",
        &[
            "--to", &to, "--node", "long", "--every", "100ms", "--count", "10",
        ],
    );
    live.expect_after("down", started + 3 * 100, |v| v["node"] == "short");
    live.expect_after("down", started + 9 * 100, |v| v["node"] == "long");
    drop((short, long));
    let mut recording: String = live.seen.iter().map(|v| format!("{v}\n")).collect();
    // The live listener kept running after its last event: so does the
    // replay, a little (the wall-clock stamps and the monotonic deadlines
    // of the live run may differ by a fraction of a millisecond).
    let last = live.seen.last().unwrap()["ts_ms"].as_u64().unwrap();
    recording.push_str(&format!("{{\"type\":\"end\",\"ts_ms\":{}}}\n", last + 50));
    let out = cmd("hb-listen")
        .args(["--from", "-", "--replay", "--misses", "10"])
        .write_stdin(recording.clone())
        .output()
        .unwrap();
    let verdicts = |lines: Vec<Value>| -> Vec<(String, String)> {
        lines
            .into_iter()
            // Verdicts about nodes: not the listener's `observer` lines
            // about itself, which a loaded machine may cause.
            .filter(|v| v["type"] != "beat" && v["node"].is_string())
            .map(|v| {
                (
                    v["type"].as_str().unwrap().into(),
                    v["node"].as_str().unwrap().into(),
                )
            })
            .collect()
    };
    assert_eq!(
        verdicts(parse_events(&out.stdout)),
        verdicts(live.seen.clone()),
        "recording:\n{recording}"
    );
}

/// Acks lost on the way back only: the receiver still sees every beat, the
/// sender reports the path down, and up again when acks pass once more.
#[test]
fn acks_lost_on_the_way_back_only() {
    let Some(ns) = Netns::new(test_name!()) else {
        return;
    };
    let mut ack_cmd = ns.command(&bin("hb-ack"));
    ack_cmd.args([
        "--listen",
        "127.0.0.1:26723",
        "--node",
        "rcv",
        "--no-health",
    ]);
    let mut receiver = Running::start(ack_cmd, "hb-ack in netns");
    receiver.listening();
    let mut send_cmd = ns.command(&bin("hb-send"));
    // An ack may take 10 intervals on a loaded machine before it is missed.
    send_cmd.args([
        "--ack", "--node", "snd", "--every", "100ms", "--misses", "3", "-t", "1s",
    ]);
    let mut sender = Running::start(send_cmd, "hb-send in netns");
    sender.expect("up", |_| true);

    let cut = wall_ms();
    ns.nft(
        "table inet hbtest {\n  chain out {\n    type filter hook output priority 0;\n    udp sport 26723 drop\n  }\n}\n",
    );
    let down = sender.expect_after("down", cut, |_| true);
    assert_eq!(down["target"], "127.0.0.1:26723");
    // Beats still cross: the receiver sees them all, without a gap, well
    // past the moment the sender gave up on the path.
    let first = receiver.expect("beat", |_| true)["seq"].as_u64().unwrap();
    let mut last = first;
    while last < first + 5 {
        let seq = receiver.expect("beat", |_| true)["seq"].as_u64().unwrap();
        assert_eq!(seq, last + 1, "a beat was lost on the way there");
        last = seq;
    }

    let mended = wall_ms();
    ns.nft("delete table inet hbtest");
    sender.expect_after("up", mended, |v| v["was"] == "down");
}

#[test]
fn ack_flags_need_ack_and_bad_values_are_usage_errors() {
    for args in [
        &["--misses", "3"][..],
        &["-t", "1s"],
        &["--ack", "--misses", "0"],
        &["--ack", "-t", "0"],
    ] {
        let out = cmd("hb-send").args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert_eq!(String::from_utf8_lossy(&out.stderr).lines().count(), 1);
    }
    let out = cmd("hb-listen").args(["--replay"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = cmd("hb-listen")
        .args(["--from", "/no/such/file"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/no/such/file"));
}
