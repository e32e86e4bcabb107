//! What the integration tests share: the real binaries run and their
//! NDJSON output read with timeouts, hand-made datagrams, temporary
//! directories, network namespaces, waits for files, a headless browser,
//! stand-ins for hb-ack, and loud skips.

mod fake_responder;
mod netns;
mod running;
mod temp_dir;
mod wait;
mod webdriver;

use std::net::{SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

pub use fake_responder::FakeResponder;
pub use netns::Netns;
pub use running::Running;
pub use temp_dir::TempDir;
pub use wait::{wait_for, wait_for_file};
pub use webdriver::{Browser, BACKSPACE};

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

/// Whether each tool of `tools` (its name, and the flag that makes it say
/// its version) runs; if one does not, says loudly that `test` (named
/// with [`test_name!`]) is skipped, and why.
pub fn tools_installed(test: &str, tools: &[(&str, &str)]) -> bool {
    for (tool, version) in tools {
        let found = Command::new(tool)
            .arg(version)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !found {
            skip_as(test, &format!("{tool} is not installed"));
            return false;
        }
    }
    true
}

/// The hook `name` of the repository's contrib/hooks.
pub fn contrib_hook(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("contrib/hooks")
        .join(name)
}

/// The `sh` code block of README.md that contains `marker`.
pub fn readme_block(marker: &str) -> String {
    let readme = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("README.md");
    let text = std::fs::read_to_string(readme).unwrap();
    text.split("```sh\n")
        .skip(1)
        .filter_map(|rest| rest.split_once("```").map(|(block, _)| block))
        .find(|block| block.contains(marker))
        .unwrap_or_else(|| panic!("no sh block with {marker:?} in README.md"))
        .to_owned()
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

/// The events of a finished run, which must have succeeded (else its
/// stderr says why).
pub fn events_of_success(out: &std::process::Output) -> Vec<Value> {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    parse_events(&out.stdout)
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
    beat_with(node, boot, seq, every_ms, "")
}

/// A beat with more fields: `extra` is JSON object members, written after
/// the others (`"ts_ms":1,"answers":true`), or empty for none.
pub fn beat_with(node: &str, boot: &str, seq: u64, every_ms: u64, extra: &str) -> Vec<u8> {
    let comma = if extra.is_empty() { "" } else { "," };
    format!(
        r#"{{"type":"beat","node":"{node}","boot":"{boot}","seq":{seq},"every_ms":{every_ms}{comma}{extra}}}"#
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

/// The name of the function this is written in, as `cargo test` names a
/// test (`units::the_units_verify_once_installed`): taken from the
/// function itself, so it cannot drift from it as a string could.
macro_rules! test_name {
    () => {{
        fn f() {}
        $crate::harness::enclosing_fn(std::any::type_name_of_val(&f))
    }};
}
pub(crate) use test_name;

/// Says that the enclosing test was skipped and why (format arguments, as
/// for `format!`); see [`skip_as`].
macro_rules! skip {
    ($($why:tt)+) => {
        $crate::harness::skip_as($crate::harness::test_name!(), &format!($($why)+))
    };
}
pub(crate) use skip;

/// The function that holds the item whose type name is `item`
/// (`it::units::the_test::f`, or `it::units::the_test::{{closure}}::f`
/// from within a closure), without the crate's name: `units::the_test`.
pub fn enclosing_fn(item: &'static str) -> &'static str {
    let (mut name, _) = item.rsplit_once("::").unwrap();
    while let Some(outer) = name.strip_suffix("::{{closure}}") {
        name = outer;
    }
    name.split_once("::").map_or(name, |(_, path)| path)
}

/// Says that `test` was skipped, where a person sees it: straight to the
/// process's stderr, past the test harness's capture. With
/// HB_REQUIRE_TOOLS set (CI, which installs the tools) a skip is a failure.
/// A test says it with [`skip!`]; a helper that skips on behalf of a test
/// is given its name by the test, with [`test_name!`].
#[track_caller]
pub fn skip_as(test: &str, why: &str) {
    if std::env::var_os("HB_REQUIRE_TOOLS").is_some() {
        panic!("{test} cannot run and HB_REQUIRE_TOOLS is set: {why}");
    }
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "SKIPPED {test}: {why}");
}

#[test]
fn test_name_is_the_enclosing_functions_own() {
    let name = "harness::test_name_is_the_enclosing_functions_own";
    assert_eq!(test_name!(), name);
    let from_a_closure = || test_name!();
    assert_eq!(from_a_closure(), name);
}

/// Datagrams the kernel dropped, its receive buffer full, for the UDP
/// socket bound to `addr` (IPv4): the `drops` column of /proc/net/udp.
pub fn kernel_drops(addr: SocketAddr) -> u64 {
    let SocketAddr::V4(v4) = addr else {
        panic!("{addr} is not IPv4")
    };
    // The address as the kernel prints it: its bytes in memory order, as
    // one hexadecimal number of this machine's byte order; then the port.
    let local = format!(
        "{:08X}:{:04X}",
        u32::from_ne_bytes(v4.ip().octets()),
        v4.port()
    );
    // The table is read a page at a time, and a socket opened or closed
    // meanwhile (other tests run alongside) may make a read skip a row:
    // read it again.
    let what = format!("a socket on {addr} ({local}) in /proc/net/udp");
    wait_for(&what, PATIENCE, || {
        let table = std::fs::read_to_string("/proc/net/udp").unwrap();
        let row = table
            .lines()
            .skip(1)
            .find(|row| row.split_whitespace().nth(1) == Some(local.as_str()))?;
        Some(row.split_whitespace().last().unwrap().parse().unwrap())
    })
}
