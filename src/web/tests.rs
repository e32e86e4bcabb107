use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use super::users::{Credentials, Users};
use super::*;
use crate::metrics::Series;
use crate::output::{Line, Subscriber};

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
    let metrics = Metrics::new("hb-ack", Series::Counters);
    metrics.received_many(2);
    let addr = "127.0.0.1:0".parse().unwrap();
    let web = WebSide::serve(
        addr,
        metrics,
        Pages::MetricsOnly,
        WebConfig::default(),
        None,
    )
    .unwrap();
    assert_ne!(web.bound.port(), 0);
    assert_eq!(web.url(), format!("http://{}", web.bound));
    let ok = get(web.bound, "/metrics");
    assert!(ok.starts_with("HTTP/1.0 200 "), "{ok}");
    let content_type = "content-type: text/plain; version=0.0.4; charset=utf-8\r\n";
    assert!(ok.contains(content_type), "{ok}");
    assert!(ok.contains("\nhb_received_total 2\n"), "{ok}");
    // A tool without membership serves no page, status nor events.
    for path in ["/", "/status", "/events", "/metricsx"] {
        let missing = get(web.bound, path);
        assert!(missing.starts_with("HTTP/1.0 404 "), "{path}: {missing}");
    }
    assert!(web.events().is_none() && web.status().is_none());
}

/// The error a web configuration file gives, as the operator reads it.
fn config_error(yaml: &str) -> String {
    let dir = std::env::temp_dir().join(format!("hb-web-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!(
        "{:x}.yml",
        yaml.len() * 31 + yaml.as_bytes()[0] as usize
    ));
    std::fs::write(&path, yaml).unwrap();
    let read = WebConfig::read(&path);
    let _ = std::fs::remove_file(&path);
    format!("{:#}", read.expect_err(yaml))
}

#[test]
fn a_broken_web_config_names_the_field() {
    let cases = [
        ("tls_server_confg:\n  cert_file: a\n", "tls_server_confg"),
        ("tls_server_config:\n  key_file: k\n", "cert_file: missing"),
        (
            "tls_server_config:\n  cert_file: /nonexistent.crt\n  key_file: k\n",
            "cert_file",
        ),
        (
            "basic_auth_users:\n  alice: plaintext\n",
            "alice: not a bcrypt hash",
        ),
        ("basic_auth_users: [alice]\n", "basic_auth_users"),
    ];
    for (yaml, named) in cases {
        let error = config_error(yaml);
        assert!(error.contains(named), "{yaml}: {error}");
    }
}

#[test]
fn an_empty_web_config_is_plain_http_without_users() {
    let dir = std::env::temp_dir().join(format!("hb-web-empty-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("web.yml");
    std::fs::write(&path, "# nothing yet\n").unwrap();
    let config = WebConfig::read(&path).unwrap();
    assert!(config.tls.is_none() && config.users.is_none());
    assert_eq!(config.scheme(), "http");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn basic_auth_checks_bcrypt_and_remembers_right_credentials() {
    let hash = bcrypt::hash("s3cret", 4).unwrap();
    let users = Users::new(BTreeMap::from([("prometheus".to_owned(), hash)])).unwrap();
    assert_eq!(users.len(), 1);
    let header = |user: &str, password: &str| {
        use base64::Engine;
        let pair = format!("{user}:{password}");
        let encoded = base64::engine::general_purpose::STANDARD.encode(pair);
        Credentials::parse(format!("Basic {encoded}").as_bytes()).unwrap()
    };
    let right = header("prometheus", "s3cret");
    assert!(!users.remembered(&right));
    assert!(users.verify(&right));
    assert!(users.remembered(&right));
    assert!(!users.verify(&header("prometheus", "s3cret ")));
    assert!(!users.remembered(&header("prometheus", "wrong")));
    assert!(!users.verify(&header("nobody", "s3cret")));
    assert!(Credentials::parse(b"Bearer abc").is_none());
    assert!(Credentials::parse(b"Basic !!!").is_none());
}

#[test]
fn the_event_feed_frames_each_line_as_one_event() {
    let mut feed = EventFeed::new(None);
    let line = Line {
        kind: "up",
        at: crate::clock::Moment::new(0, 0),
        json: b"{\"type\":\"up\",\"node\":\"a\"}\n",
    };
    // No client: nothing is copied, nothing kept.
    feed.take(&line);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut stream = feed.stream();
        feed.take(&line);
        let mut said = Vec::new();
        while said.len() < 2 {
            let frame = std::future::poll_fn(|cx| {
                hyper::body::Body::poll_frame(std::pin::Pin::new(&mut stream), cx)
            })
            .await
            .unwrap()
            .unwrap();
            said.push(frame.into_data().unwrap());
        }
        assert_eq!(&said[0][..], b": live\n\n");
        assert_eq!(&said[1][..], b"data: {\"type\":\"up\",\"node\":\"a\"}\n\n");
    });
}
