use super::*;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// A metrics set with every kind of series, a node name that needs escaping included.
fn sample() -> Metrics {
    let m = Metrics::new("hb-listen");
    m.node_seen("web-1", 1_795_703_053_371);
    m.node_state("web-1", "down");
    m.node_state("web-1", "degraded");
    m.node_health("web-1", Some(12.5), Some(1 << 30));
    m.node_health("web-1", None, None);
    m.node_state(r#"a"b\c nœud"#, "suspect");
    m.received();
    m.received();
    m.rejected("bad-json");
    m.event("up");
    m.event("up");
    m
}

#[test]
fn encodes_every_series() {
    let text = sample().encode().unwrap();
    let version = env!("CARGO_PKG_VERSION");
    for line in [
        &format!(r#"hb_build_info{{tool="hb-listen",version="{version}"}} 1"#),
        r#"hb_node_last_seen_seconds{node="web-1"} 1795703053.371"#,
        r#"hb_node_up{node="web-1"} 1"#,
        r#"hb_node_state{node="web-1",state="degraded"} 1"#,
        r#"hb_node_state{node="web-1",state="down"} 0"#,
        r#"hb_node_state{node="web-1",state="up"} 0"#,
        r#"hb_node_cpu_percent{node="web-1"} 12.5"#,
        r#"hb_node_mem_available_bytes{node="web-1"} 1073741824"#,
        r#"hb_node_up{node="a\"b\\c nœud"} 0"#,
        r#"hb_node_state{node="a\"b\\c nœud",state="suspect"} 1"#,
        "# TYPE hb_received_total counter",
        "hb_received_total 2",
        r#"hb_rejected_total{reason="bad-json"} 1"#,
        r#"hb_events_total{type="up"} 2"#,
    ] {
        assert!(text.lines().any(|l| l == line), "no {line:?} in\n{text}");
    }
    assert!(!text.contains("# EOF"), "OpenMetrics: {text}");
}

fn get(addr: SocketAddr, path: &str) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    write!(stream, "GET {path} HTTP/1.0\r\n\r\n").unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
}

#[test]
fn serves_metrics_and_404_elsewhere() {
    let addr = serve(sample(), "127.0.0.1:0".parse().unwrap()).unwrap();
    assert_ne!(addr.port(), 0);
    let ok = get(addr, "/metrics");
    assert!(ok.starts_with("HTTP/1.0 200 "), "{ok}");
    let content_type = "Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n";
    assert!(ok.contains(content_type), "{ok}");
    assert!(ok.contains("\r\n\r\n# HELP "), "{ok}");
    assert!(ok.contains("\nhb_received_total 2\n"), "{ok}");
    for path in ["/", "/metricsx", "/other"] {
        let missing = get(addr, path);
        assert!(missing.starts_with("HTTP/1.0 404 "), "{path}: {missing}");
    }
}
