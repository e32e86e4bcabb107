//! The `--state` file against a stranger and a co-tenant: recorded signed
//! beats replayed after a restart (clean, or a crash once the file caught
//! up) are refused and a dead node goes down; a link planted at the
//! temporary file's name is not followed; a FIFO, or a link to
//! `/dev/zero`, at the file's path does not hold the start.

use std::io::Write;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use hb::auth::Keys;

use crate::harness::{
    beat_with, bin, send_raw, wait_for, wait_for_file, wall_ms, Running, TempDir, PATIENCE,
};

const KEY: &str = "0123456789abcdef0123456789abcdef";

/// One test's key, state file, and the signed beats 1 to 20 of one boot
/// of web-1 as a stranger on the path records them.
struct Recorded {
    /// Where the key and the state file are, removed with the test.
    _dir: TempDir,
    key: String,
    state: String,
    beats: Vec<Vec<u8>>,
}

impl Recorded {
    /// Beats every `every_ms`.
    fn new(every_ms: u64) -> Recorded {
        let dir = TempDir::new();
        let key = dir.key_file("key", KEY, 0o600);
        let keys = Keys::load(&key).unwrap();
        let ts_ms = format!(r#""ts_ms":{}"#, wall_ms());
        let beats = (1..=20)
            .map(|seq| {
                let mut beat = beat_with("web-1", "boot-1", seq, every_ms, &ts_ms);
                keys.sign(&mut beat);
                beat
            })
            .collect();
        let state = dir.path().join("state.json");
        Recorded {
            key: key.to_str().unwrap().to_owned(),
            state: state.to_str().unwrap().to_owned(),
            _dir: dir,
            beats,
        }
    }

    /// A listener's flags: the key, the state file rewritten at most every
    /// `state_every`, nodes down after 2 missed intervals, beats and
    /// refusals printed.
    fn args<'a>(&'a self, state_every: &'a str) -> Vec<&'a str> {
        vec![
            "--key-file",
            &self.key,
            "--state",
            &self.state,
            "--state-every",
            state_every,
            "--misses",
            "2",
            "--beats",
            "--log-rejects",
            "--status-every",
            "100ms",
        ]
    }

    /// A first run: web-1's first beat, written as the listener stops.
    fn first_run(&self, args: &[&str]) {
        let (mut l, addr) = Running::listener(args);
        send_raw(addr, &self.beats[0]);
        l.expect("up", |v| v["node"] == "web-1");
        assert!(l.signal_and_wait("TERM").success());
    }

    /// Beats 4 to 20, replayed at a listener that knows web-1 up to seq
    /// 20: each one is a `replay`, and the node, which beats no more, goes
    /// `down` instead of staying up.
    fn are_refused(&self, args: &[&str]) {
        let (mut l, addr) = Running::listener(args);
        for beat in &self.beats[3..] {
            send_raw(addr, beat);
        }
        l.expect("rejected", |v| v["reason"] == "replay");
        l.expect("status", |v| v["rejected"]["replay"] == 17);
        l.expect("down", |v| v["node"] == "web-1");
        assert!(l.seen_of("beat", "web-1").is_empty(), "{}", l.history());
    }
}

/// After a restart that read web-1 at seq 1 back, its beats 2 to 20 change
/// no state, and the next write is an hour away: the listener stopping
/// with `signal` must write seq 20 all the same, or a third start would
/// take the recorded beats 4 to 20 again.
fn a_clean_stop_keeps_the_latest_seq(signal: &str) {
    let recorded = Recorded::new(500);
    let args = recorded.args("1h");
    recorded.first_run(&args);

    let (mut l, addr) = Running::listener(&args);
    for beat in &recorded.beats[1..] {
        send_raw(addr, beat);
    }
    l.expect("beat", |v| v["node"] == "web-1" && v["seq"] == 20);
    assert!(l.signal_and_wait(signal).success());
    recorded.are_refused(&args);
}

#[test]
fn after_sigterm_recorded_beats_are_replays() {
    a_clean_stop_keeps_the_latest_seq("TERM");
}

#[test]
fn after_sigint_recorded_beats_are_replays() {
    a_clean_stop_keeps_the_latest_seq("INT");
}

/// The same when the listener judged the beats from its input
/// (`--from -`): at the end of the input, the file has seq 20.
#[test]
fn after_the_end_of_input_recorded_beats_are_replays() {
    let recorded = Recorded::new(500);
    let args = recorded.args("1h");
    recorded.first_run(&args);

    let mut reading = Command::new(bin("hb-listen"));
    reading
        .args(&args)
        .args(["--from", "-"])
        .stdin(Stdio::piped());
    let mut l = Running::start(reading, "hb-listen --from -");
    let mut input = l.take_stdin();
    for beat in &recorded.beats[1..] {
        input.write_all(beat).unwrap();
        input.write_all(b"\n").unwrap();
    }
    drop(input);
    l.expect("beat", |v| v["node"] == "web-1" && v["seq"] == 20);
    assert!(l.wait().success());
    recorded.are_refused(&args);
}

/// A crash writes nothing, so what it reopens is what the file had not
/// caught up with: beats accepted after the write it is behind by, at most
/// one --state-every (200 ms here) and a write. Beats alone, no state
/// changing (web-1 beats every 2 s, suspect after 3 s), bring the file up
/// to seq 20 within that bound (the test allows 2 s, on a loaded machine);
/// killed then, the listener's successor refuses the recorded beats.
#[test]
fn after_a_crash_once_the_file_caught_up_recorded_beats_are_replays() {
    let recorded = Recorded::new(2000);
    let args = recorded.args("200ms");
    let state = Path::new(&recorded.state);

    let (mut l, addr) = Running::listener(&args);
    send_raw(addr, &recorded.beats[0]);
    l.expect("up", |v| v["node"] == "web-1");
    wait_for_file(state, "web-1 up", PATIENCE, |text| text.contains("web-1"));
    for beat in &recorded.beats[1..] {
        send_raw(addr, beat);
    }
    l.expect("beat", |v| v["node"] == "web-1" && v["seq"] == 20);
    // Seqs alone are written within 10 s.
    wait_for_file(state, "seq 20", Duration::from_secs(12), |text| {
        text.contains(r#""seq":20"#)
    });
    assert!(l.seen_of("suspect", "web-1").is_empty(), "{}", l.history());
    assert!(!l.signal_and_wait("KILL").success());
    recorded.are_refused(&args);
}

/// A link planted at the temporary file's name (`FILE.tmp.<pid>`), to a
/// file its planter wants clobbered, is not written through: the next
/// write removes the link and creates its own file, the target keeps its
/// bytes, and the state file is a regular file only its user can read.
#[test]
fn a_link_planted_at_the_temporary_name_is_not_followed() {
    let dir = TempDir::new();
    let state = dir.path().join("state.json");
    let (mut l, addr) =
        Running::listener(&["--state", state.to_str().unwrap(), "--state-every", "50ms"]);
    wait_for_file(&state, "the first membership", PATIENCE, |text| {
        text.contains(r#""type":"status""#)
    });
    let victim = dir.file("victim", "precious");
    let tmp = dir.path().join(format!("state.tmp.{}", l.pid()));
    std::os::unix::fs::symlink(&victim, &tmp).unwrap();

    send_raw(addr, &beat_with("web-1", "b", 1, 60_000, ""));
    l.expect("up", |v| v["node"] == "web-1");
    wait_for_file(&state, "web-1", PATIENCE, |text| text.contains("web-1"));
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
    let meta = std::fs::symlink_metadata(&state).unwrap();
    assert!(meta.is_file(), "the state file is a link now: {meta:?}");
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    assert!(std::fs::symlink_metadata(&tmp).is_err(), "the link stays");
}

/// hb-listen keeping `state`, memory bounded to 2 GiB: a listener that
/// read `/dev/zero` would fail the test, not the machine.
fn bounded_listener(state: &Path) -> Running {
    let mut cmd = Command::new(bin("hb-listen"));
    cmd.args(["--listen", "127.0.0.1:0", "--state"])
        .arg(state)
        .stdin(Stdio::null());
    // SAFETY: between fork and exec the child only calls setrlimit, which
    // is async-signal-safe and touches no memory of the parent's.
    unsafe {
        cmd.pre_exec(|| {
            let limit = libc::rlimit {
                rlim_cur: 2 << 30,
                rlim_max: 2 << 30,
            };
            match libc::setrlimit(libc::RLIMIT_AS, &limit) {
                0 => Ok(()),
                _ => Err(std::io::Error::last_os_error()),
            }
        });
    }
    Running::start(cmd, "hb-listen")
}

/// The listener at `state` says on stderr that it starts without the file
/// there (`why`), and does start, within seconds: a beat is judged, and
/// the file is replaced by a state file.
fn starts_without(state: PathBuf, why: &str) {
    let started = Instant::now();
    let mut l = bounded_listener(&state);
    let warning = l.stderr_address("warning: ");
    assert!(
        warning.contains(why) && warning.ends_with("starting without it"),
        "{warning}"
    );
    let addr: std::net::SocketAddr = l.listening();
    let took = started.elapsed();
    assert!(took < Duration::from_secs(5), "started in {took:?}");
    send_raw(addr, &beat_with("web-1", "b", 1, 60_000, ""));
    l.expect("up", |v| v["node"] == "web-1");
    wait_for("the path to hold a state file", PATIENCE, || {
        let meta = std::fs::symlink_metadata(&state).ok()?;
        meta.is_file().then_some(())
    });
}

/// A FIFO at --state would hold an open for reading until someone writes
/// to it: the start goes on without it.
#[test]
fn a_fifo_at_the_state_path_does_not_hold_the_start() {
    let dir = TempDir::new();
    let state = dir.path().join("state.json");
    let made = Command::new("mkfifo").arg(&state).status();
    if !made.is_ok_and(|s| s.success()) {
        crate::harness::skip!("mkfifo is not here");
        return;
    }
    assert!(std::fs::symlink_metadata(&state)
        .unwrap()
        .file_type()
        .is_fifo());
    starts_without(state, "is a FIFO, not a regular file");
}

/// A link to `/dev/zero` at --state would be read until memory runs out:
/// it is not followed, and the start goes on without it.
#[test]
fn a_link_to_dev_zero_at_the_state_path_is_not_read() {
    let dir = TempDir::new();
    let state = dir.path().join("state.json");
    std::os::unix::fs::symlink("/dev/zero", &state).unwrap();
    starts_without(state, "is a symbolic link, not a regular file");
}
