//! Prometheus metrics over HTTP, from hb-listen, hb-ack and hb-poll
//! --every; the format of each checked by promtool (a skip where it is
//! not installed, a failure under HB_REQUIRE_TOOLS).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::harness::{
    beat_with, cmd, send_raw, skip, skip_as, test_name, wall_ms, Running, TempDir, PATIENCE,
};

/// Where `tool` (started with `--metrics`) says it serves its metrics.
/// Its host and port, without the scheme.
pub(crate) fn metrics_address(tool: &Running) -> String {
    let url = tool.stderr_address("metrics on ");
    let url = url
        .trim_start_matches("http://")
        .trim_start_matches("https://");
    url.trim_end_matches("/metrics").to_owned()
}

pub(crate) fn get(addr: &str, path: &str) -> (u16, String) {
    try_get(addr, path).unwrap_or_else(|e| panic!("GET {path} from {addr}: {e}"))
}

/// `GET path` over HTTP/1.0: the status code and the body.
pub(crate) fn try_get(addr: &str, path: &str) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(PATIENCE))?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: x\r\n\r\n")?;
    let mut text = String::new();
    s.read_to_string(&mut text)?;
    let code = text
        .get(9..12)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("not an HTTP answer: {text:?}")))?;
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Ok((code, body))
}

