//! `hb-ack --haproxy-agent`: the answer over real TCP, and a real HAProxy
//! (Debian's) draining a server whose check turns critical and giving it
//! back when the check is ok, halving its weight while a check warns.

use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};

use crate::harness::{test_name, tools_installed, wait_for, Running, TempDir, PATIENCE};

/// hb-ack with its agent and `args`: the tool, and the agent's address.
fn agent(args: &[&str]) -> (Running, String) {
    let mut all = vec!["--listen", "127.0.0.1:0", "--haproxy-agent", "127.0.0.1:0"];
    all.extend_from_slice(args);
    let ack = Running::spawn("hb-ack", &all);
    let addr = ack.stderr_address("haproxy agent on ");
    (ack, addr)
}

/// What the agent at `addr` says to a connection.
fn ask(addr: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(PATIENCE)).unwrap();
    let mut line = String::new();
    s.read_to_string(&mut line).unwrap();
    line
}

#[test]
fn the_agent_answers_one_line_from_the_checks_and_the_load() {
    let (_ack, addr) = agent(&["--no-health"]);
    assert_eq!(ask(&addr), "ready up 100%\n");
    let (_ack, addr) = agent(&["--no-health", "--check", "w=exit 1"]);
    assert_eq!(ask(&addr), "ready up 50%\n");
    let (_ack, addr) = agent(&["--check", "c=exit 2"]);
    assert_eq!(ask(&addr), "drain\n");
    // With health: a weight from the idle CPU, never under the floor.
    let (_ack, addr) = agent(&[]);
    wait_for("a weight from the CPU reading", PATIENCE, || {
        let line = ask(&addr);
        let pct: u32 = line
            .strip_prefix("ready up ")?
            .trim_end()
            .strip_suffix('%')?
            .parse()
            .ok()?;
        (10..=100).contains(&pct).then_some(())
    });
}

/// `show stat` of `backend`'s `server`: its status and weight.
fn server_stat(socket: &Path, backend: &str, server: &str) -> Option<(String, u32)> {
    let out = Command::new("socat")
        .args([
            "-T",
            "2",
            "stdio",
            &format!("UNIX-CONNECT:{}", socket.display()),
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(b"show stat\n")?;
            child.wait_with_output()
        })
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let header: Vec<&str> = text
        .lines()
        .next()?
        .trim_start_matches("# ")
        .split(',')
        .collect();
    let column = |name: &str| header.iter().position(|h| *h == name);
    let (status, weight) = (column("status")?, column("weight")?);
    text.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(',').collect();
        (fields.first() == Some(&backend) && fields.get(1) == Some(&server)).then(|| {
            (
                fields[status].to_owned(),
                fields[weight].parse().unwrap_or(0),
            )
        })
    })
}

#[test]
fn a_real_haproxy_drains_a_server_whose_check_turns_critical() {
    if !tools_installed(test_name!(), &[("haproxy", "-v"), ("socat", "-V")]) {
        return;
    }
    let dir = TempDir::new();
    let broken = dir.path().join("broken");
    let warn = dir.path().join("warn");
    let check = format!(
        "http=sh -c 'test -e {} && exit 2; test -e {} && exit 1; exit 0'",
        broken.display(),
        warn.display()
    );
    let (_ack, agent_addr) = agent(&["--no-health", "--check", &check, "--check-every", "200ms"]);
    let agent_port = agent_addr.rsplit(':').next().unwrap();
    // The server itself: a port that accepts, and a front door HAProxy binds.
    let web = TcpListener::bind("127.0.0.1:0").unwrap();
    let front = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let socket = dir.path().join("admin.sock");
    let config = dir.file(
        "haproxy.cfg",
        &format!(
            "global\n  stats socket {sock} level admin\ndefaults\n  mode http\n  timeout connect 1s\n  \
             timeout client 5s\n  timeout server 5s\nfrontend front\n  bind {front}\n  default_backend web\n\
             backend web\n  server web-1 {web} weight 100 check inter 1s agent-check agent-addr 127.0.0.1 agent-port {agent_port} agent-inter 300ms\n",
            sock = socket.display(),
            web = web.local_addr().unwrap(),
        ),
    );
    let mut haproxy = Command::new("haproxy");
    haproxy
        .args(["-db", "-f", config.to_str().unwrap()])
        .stdin(Stdio::null());
    let _haproxy = Running::start(haproxy, "haproxy");
    let stat = || server_stat(&socket, "web", "web-1");
    wait_for("web-1 up at full weight", PATIENCE, || {
        stat().filter(|(status, weight)| status == "UP" && *weight == 100)
    });
    // The check turns critical: drained within two agent intervals of the
    // check's next run.
    std::fs::write(&broken, "").unwrap();
    wait_for("web-1 drained", PATIENCE, || {
        stat().filter(|(status, _)| status.starts_with("DRAIN"))
    });
    std::fs::remove_file(&broken).unwrap();
    wait_for("web-1 ready again", PATIENCE, || {
        stat().filter(|(status, weight)| status == "UP" && *weight == 100)
    });
    // A warning: still in rotation, at half the weight.
    std::fs::write(&warn, "").unwrap();
    wait_for("web-1 at half weight", PATIENCE, || {
        stat().filter(|(status, weight)| status == "UP" && *weight == 50)
    });
}
