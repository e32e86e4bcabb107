//! What the docs tell a newcomer matches what the tools do.

use std::collections::BTreeSet;
use std::net::UdpSocket;
use std::time::Duration;

use serde_json::Value;

use crate::harness::{cmd, Running, TempDir, PATIENCE};

/// Alertmanager resolves an alert not sent again within its
/// `resolve_timeout`, 5 minutes unless configured.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(300);

/// Every place that wires hb-listen to Alertmanager reminds of nodes still
/// down (`still-down` among the hook's events) more often than
/// Alertmanager forgets an alert: else the alert resolves while the node
/// is down.
#[test]
fn every_alertmanager_example_keeps_the_alert_firing() {
    let help = cmd("hb-listen").arg("--help").output().unwrap();
    let help = String::from_utf8(help.stdout).unwrap();
    let sources = [
        ("README.md", std::fs::read_to_string("README.md").unwrap()),
        (
            "man/hb-listen.1",
            std::fs::read_to_string("man/hb-listen.1").unwrap(),
        ),
        (
            "contrib/hooks/alertmanager",
            std::fs::read_to_string("contrib/hooks/alertmanager").unwrap(),
        ),
        ("hb-listen --help", help),
    ];
    let mut examples = 0;
    for (source, text) in &sources {
        // roff writes a hyphen as \-.
        let text = text.replace("\\-", "-");
        // A command may go on over the next lines (a backslash).
        let lines: Vec<&str> = text.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            if !line.contains("alertmanager http") && !line.contains("alertmanager am:") {
                continue;
            }
            examples += 1;
            let command = lines[i.saturating_sub(2)..=i].join(" ");
            assert!(command.contains("still-down"), "{source}: {command}");
            let remind = command
                .split("--remind-every")
                .nth(1)
                .and_then(|rest| rest.split_whitespace().next())
                .unwrap_or_else(|| panic!("{source}: no --remind-every in {command}"));
            let every = hb::cli::parse_duration(remind.trim_end_matches('\\')).unwrap();
            assert!(every < RESOLVE_TIMEOUT, "{source}: --remind-every {remind}");
        }
    }
    assert_eq!(examples, sources.len(), "one example in each source");
}

/// The sample messages of docs/protocol.md (the lines of its `json`
/// blocks), with their line numbers.
fn protocol_samples() -> Vec<(usize, String)> {
    let text = std::fs::read_to_string("docs/protocol.md").unwrap();
    let mut in_json = false;
    let mut samples = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.starts_with("```") {
            in_json = line == "```json";
        } else if in_json && line.starts_with('{') {
            samples.push((n + 1, line.to_owned()));
        }
    }
    samples
}

/// The next datagram of `kind` that comes to `socket`, as JSON.
fn receive(socket: &UdpSocket, kind: &str) -> Value {
    let mut buf = [0u8; 2048];
    loop {
        let (len, _) = socket
            .recv_from(&mut buf)
            .unwrap_or_else(|e| panic!("no `{kind}` came: {e}"));
        let v: Value = serde_json::from_slice(&buf[..len]).unwrap();
        if v["type"] == kind {
            return v;
        }
    }
}

/// Datagrams of every type the protocol's samples show, as hb-send sends
/// them: beats signed and with health, the leaves of a sender stopped as
/// systemd stops it, an away, and a job's start and done.
fn real_datagrams() -> Vec<Value> {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.set_read_timeout(Some(PATIENCE)).unwrap();
    let to = socket.local_addr().unwrap().to_string();
    let dir = TempDir::new();
    let key = dir.key_file("key", &format!("{}\n", "5e".repeat(32)), 0o600);
    let sender = ["--node", "web-1", "--to", &to];
    let mut real = Vec::new();
    for extra in [&["--key-file", key.to_str().unwrap()][..], &["--health"]] {
        let mut send = Running::spawn("hb-send", &[&sender[..], extra].concat());
        real.push(receive(&socket, "beat"));
        send.signal_and_wait("TERM");
        real.push(receive(&socket, "leave"));
    }
    let away = ["--away", "15m", "--reason", "upgrade"];
    cmd("hb-send").args(sender).args(away).assert().success();
    real.push(receive(&socket, "away"));
    let job = ["--run", "--cron", "0 3 * * *", "--", "sh", "-c"];
    cmd("hb-send")
        .args(["--node", "backup", "--to", &to])
        .args(job)
        .arg("echo 'rsync: connection refused' >&2; exit 3")
        .assert()
        .code(3);
    real.push(receive(&socket, "start"));
    real.push(receive(&socket, "done"));
    real
}

/// Every message docs/protocol.md shows is one the wire codec takes, with
/// the fields a datagram of its type that hb-send sends carries: not one
/// more, not one fewer.
#[test]
fn the_protocols_sample_messages_are_what_hb_send_sends() {
    let samples = protocol_samples();
    assert!(samples.len() >= 6, "{samples:?}");
    let fields =
        |v: &Value| -> BTreeSet<String> { v.as_object().unwrap().keys().cloned().collect() };
    let real = real_datagrams();
    for (n, line) in &samples {
        let place = format!("docs/protocol.md:{n}");
        if let Err(why) = hb::wire::decode(line.as_bytes()) {
            panic!("{place}: the codec refuses it ({why}): {line}");
        }
        let shown: Value = serde_json::from_str(line).unwrap();
        assert!(
            real.iter()
                .any(|v| v["type"] == shown["type"] && fields(v) == fields(&shown)),
            "{place}: hb-send sends no such message: {line}\nit sends:\n{}",
            real.iter()
                .map(Value::to_string)
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}