/// Scrapes until a line satisfies `pred` (metrics follow events).
pub(crate) fn scrape_until(addr: &str, pred: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let (code, body) = get(addr, "/metrics");
        assert_eq!(code, 200);
        if body.lines().any(&pred) {
            return body;
        }
        assert!(Instant::now() < deadline, "never matched:\n{body}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Fails unless promtool finds `body` clean. Where promtool is not
/// installed, says that this part of `test` (named with [`test_name!`]) was
/// skipped.
pub(crate) fn promtool_check(test: &str, body: &str) {
    let Ok(mut child) = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    else {
        skip_as(
            test,
            "its promtool check, as `promtool` is not installed (Debian: prometheus)",
        );
        return;
    };
    child
        .stdin
        .take()
        .unwrap()
        .write_all(body.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    // Lint findings are printed, errors fail: both are wrong here.
    let said = String::from_utf8_lossy(&out.stdout) + String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && said.is_empty(),
        "promtool: {said}\n{body}"
    );
}

#[test]
fn hb_listen_exports_nodes_counters_and_events() {
    let mut listen = Running::spawn(
        "hb-listen",
        &[
            "--listen",
            "127.0.0.1:0",
            "--metrics",
            "127.0.0.1:0",
            // 10 intervals, 1 s: more than a loaded machine holds a beat up.
            "--misses",
            "10",
        ],
    );
    let metrics = metrics_address(&listen);
    let addr = listen.listening().to_string();
    // A node name with every character the format escapes (and one it
    // does not need to), and the same name as a label value.
    let odd = "we\"b\\1 nœud";
    let label = r#"we\"b\\1 nœud"#;
    // Its 2nd and last beat leaves an interval after the start at the
    // earliest: a down stamped earlier came while it was beating.
    let silent_from = wall_ms() + 100;
    cmd("hb-send")
        .args([
            "--to", &addr, "--node", odd, "--health", "--count", "2", "--every", "100ms",
        ])
        .assert()
        .success();
    cmd("hb-send")
        .args([
            "--to", &addr, "--node", "db-1", "--once", "--every", "1s", "--health", "--check",
            "exit 2",
        ])
        .assert()
        .success();
    listen.expect_after("down", silent_from, |v| v["node"] == odd);
    let down = format!(r#"hb_node_state{{node="{label}",state="down"}} 1"#);
    let body = scrape_until(&metrics, |l| l == down);
    for line in [
        &format!(r#"hb_node_up{{node="{label}"}} 0"#),
        r#"hb_node_state{node="db-1",state="degraded"} 1"#,
        r#"hb_node_up{node="db-1"} 1"#,
        "hb_received_total 3",
        r#"hb_events_total{type="down"} 1"#,
        r#"hb_build_info{tool="hb-listen",version="0.1.0"} 1"#,
    ] {
        assert!(body.lines().any(|l| l == line), "no {line} in:\n{body}");
    }
    // A node that is down has no current health; a live one has.
    assert!(
        !body.contains(&format!(r#"hb_node_cpu_ratio{{node="{label}"}}"#)),
        "{body}"
    );
    assert!(body.contains(r#"hb_node_cpu_ratio{node="db-1"}"#), "{body}");
    assert!(
        body.contains(r#"hb_node_last_seen_timestamp_seconds{node="db-1"}"#),
        "{body}"
    );
    promtool_check(test_name!(), &body);
    assert_eq!(get(&metrics, "/elsewhere").0, 404);
}

#[test]
fn hb_ack_exports_what_it_received_and_refused() {
    let ack = Running::spawn(
        "hb-ack",
        &[
            "--listen",
            "127.0.0.1:0",
            "--metrics",
            "127.0.0.1:0",
            "--quiet",
            "--no-health",
        ],
    );
    let metrics = metrics_address(&ack);
    let addr = ack.listening();
    cmd("hb-poll").arg(addr.to_string()).assert().code(0);
    send_raw(addr, b"garbage");
    let body = scrape_until(&metrics, |l| {
        l == r#"hb_rejected_total{reason="bad-json"} 1"#
    });
    assert!(body.lines().any(|l| l == "hb_received_total 1"), "{body}");
    assert!(
        body.lines().any(|l| l == "hb_probes_answered_total 1"),
        "{body}"
    );
    promtool_check(test_name!(), &body);
}

#[test]
fn hb_poll_every_exports_its_targets() {
    let (_ack, addr) = Running::responder(&["--no-health", "--node", "web-7"]);
    let target = addr.to_string();
    let mut poll = Running::spawn(
        "hb-poll",
        &[&target, "--every", "50ms", "--metrics", "127.0.0.1:0"],
    );
    let metrics = metrics_address(&poll);
    poll.expect("up", |_| true);
    let body = scrape_until(&metrics, |l| {
        // Labelled by the responder's own name, the target beside it.
        l == format!(r#"hb_node_up{{node="web-7",target="{target}"}} 1"#)
    });
    promtool_check(test_name!(), &body);
    // Each reply is a message received, as hb-listen counts beats.
    let received = |l: &str| {
        l.strip_prefix("hb_received_total ")
            .is_some_and(|n| n.parse::<u64>().is_ok_and(|n| n > 0))
    };
    scrape_until(&metrics, received);
    let out = cmd("hb-poll")
        .args([&target, "--metrics", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "--metrics needs --every");
}

/// An expected node that never beat is exported while it is `pending`,
/// not only once it is declared down.
#[test]
fn a_pending_node_is_exported_before_it_is_down() {
    let dir = TempDir::new();
    let expected = dir.path().join("expected.txt");
    std::fs::write(&expected, "never-1\n").unwrap();
    let listen = Running::spawn(
        "hb-listen",
        &[
            "--listen",
            "127.0.0.1:0",
            "--metrics",
            "127.0.0.1:0",
            "--expect-file",
            expected.to_str().unwrap(),
            "--every",
            "1h",
        ],
    );
    let metrics = metrics_address(&listen);
    let body = scrape_until(&metrics, |l| {
        l == r#"hb_node_state{node="never-1",state="pending"} 1"#
    });
    assert!(
        body.lines().any(|l| l == r#"hb_node_up{node="never-1"} 0"#),
        "{body}"
    );
    assert!(
        !body.contains("hb_node_last_seen_timestamp_seconds{node=\"never-1\"}"),
        "{body}"
    );
    promtool_check(test_name!(), &body);
}

/// The TCP port process `pid` listens on, as ss(8) tells, once it does.
fn listening_port(pid: u32) -> u16 {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let out = Command::new("ss").args(["-Hltnp"]).output().unwrap();
        let table = String::from_utf8_lossy(&out.stdout);
        let mine = format!("pid={pid},");
        let port = table.lines().filter(|l| l.contains(&mine)).find_map(|l| {
            l.split_whitespace()
                .nth(3)?
                .rsplit(':')
                .next()?
                .parse()
                .ok()
        });
        if let Some(port) = port {
            return port;
        }
        assert!(
            Instant::now() < deadline,
            "pid {pid} never listened:\n{table}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A real Prometheus server scrapes hb-listen: the scrape succeeds, the
/// series are stored under their names, and `hb_node_up` says 1 for a
/// node hb believes alive, with its state beside it.
#[test]
fn a_real_prometheus_scrapes_hb_listen() {
    if !Prometheus::installed() {
        skip!("`prometheus` is not installed (Debian: prometheus)");
        return;
    }
    let listen = Running::spawn(
        "hb-listen",
        &["--listen", "127.0.0.1:0", "--metrics", "127.0.0.1:0"],
    );
    let metrics = metrics_address(&listen);
    let addr = listen.listening();
    // A beat as hb-send --health sends it, its CPU reading given (a
    // sender's first sample may have none), its interval an hour.
    let health = r#""health":{"cpu_pct":12.5,"mem_total":8589934592,"mem_avail":4294967296,"swap_used":0,"load1":0.5,"load5":0.5,"load15":0.5,"uptime_s":100}"#;
    send_raw(addr, &beat_with("web-1", "b", 1, 3_600_000, health));
    let job = format!("static_configs:\n      - targets: ['{metrics}']");
    let prometheus = Prometheus::start(&job);
    let value = |q: &str| prometheus.value(q);
    assert_eq!(value("up"), "1", "the scrape failed");
    assert_eq!(value("hb_node_up%7Bnode%3D%22web-1%22%7D"), "1");
    assert_eq!(
        value("hb_node_state%7Bnode%3D%22web-1%22%2Cstate%3D%22up%22%7D"),
        "1"
    );
    assert_eq!(value("hb_node_cpu_ratio%7Bnode%3D%22web-1%22%7D"), "0.125");
}

/// A real Prometheus server, scraping one job every second; killed on drop.
pub(crate) struct Prometheus {
    _dir: TempDir,
    _server: Running,
    api: String,
}

impl Prometheus {
    /// Starts Prometheus with one scrape job `hb`, whose settings (after
    /// `job_name`, indented by four) are `job`.
    pub(crate) fn start(job: &str) -> Prometheus {
        let dir = TempDir::new();
        let config = dir.path().join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: hb\n    {job}\n"
            ),
        )
        .unwrap();
        let mut server = Command::new("prometheus");
        server
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg("--web.listen-address=127.0.0.1:0")
            .stdin(Stdio::null());
        let server = Running::start(server, "prometheus");
        let api = format!("127.0.0.1:{}", listening_port(server.pid()));
        Prometheus {
            _dir: dir,
            _server: server,
            api,
        }
    }

    /// Whether `prometheus` can be run here.
    pub(crate) fn installed() -> bool {
        Command::new("prometheus").arg("--version").output().is_ok()
    }

    /// The value of query `q` (URL-encoded) once Prometheus has stored
    /// it: its first scrapes may come before what the test waits for, and
    /// until its storage is ready it answers queries with 503.
    pub(crate) fn value(&self, q: &str) -> String {
        let deadline = Instant::now() + PATIENCE * 2;
        loop {
            let (code, body) = get(&self.api, &format!("/api/v1/query?query={q}"));
            if code == 200 {
                let v: serde_json::Value = serde_json::from_str(&body).unwrap();
                if let Some(value) = v["data"]["result"][0]["value"][1].as_str() {
                    return value.to_owned();
                }
            }
            assert!(
                Instant::now() < deadline,
                "Prometheus stored no {q}: {code} {body}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The state and last error of the scrape job's target.
    pub(crate) fn target(&self) -> String {
        get(&self.api, "/api/v1/targets").1
    }
}
