//! hb-poll against a target the test scripts: what a reply carries (its
//! boot id, a memory reading) and which probes get one are the test's
//! choice, so thresholds, the `poll` and `summary` fields and `--every`'s
//! detector flags are checked exactly. With `--every` a round is one
//! interval on the detector's clock however long it takes, so a scripted
//! run gives the same events every time; the durations they carry are real
//! time, which only bounds tell.

use std::net::UdpSocket;
use std::thread;
use std::time::UNIX_EPOCH;

use serde_json::{json, Value};

use crate::harness::{cmd, dead_target, parse_events, wall_ms, FakeResponder, Running};

/// The boot id the scripted target's replies carry.
const BOOT: &str = "scripted-boot";
/// Its health: 90% of memory in use, and no `cpu_pct`.
const HEALTH: &str = r#"{"mem_total":1000,"mem_avail":100,"swap_used":0,"load1":0.5,"load5":0.5,"load15":0.5,"uptime_s":100}"#;
/// Its plugin checks: one, passing.
const CHECKS: &str = r#"[{"name":"disk","status":"ok","output":"disk ok"}]"#;

/// A stand-in for hb-ack: the `n`th probe it gets (from 0) is answered if
/// `answer(n)` says so, with a reply carrying [`BOOT`], [`HEALTH`] and
/// [`CHECKS`], and ignored otherwise. Stops on drop.
struct ScriptedTarget {
    addr: String,
    _responder: FakeResponder,
}

impl ScriptedTarget {
    fn start(answer: impl Fn(u64) -> bool + Send + 'static) -> ScriptedTarget {
        let mut probes = 0;
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        let responder = FakeResponder::start(socket, move |datagram| {
            let probe: Value = serde_json::from_slice(datagram).unwrap();
            assert_eq!(probe["type"], "probe");
            let n = probes;
            probes += 1;
            answer(n).then(|| {
                format!(
                    r#"{{"type":"reply","node":"scripted","nonce":{},"boot":"{BOOT}","health":{HEALTH},"checks":{CHECKS}}}"#,
                    probe["nonce"]
                )
            })
        });
        ScriptedTarget {
            addr: responder.addr().to_string(),
            _responder: responder,
        }
    }

    /// Answers every probe.
    fn answering() -> ScriptedTarget {
        ScriptedTarget::start(|_| true)
    }
}

/// One round in Nagios format: exit code and the plugin line.
fn nagios(args: &[&str]) -> (i32, String) {
    let out = cmd("hb-poll")
        .args(args)
        .args(["--format", "nagios"])
        .output()
        .unwrap();
    let line = String::from_utf8(out.stdout).unwrap().trim_end().to_owned();
    (out.status.code().unwrap(), line)
}

#[test]
fn mem_warning_and_critical_judge_the_memory_a_reply_reports() {
    let target = ScriptedTarget::answering();
    let t = target.addr.as_str();

    let (code, line) = nagios(&[t, "--mem-warning", "80"]);
    assert_eq!(code, 1, "{line}");
    assert!(
        line.starts_with(&format!("HB WARNING - 1/1 up: {t} mem 90% | ")),
        "{line}"
    );
    assert!(line.ends_with(" mem_max=90%;80;;0;100"), "{line}");

    let (code, line) = nagios(&[t, "--mem-warning", "80", "--mem-critical", "85"]);
    assert_eq!(code, 2, "{line}");
    assert!(line.starts_with("HB CRITICAL - "), "{line}");
    assert!(line.ends_with(" mem_max=90%;80;85;0;100"), "{line}");

    let (code, line) = nagios(&[t, "--mem-warning", "95", "--mem-critical", "99"]);
    assert_eq!(code, 0, "{line}");
}

