//! The listener's web side over real TCP on 127.0.0.1: what each path
//! serves, and that no client can take it (or the listener) down: an
//! endless header, more connections than the cap, requests never read,
//! the descriptor limit, a stream that is never read.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::harness::{beat, bin, send_raw, wait_for, Running, PATIENCE};
use crate::metrics::{get, metrics_address, try_get};

/// hb-listen with its web side: the tool, its UDP address, its web one.
pub(crate) fn listener_with_web(args: &[&str]) -> (Running, SocketAddr, String) {
    let mut all = vec!["--listen", "127.0.0.1:0", "--metrics", "127.0.0.1:0"];
    all.extend_from_slice(args);
    let listen = Running::spawn("hb-listen", &all);
    let web = metrics_address(&listen);
    let addr = listen.listening();
    (listen, addr, web)
}

/// A connection to `/events`, its response head read.
pub(crate) fn events(web: &str) -> BufReader<TcpStream> {
    events_on(TcpStream::connect(web).unwrap())
}

/// `/events` on connection `s`.
fn events_on(mut s: TcpStream) -> BufReader<TcpStream> {
    s.set_read_timeout(Some(PATIENCE)).unwrap();
    write!(s, "GET /events HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut reader = BufReader::new(s);
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    assert!(line.starts_with("HTTP/1.1 200"), "{line}");
    while line != "\r\n" {
        line.clear();
        reader.read_line(&mut line).unwrap();
    }
    reader
}

/// The next `data:` event of a stream, after its comments.
pub(crate) fn next_data(reader: &mut BufReader<TcpStream>) -> serde_json::Value {
    let mut line = String::new();
    loop {
        line.clear();
        assert!(reader.read_line(&mut line).unwrap() > 0, "the stream ended");
        if let Some(json) = line.strip_prefix("data: ") {
            return serde_json::from_str(json.trim_end()).unwrap();
        }
    }
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

#[test]
fn the_web_side_serves_the_page_status_and_events() {
    let (_listen, addr, web) = listener_with_web(&[]);
    let mut stream = events(&web);
    send_raw(addr, &beat("web-1", "b1", 1, 60_000));
    let up = next_data(&mut stream);
    assert_eq!(
        (up["type"].as_str(), up["node"].as_str()),
        (Some("up"), Some("web-1"))
    );

    let (code, body) = get(&web, "/status");
    assert_eq!(code, 200, "{body}");
    let status: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(status["type"], "status");
    assert_eq!(status["nodes"]["web-1"]["state"], "up");
    // The page's "for how long": since its `up`, a moment ago.
    let state_ms = status["nodes"]["web-1"]["state_ms"].as_u64().unwrap();
    assert!(state_ms < 60_000, "{status}");

    let (code, page) = get(&web, "/");
    assert_eq!(code, 200);
    assert!(page.contains("<html") && page.contains("/events"), "{page}");
    assert_eq!(get(&web, "/nowhere").0, 404);
    let mut s = TcpStream::connect(&web).unwrap();
    write!(s, "POST /metrics HTTP/1.0\r\nContent-Length: 0\r\n\r\n").unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.0 405"), "{answer}");
}

/// A header line that never ends is cut at the head limit: 431, closed,
/// and the listener no larger for it.
#[test]
fn an_endless_header_costs_a_bounded_amount() {
    let (listen, _, web) = listener_with_web(&[]);
    let before = rss_kib(listen.pid());
    let mut s = TcpStream::connect(&web).unwrap();
    s.set_read_timeout(Some(PATIENCE)).unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-A: ")
        .unwrap();
    let chunk = vec![b'A'; 64 * 1024];
    let mut sent = 0;
    // The server closes long before 64 MiB; a write then fails.
    while sent < 64 << 20 && s.write_all(&chunk).is_ok() {
        sent += chunk.len();
    }
    assert!(sent < 8 << 20, "{sent} bytes of one header taken");
    let mut answer = Vec::new();
    let _ = s.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 431"),
        "{answer}"
    );
    let grown = rss_kib(listen.pid()).saturating_sub(before);
    assert!(grown < 4096, "grew by {grown} KiB");
    assert_eq!(get(&web, "/metrics").0, 200);
}

/// Connections beyond the cap are answered 503 at once, never a thread
/// or a panic each; once they close, the server serves again.
#[test]
fn connections_beyond_the_cap_are_answered_and_the_server_recovers() {
    let (_listen, _, web) = listener_with_web(&[]);
    let held: Vec<TcpStream> = (0..hb::web::MAX_CONNECTIONS)
        .map(|_| TcpStream::connect(&web).unwrap())
        .collect();
    // Each held connection is being served (idle) before the next come.
    std::thread::sleep(Duration::from_millis(300));
    let mut extra = TcpStream::connect(&web).unwrap();
    extra.set_read_timeout(Some(PATIENCE)).unwrap();
    let mut answer = String::new();
    let _ = extra.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer:?}");
    drop(held);
    wait_for("a scrape after the connections closed", PATIENCE, || {
        try_get(&web, "/metrics")
            .ok()
            .filter(|(code, _)| *code == 200)
    });
}

