//! What the integration tests share: the real binaries run and their
//! NDJSON output read with timeouts, hand-made datagrams, temporary
//! directories, network namespaces, and loud skips.

mod netns;
mod running;
mod temp_dir;

use std::net::{SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

pub use netns::Netns;
pub use running::Running;
pub use temp_dir::TempDir;

/// Long enough never to fire on a loaded CI machine; only bounds a hang.
pub const PATIENCE: Duration = Duration::from_secs(15);

pub fn bin(name: &str) -> PathBuf {
    assert_cmd::cargo::cargo_bin(name)
}

/// For one-shot runs with assertions on the outcome.
pub fn cmd(name: &str) -> assert_cmd::Command {
    assert_cmd::Command::new(bin(name))
}

/// The repository's bash script at `path` (from the repository root), told
/// where the built binaries are (HB_BIN).
pub fn script(path: &str) -> Command {
    let mut cmd = Command::new("bash");
    cmd.arg(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(path))
        .env("HB_BIN", bin("hb-listen").parent().unwrap());
    cmd
}

/// Checks one stdout line against the output contract and parses it.
pub fn parse_event(line: &str) -> Value {
    assert!(
        line.starts_with("{\"type\":\""),
        "type must come first: {line}"
    );
    let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
    let ts = v["ts"].as_str().unwrap_or_else(|| panic!("no ts: {line}"));
    let ts_ms = v["ts_ms"]
        .as_u64()
        .unwrap_or_else(|| panic!("no ts_ms: {line}"));
    assert!(
        ts.ends_with('Z') && ts.len() == 24,
        "ts not RFC 3339 ms UTC: {line}"
    );
    let parsed = humantime::parse_rfc3339(ts).unwrap();
    let ms = parsed
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    assert_eq!(ms, ts_ms, "ts and ts_ms disagree: {line}");
    v
}

/// Every line of a finished run's stdout, checked and parsed as an event.
pub fn parse_events(stdout: &[u8]) -> Vec<Value> {
    std::str::from_utf8(stdout)
        .expect("stdout is UTF-8")
        .lines()
        .map(parse_event)
        .collect()
}

/// Now on the wall clock, in milliseconds since the epoch: the clock of
/// every event's `ts_ms`. Taken just before a test kills or silences
/// something, no verdict caused by that can be stamped earlier (see
/// [`Running::expect_after`]).
pub fn wall_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// Sends one datagram from a fresh socket.
pub fn send_raw(to: SocketAddr, datagram: &[u8]) {
    let any = if to.is_ipv6() {
        "[::1]:0"
    } else {
        "127.0.0.1:0"
    };
    UdpSocket::bind(any).unwrap().send_to(datagram, to).unwrap();
}

/// A beat as any language could write it.
pub fn beat(node: &str, boot: &str, seq: u64, every_ms: u64) -> Vec<u8> {
    format!(
        r#"{{"type":"beat","node":"{node}","boot":"{boot}","seq":{seq},"every_ms":{every_ms}}}"#
    )
    .into_bytes()
}

/// A loopback UDP port where nothing answers, and its address: the socket
/// stays bound while the caller keeps it, so no other process can take the
/// port and answer in its place.
pub fn dead_target() -> (UdpSocket, String) {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = socket.local_addr().unwrap().to_string();
    (socket, addr)
}

/// Says that a test was skipped, where a person sees it: straight to the
/// process's stderr, past the test harness's capture. With
/// HB_REQUIRE_TOOLS set (CI, which installs the tools) a skip is a failure.
pub fn skip(test: &str, why: &str) {
    if std::env::var_os("HB_REQUIRE_TOOLS").is_some() {
        panic!("{test} cannot run and HB_REQUIRE_TOOLS is set: {why}");
    }
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "SKIPPED {test}: {why}");
}
