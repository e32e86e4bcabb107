//! Input as an adversary writes it (datagrams, recorded lines, flags,
//! files): nothing silences the monitor behind `jq`, crashes it, or makes
//! one name look like another. Every line printed is strict JSON that jq
//! and Python's json take, in the output contract.

use std::io::{BufRead, BufReader, Write};
use std::net::UdpSocket;
use std::process::{Command, Stdio};

use serde_json::{json, Value};

use crate::harness::{
    bin, cmd, parse_event, parse_events, send_raw, skip_as, test_name, wait_for_file, Running,
    TempDir, PATIENCE,
};

/// Each datagram and the reason it is refused for.
const HOSTILE: &[(&str, &str)] = &[
    // A lone surrogate escape: jq refuses it, and would exit.
    (
        r#"{"type":"beat","node":"evil","health":{"x":"\ud800"}}"#,
        "bad-json",
    ),
    (
        r#"{"type":"beat","node":"evil","health":{"x":[{"\udc00":1}]}}"#,
        "bad-json",
    ),
    // A number no double holds.
    (
        r#"{"type":"beat","node":"evil","health":{"x":1e999}}"#,
        "bad-json",
    ),
    // Health that is not an object.
    (
        r#"{"type":"beat","node":"evil","health":"a string"}"#,
        "bad-field",
    ),
    (
        r#"{"type":"beat","node":"evil","health":[1,2]}"#,
        "bad-field",
    ),
    // Intervals out of range: a node down 5 ms after its first beat, or a
    // wrapped 999999999999d.
    (r#"{"type":"beat","node":"evil","every_ms":0}"#, "bad-field"),
    (
        r#"{"type":"beat","node":"evil","every_ms":12613023705075393536}"#,
        "bad-field",
    ),
    // A timestamp past year 9999.
    (
        r#"{"type":"beat","node":"evil","ts_ms":253402300800000}"#,
        "bad-field",
    ),
    // Look-alike names: a bidi override, isolates, zero-width characters,
    // white space at an end.
    (r#"{"type":"beat","node":"web-1\u202e"}"#, "bad-node"),
    (r#"{"type":"beat","node":"\u2066web-1\u2069"}"#, "bad-node"),
    (r#"{"type":"beat","node":"web-1\u200b"}"#, "bad-node"),
    (r#"{"type":"beat","node":"\ufeffweb-1"}"#, "bad-node"),
    (r#"{"type":"beat","node":" web-1"}"#, "bad-node"),
    (r#"{"type":"beat","node":"web-1 "}"#, "bad-node"),
];

/// Health nested `depth` deep: `{"a":{"a":...1...}}`.
fn nested_health(depth: usize) -> String {
    format!("{}1{}", r#"{"a":"#.repeat(depth), "}".repeat(depth))
}

/// Checks `text` (NDJSON) line by line against the output contract, then
/// whole through Python's json and jq, which are stricter in places than
/// serde and are what operators pipe hb into.
fn strict_readers_take(test: &str, text: &str) {
    for line in text.lines() {
        parse_event(line);
    }
    readers_take(test, text, true);
}

/// Feeds `text` to Python's json (one value per line, or the whole text)
/// and to `jq -e .`; both must take it. Without them, says loudly that
/// this part of `test` (named with [`test_name!`]) was skipped.
fn readers_take(test: &str, text: &str, per_line: bool) {
    let python = match per_line {
        true => "import json, sys\nfor line in sys.stdin: json.loads(line)",
        false => "import json, sys\njson.load(sys.stdin)",
    };
    let readers: [(&str, &[&str]); 2] = [("python3", &["-c", python]), ("jq", &["-e", "."])];
    for (reader, args) in readers {
        let child = Command::new(reader)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn();
        let Ok(mut child) = child else {
            skip_as(test, &format!("{reader} is not installed"));
            continue;
        };
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{reader} refused hb's output: {}\n{text}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn hostile_datagrams_are_refused_and_every_line_stays_strict_json() {
    let test = test_name!();
    let dir = TempDir::new();
    let state = dir.path().join("state.json");
    let mut listen = Command::new(bin("hb-listen"));
    listen
        .args([
            "--listen",
            "127.0.0.1:0",
            "--status-every",
            "50ms",
            "--beats",
            "--log-rejects",
        ])
        .args(["--state-every", "10ms", "--state"])
        .arg(&state)
        .stdin(Stdio::null());
    let (l, stdout) = Running::start_raw(listen, "hb-listen");
    let addr = l.listening();
    let mut lines = BufReader::new(stdout).lines();

    let deep_ok = format!(
        r#"{{"type":"beat","node":"deep","health":{}}}"#,
        nested_health(100)
    );
    let deep_bad = format!(
        r#"{{"type":"beat","node":"evil","health":{}}}"#,
        nested_health(200)
    );
    for (datagram, _) in HOSTILE {
        send_raw(addr, datagram.as_bytes());
    }
    send_raw(addr, deep_bad.as_bytes());
    send_raw(addr, deep_ok.as_bytes());
    // What is valid passes as it came: escapes that strict readers take,
    // names with inner spaces, odd but finite numbers.
    send_raw(
        addr,
        br#"{"type":"beat","node":"web 1","health":{"x":"\ud83d\ude00\u0000\u202e","n":1e300,"big":18446744073709551616}}"#,
    );

    let mut want = json!({});
    for (_, reason) in HOSTILE {
        let n = want[reason].as_u64().unwrap_or(0);
        want[reason] = json!(n + 1);
    }
    want["bad-json"] = json!(want["bad-json"].as_u64().unwrap() + 1);
    let mut text = String::new();
    let status = loop {
        let line = lines
            .next()
            .expect("hb-listen ended")
            .expect("stdout is UTF-8");
        text.push_str(&line);
        text.push('\n');
        let v = parse_event(&line);
        if v["type"] == "status" && v["received"] == 2 && v["rejected"] == want {
            break v;
        }
        assert!(v["ts_ms"].as_u64().is_some(), "{line}");
    };
    let mut up = status["up"].as_array().unwrap().clone();
    up.sort_by_key(|v| v.to_string());
    assert_eq!(up, [json!("deep"), json!("web 1")], "{status}");
    assert!(
        !text.contains("evil"),
        "a refused node was printed:\n{text}"
    );
    strict_readers_take(test, &text);

    // The state file is read by scripts too (the README's HAProxy recipe).
    // Both nodes, up or (on a slow machine) already suspect.
    let snapshot = wait_for_file(&state, "both nodes", PATIENCE, |written| {
        let v: Value = serde_json::from_str(written).unwrap_or(Value::Null);
        v["nodes"].as_object().is_some_and(|nodes| nodes.len() == 2)
    });
    readers_take(test, &snapshot, false);
}

/// hb-poll decodes replies with the same rules: a reply whose health
/// strict readers refuse, or whose health is not an object, is no reply.
#[test]
fn hb_poll_refuses_replies_with_hostile_health() {
    let test = test_name!();
    for (health, up) in [
        (r#"{"x":"\ud800"}"#, false),
        (r#""a string""#, false),
        (r#"{"x":"\ud83d\ude00"}"#, true),
    ] {
        let fake = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = fake.local_addr().unwrap().to_string();
        let responder = std::thread::spawn(move || {
            let mut buf = [0u8; 2048];
            fake.set_read_timeout(Some(PATIENCE)).unwrap();
            let (len, from) = fake.recv_from(&mut buf).unwrap();
            let probe: Value = serde_json::from_slice(&buf[..len]).unwrap();
            let nonce = probe["nonce"].as_u64().unwrap();
            let reply =
                format!(r#"{{"type":"reply","node":"r","nonce":{nonce},"health":{health}}}"#);
            fake.send_to(reply.as_bytes(), from).unwrap();
        });
        let out = cmd("hb-poll")
            .args([&addr, "-t", "1s", "--retries", "0"])
            .output()
            .unwrap();
        responder.join().unwrap();
        let text = String::from_utf8(out.stdout).unwrap();
        let events = parse_events(text.as_bytes());
        let status = if up { "up" } else { "down" };
        assert_eq!(events[0]["status"], status, "{health}: {text}");
        assert_eq!(out.status.code(), Some(if up { 0 } else { 2 }), "{text}");
        strict_readers_take(test, &text);
    }
}

/// `hb-listen --from FILE --replay --status-every 1s` over `lines`.
fn replay(dir: &TempDir, lines: &str) -> (std::process::Output, Vec<Value>) {
    let file = dir.file("recording.ndjson", lines);
    let out = Command::new(bin("hb-listen"))
        .arg("--from")
        .arg(file)
        .args(["--replay", "--status-every", "1s"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let events = parse_events(&out.stdout);
    (out, events)
}

#[test]
fn replay_takes_year_10000_and_gaps_of_decades() {
    let dir = TempDir::new();
    // Once a panic (exit 101) in the RFC 3339 writer.
    let (out, events) = replay(
        &dir,
        "{\"type\":\"beat\",\"node\":\"a\",\"ts_ms\":1000}\n\
         {\"type\":\"beat\",\"node\":\"a\",\"ts_ms\":253402300800000}\n\
         {\"type\":\"status\",\"ts_ms\":253402300800000}\n\
         {\"type\":\"beat\",\"node\":\"a\",\"ts_ms\":3000}\n",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let status = events.iter().rev().find(|v| v["type"] == "status").unwrap();
    assert_eq!(status["rejected"], json!({"bad-field": 2}), "{status}");
    assert!(events.iter().all(|v| v["ts_ms"].as_u64() <= Some(3000)));

    // From 1970 to today: once a status line for every second of the 56
    // years, now ten after each thing that happened (the down, and the
    // node forgotten a day later).
    let today = crate::harness::wall_ms();
    let (out, events) = replay(
        &dir,
        &format!(
            "{{\"type\":\"beat\",\"node\":\"a\",\"ts_ms\":0}}\n\
             {{\"type\":\"beat\",\"node\":\"a\",\"ts_ms\":{today}}}\n"
        ),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let status = events.iter().filter(|v| v["type"] == "status").count();
    assert!(status < 40, "{status} status lines: {events:?}");
    assert!(events.iter().any(|v| v["type"] == "down"), "{events:?}");
    assert!(
        events.iter().any(|v| v["type"] == "forgotten"),
        "{events:?}"
    );
}

/// A line longer than any datagram (and what a recorder adds) is refused
/// and counted, read through without being kept; the next line counts.
#[test]
fn from_lines_are_capped_like_datagrams() {
    let long = format!(
        "{{\"type\":\"beat\",\"node\":\"a\",\"x\":\"{}\"}}\n",
        "y".repeat(8 << 20)
    );
    let mut listen = Command::new(bin("hb-listen"));
    listen
        .args(["--from", "-", "--status-every", "50ms"])
        .stdin(Stdio::piped());
    let mut l = Running::start(listen, "hb-listen");
    let mut stdin = l.take_stdin();
    stdin.write_all(long.as_bytes()).unwrap();
    stdin
        .write_all(b"{\"type\":\"beat\",\"node\":\"b\"}\n")
        .unwrap();
    l.expect("up", |v| v["node"] == "b");
    l.expect("status", |v| v["rejected"] == json!({"too-large": 1}));
    assert!(l.seen_of("up", "a").is_empty());
}

/// A tool, its arguments and environment, the exit code it must give and
/// what its message must say.
type Case<'a> = (
    &'a str,
    &'a [&'a str],
    &'a [(&'a str, &'a str)],
    i32,
    &'a [&'a str],
);

#[test]
fn flags_and_files_are_checked_with_messages_that_say_what_is_wrong() {
    let dir = TempDir::new();
    let bidi = dir.file("expect.txt", "web-1\nweb-1\u{202e}\n");
    let bidi = bidi.to_str().unwrap();
    let cases: &[Case] = &[
        (
            "hb-send",
            &["--every", "1ns", "--once"],
            &[],
            2,
            &["--every", "at least 10ms"],
        ),
        (
            "hb-send",
            &["--every", "999999999999d", "--once"],
            &[],
            2,
            &["--every", "at most 7days"],
        ),
        (
            "hb-send",
            &["--every", "-1s", "--once"],
            &[],
            2,
            &["--every", "cannot be negative"],
        ),
        (
            "hb-poll",
            &["-t", "-1", "127.0.0.1"],
            &[],
            3,
            &["--timeout", "cannot be negative"],
        ),
        (
            "hb-poll",
            &["--every", "5ms", "127.0.0.1"],
            &[],
            3,
            &["--every", "at least 10ms"],
        ),
        (
            "hb-listen",
            &["--status-every", "-1s"],
            &[],
            2,
            &["--status-every", "cannot be negative"],
        ),
        (
            "hb-listen",
            &["--flap-window", "8d"],
            &[],
            2,
            &["--flap-window", "at most 7days"],
        ),
        ("hb-listen", &["--replay"], &[], 2, &["--from"]),
        (
            "hb-listen",
            &["--from", "-", "--expect-file", "-"],
            &[],
            2,
            &["standard input"],
        ),
        (
            "hb-listen",
            &["--from", "/tmp"],
            &[],
            1,
            &["/tmp", "directory"],
        ),
        (
            "hb-listen",
            &["--from", "/dev/null", "--key-file", "/tmp"],
            &[],
            1,
            &["/tmp", "is a directory"],
        ),
        (
            "hb-listen",
            &["--from", "/dev/null"],
            &[("HB_KEY_FILE", "")],
            2,
            &["HB_KEY_FILE is empty"],
        ),
        (
            "hb-send",
            &["--node", "web-1\u{202e}", "--once"],
            &[],
            2,
            &["--node", "invisible"],
        ),
        (
            "hb-send",
            &["--node", "web-1 ", "--once"],
            &[],
            2,
            &["--node", "space"],
        ),
        (
            "hb-listen",
            &["--from", "/dev/null", "--expect-file", bidi],
            &[],
            1,
            &["expect.txt:2", "\\u{202e}"],
        ),
    ];
    for (tool, args, env, code, says) in cases {
        let mut c = cmd(tool);
        c.args(*args).env_remove("HB_KEY_FILE").write_stdin("");
        for (k, v) in *env {
            c.env(k, v);
        }
        let out = c.output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(*code), "{tool} {args:?}: {stderr}");
        for said in *says {
            assert!(
                stderr.contains(said),
                "{tool} {args:?} should say {said:?}: {stderr}"
            );
        }
        assert!(
            !stderr.contains("chmod") && !stderr.contains("unexpected argument"),
            "{stderr}"
        );
        assert!(env.is_empty() || !stderr.contains("--key-file"), "{stderr}");
    }
}