/// A client that pipelines requests and never reads the answers holds
/// its own connection only: another client's scrape is answered at once.
#[test]
fn a_client_that_never_reads_blocks_no_one() {
    let (_listen, _, web) = listener_with_web(&[]);
    let mut greedy = TcpStream::connect(&web).unwrap();
    greedy
        .set_write_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    let request = b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n".repeat(200);
    for _ in 0..50 {
        if greedy.write_all(&request).is_err() {
            break;
        }
    }
    let started = Instant::now();
    assert_eq!(get(&web, "/metrics").0, 200);
    assert!(started.elapsed() < PATIENCE);
}

/// At the descriptor limit, accepting pauses and is said once; the
/// server serves again when descriptors are free.
#[test]
fn the_descriptor_limit_pauses_accepting_and_never_ends_the_server() {
    let mut cmd = Command::new(bin("hb-listen"));
    cmd.args(["--listen", "127.0.0.1:0", "--metrics", "127.0.0.1:0"]);
    // Room for the listener's own descriptors and a few dozen connections:
    // the limit comes before the connection cap.
    // SAFETY: setrlimit is async-signal-safe and touches the child only.
    unsafe {
        cmd.pre_exec(|| {
            let limit = libc::rlimit {
                rlim_cur: 64,
                rlim_max: 64,
            };
            match libc::setrlimit(libc::RLIMIT_NOFILE, &limit) {
                0 => Ok(()),
                _ => Err(std::io::Error::last_os_error()),
            }
        });
    }
    let mut listen = Running::start(cmd, "hb-listen");
    let web = metrics_address(&listen)
        .trim_start_matches("http://")
        .to_owned();
    let held: Vec<TcpStream> = (0..100)
        .filter_map(|_| TcpStream::connect(&web).ok())
        .collect();
    listen.stderr_address("Too many open files (os error 24); retrying");
    drop(held);
    wait_for("a scrape after the limit", PATIENCE, || {
        try_get(&web, "/metrics")
            .ok()
            .filter(|(code, _)| *code == 200)
    });
    listen.stderr_address("web: accepting connections again");
    listen.signal_and_wait("TERM");
    let said = listen.stderr_rest();
    assert!(
        !said.iter().any(|l| l.contains("retrying")),
        "said twice: {said:?}"
    );
}

/// A stream client that reads nothing is dropped with a last comment
/// once it falls behind; the listener prints every line meanwhile.
#[test]
fn a_slow_event_client_is_dropped_and_the_listener_keeps_pace() {
    let (mut listen, addr, web) = listener_with_web(&[]);
    // A small receive buffer, so that the client is behind at once.
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let to: SocketAddr = web.parse().unwrap();
    socket.connect(&to.into()).unwrap();
    let stream = events_on(socket.into());
    // More lines than the ring, the connection's buffers and the
    // client's together hold.
    let nodes = 6 * hb::web::EVENT_BACKLOG;
    let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
    for i in 0..nodes {
        let name = format!("node-{i:06}.example.internal");
        let _ = sender.send_to(&beat(&name, "b", 1, 60_000), addr);
        if i % 200 == 0 {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    let last = format!("node-{:06}.example.internal", nodes - 1);
    listen.expect("up", |e| e["node"] == last.as_str());
    let mut rest = String::new();
    let mut reader = stream;
    let _ = reader.read_to_string(&mut rest);
    assert!(!rest.is_empty());
    let tail = &rest[rest.len().saturating_sub(300)..];
    assert!(rest.contains(": dropped: too slow"), "{tail}");
}

/// `/status` shares a snapshot among requests, but never one begun before
/// an event the listener printed since: a client that saw an event (on
/// `/events`, or on stdout) finds it in the next `/status`.
#[test]
fn status_after_an_event_holds_it() {
    let (mut listen, addr, web) = listener_with_web(&[]);
    send_raw(addr, &beat("early", "b", 1, 60_000));
    listen.expect("up", |e| e["node"] == "early");
    assert_eq!(get(&web, "/status").0, 200);
    send_raw(addr, &beat("late", "b", 1, 60_000));
    listen.expect("up", |e| e["node"] == "late");
    let (code, body) = get(&web, "/status");
    assert_eq!(code, 200);
    let status: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(status["nodes"]["late"]["state"], "up", "{body}");
}