/// `poll.boot` is the reply's boot id (absent for a target that did not
/// reply); `summary.problems` lists what is wrong, worst first.
#[test]
fn poll_and_summary_carry_boot_and_problems() {
    let target = ScriptedTarget::answering();
    let (_dead, dead) = dead_target();
    let t = target.addr.as_str();
    let out = cmd("hb-poll")
        .args([t, &dead, "-t", "300ms", "--mem-warning", "80"])
        .args(["--cpu-warning", "50"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let events = parse_events(&out.stdout);
    let (up, down, summary) = (&events[0], &events[1], &events[2]);
    assert_eq!(
        (&up["boot"], &up["node"]),
        (&json!(BOOT), &json!("scripted"))
    );
    assert_eq!(up["state"], "WARNING");
    assert_eq!(down["status"], "down");
    assert!(down.as_object().unwrap().get("boot").is_none(), "{down}");
    assert_eq!(
        summary["problems"],
        json!([
            format!("{dead} down (no reply to 3 probes, 300ms each)"),
            format!("{t} mem 90%"),
            format!("{t} sent no cpu"),
        ])
    );
}

/// hb-poll --every on a script of answered rounds, with `args`.
fn watch(
    script: impl Fn(u64) -> bool + Send + 'static,
    args: &[&str],
) -> (ScriptedTarget, Running) {
    let target = ScriptedTarget::start(script);
    // A second to answer: only the rounds the script leaves silent fail.
    let mut all = vec![
        target.addr.as_str(),
        "--every",
        "50ms",
        "-t",
        "1s",
        "--retries",
        "0",
        "--misses",
        "1",
    ];
    all.extend_from_slice(args);
    let poll = Running::spawn("hb-poll", &all);
    (target, poll)
}

/// Rounds of 50 ms, down after one silent round: a target that answers
/// rounds 3 and 4 after its down, misses round 5, then answers 6, 7 and 8
/// is up again at round 8, its third answer in a row. Each silent round
/// waits its whole second (`-t 1s`), and the lines say so.
#[test]
fn every_mode_up_after_waits_for_consecutive_answers() {
    let (target, mut poll) = watch(|probe| !matches!(probe, 1 | 4), &["--up-after", "3"]);
    let t = target.addr.as_str();
    let first = poll.expect("up", |_| true);
    assert!(first.get("was").is_none(), "{first}");
    // The reply's checks are judged as a beat's are.
    let health = poll.expect("health", |_| true);
    assert_eq!(
        (&health["node"], &health["status"]),
        (&json!(t), &json!("ok"))
    );
    let down = poll.expect("down", |_| true);
    assert_eq!(down["missed"], 1, "{down}");
    assert!(silence(&down, &down) >= 1_000, "{down}");
    let back = poll.expect("up", |_| true);
    assert_eq!((&back["node"], &back["was"]), (&json!(t), &json!("down")));
    // Down over round 5's second; the silence that ended, between two
    // answers in a row.
    let (down_ms, silent_ms) = (back["down_ms"].as_u64(), back["silent_ms"].as_u64());
    assert!(down_ms >= Some(1_000) && silent_ms < Some(1_000), "{back}");
    assert_eq!(poll.seen_of("down", t).len(), 1, "{}", poll.history());
}

/// The `flapping` lines of a target whose rounds 2 and 4 are silent,
/// watched with --flap-changes 3 and a --flap-window of `window`.
fn flapping_lines(window: &str) -> Vec<Value> {
    let args = ["--flap-changes", "3", "--flap-window", window, "-v"];
    let (target, mut poll) = watch(|probe| !matches!(probe, 1 | 3), &args);
    // Round lines follow each round's events: six summaries are past
    // every change.
    for _ in 0..6 {
        poll.expect("summary", |_| true);
    }
    let t = target.addr.as_str();
    assert_eq!(poll.seen_of("down", t).len(), 2, "{}", poll.history());
    poll.seen_of("flapping", t).into_iter().cloned().collect()
}

/// Changes at 125 ms (down), 150 ms (up), 225 ms (down) and 250 ms (up) on
/// the rounds' clock: four in 200 ms, more than --flap-changes 3 within a
/// 200 ms window, but never more than three within 100 ms.
#[test]
fn every_mode_flap_window_counts_changes_on_the_rounds_clock() {
    let wide = thread::spawn(|| flapping_lines("200ms"));
    let narrow = flapping_lines("100ms");
    let wide = wide.join().unwrap();
    assert_eq!(wide.len(), 1, "{wide:?}");
    assert_eq!(
        (&wide[0]["changes"], &wide[0]["window_ms"]),
        (&json!(4), &json!(200))
    );
    assert!(narrow.is_empty(), "{narrow:?}");
}

/// A usage error is UNKNOWN as Nagios shows it: exit 3, and the reason on
/// stdout (Nagios shows nothing of stderr) as well as on stderr, whatever
/// the error is in and whatever `--format` says (it may be the error).
#[test]
fn a_usage_error_is_an_unknown_status_line() {
    let cases: [&[&str]; 12] = [
        &["--bogus"],                       // a flag
        &["127.0.0.1:0"],                   // a target
        &["-w", "5:1", "x"],                // a range, start after end
        &["--cpu-critical", "ten", "x"],    // a range, not a number
        &["--rtt-warning", "@", "x"],       // a range, no bound
        &["--every", "-1s", "x"],           // a duration
        &["-t", "0", "x"],                  // a duration out of its range
        &["--retries", "1000", "x"],        // a number out of its range
        &["--format", "xml", "x"],          // the format itself
        &["--metrics", "127.0.0.1:0", "x"], // a combination
        &[],                                // no targets at all
        &["-f", "/nonexistent/fleet.txt"],  // a file (a runtime error)
    ];
    for args in cases {
        for format in [&[][..], &["--format", "nagios"], &["--format", "json"]] {
            let out = cmd("hb-poll").args(args).args(format).output().unwrap();
            let (stdout, stderr) = (
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr),
            );
            assert_eq!(out.status.code(), Some(3), "{args:?} {format:?}: {stderr}");
            assert_eq!(stdout.lines().count(), 1, "{args:?}: {stdout}");
            assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
            // The same reason on both.
            let reason = stderr.trim_end().strip_prefix("hb-poll: error: ");
            let line = stdout.trim_end().strip_prefix("HB UNKNOWN - ");
            assert!(
                reason.is_some() && reason == line,
                "{args:?}: {stdout} / {stderr}"
            );
        }
    }
}

/// The `silent_ms` of `line`, a `suspect` or a `down`, once checked
/// against the `last_seen` of `down`, the same silence's: the time since
/// the target's last answer on the poller's clock, as the wall clock
/// tells it too.
fn silence(line: &Value, down: &Value) -> u64 {
    let last_seen = humantime::parse_rfc3339(down["last_seen"].as_str().unwrap()).unwrap();
    let last_seen_ms = last_seen.duration_since(UNIX_EPOCH).unwrap().as_millis() as u64;
    let by_wall = line["ts_ms"].as_u64().unwrap() - last_seen_ms;
    let silent = line["silent_ms"].as_u64().unwrap();
    assert!(
        silent.abs_diff(by_wall) <= 20,
        "silent_ms {silent}, {by_wall} ms after its last_seen: {line} / {down}"
    );
    silent
}

/// With its defaults, a round of `--every` fits its interval, and the next
/// round follows on time: a responder that stops answering (frozen: no
/// error comes back) is down within `--misses` + 2 intervals (one to the
/// next round, 3 rounds, one to spare), not after rounds stretched by the
/// timeout and its retries. Its `suspect` and `down` say how long since it
/// last answered, and where it is.
#[test]
fn every_keeps_its_interval_by_default() {
    let (ack, addr) = Running::responder(&["--no-health"]);
    let target = addr.to_string();
    let mut poll = Running::spawn("hb-poll", &[&target, "--every", "1s"]);
    poll.expect("up", |_| true);
    let frozen = wall_ms();
    ack.signal("STOP");
    let suspect = poll.expect("suspect", |_| true);
    let down = poll.expect("down", |_| true);
    ack.signal("CONT");
    let after = down["ts_ms"].as_u64().unwrap() - frozen;
    assert!(
        after <= 5_000,
        "down {after} ms after the responder froze: {down}"
    );
    assert!(silence(&suspect, &down) >= 1_000, "{suspect}");
    assert!(silence(&down, &down) >= 3_000, "{down}");
    for line in [&suspect, &down] {
        assert_eq!(line["addr"], target.as_str(), "{line}");
    }
}

/// A `-t` set by hand longer than the interval's share stretches the
/// rounds, not the count: down after `--misses` silent rounds still, and
/// its `silent_ms` is the real silence, those rounds' whole waits (on the
/// rounds' clock it would be 2.5 intervals, 500 ms).
#[test]
fn every_with_a_long_timeout_says_the_real_silence() {
    let (ack, addr) = Running::responder(&["--no-health"]);
    let target = addr.to_string();
    let args = [
        "--every",
        "200ms",
        "-t",
        "600ms",
        "--retries",
        "0",
        "--misses",
        "2",
    ];
    let mut poll = Running::spawn("hb-poll", &[&[target.as_str()][..], &args].concat());
    poll.expect("up", |_| true);
    ack.signal("STOP");
    let suspect = poll.expect("suspect", |_| true);
    let down = poll.expect("down", |_| true);
    ack.signal("CONT");
    assert_eq!(down["missed"], 2, "{down}");
    assert!(silence(&suspect, &down) >= 600, "{suspect}");
    assert!(silence(&down, &down) >= 1_200, "{down}");
}

/// A literal address that never answers: its `down` says where it is.
#[test]
fn a_target_that_never_answered_is_down_at_its_address() {
    let (_dead, dead) = dead_target();
    let mut poll = Running::spawn("hb-poll", &[&dead, "--every", "50ms", "--misses", "2"]);
    let down = poll.expect("down", |_| true);
    assert_eq!(down["addr"], dead.as_str(), "{down}");
}
