//! The README's nginx recipe (`hb-nginx`), run as written against a real
//! nginx: its upstream block is written from a real listener's state file
//! and put in place with a reload; a node gone down gets no more requests
//! and is back when it beats again, and a name made to break out of the
//! configuration is never written into it.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;

use crate::harness::{
    beat, readme_block, send_raw, test_name, tools_installed, wait_for, wait_for_file, Running,
    TempDir, PATIENCE,
};
use crate::metrics::try_get;

/// A web server that answers every request with its own name, and counts
/// them.
struct Backend {
    name: &'static str,
    served: Arc<AtomicUsize>,
}

impl Backend {
    fn serve(socket: TcpListener, name: &'static str) -> Backend {
        let served = Arc::new(AtomicUsize::new(0));
        let count = Arc::clone(&served);
        thread::spawn(move || {
            for mut conn in socket.incoming().map_while(Result::ok) {
                // The request's head, whatever it says: every request is
                // answered alike.
                let mut head = Vec::new();
                let mut byte = [0];
                while !head.ends_with(b"\r\n\r\n") && head.len() < 8192 {
                    if conn.read(&mut byte).unwrap_or(0) == 0 {
                        break;
                    }
                    head.push(byte[0]);
                }
                count.fetch_add(1, Ordering::SeqCst);
                let _ = write!(
                    conn,
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{name}",
                    name.len()
                );
            }
        });
        Backend { name, served }
    }

    fn served(&self) -> usize {
        self.served.load(Ordering::SeqCst)
    }
}

/// Two backends named by their addresses, as the recipe's nodes are, on
/// the same port: the recipe gives every server one port.
fn two_backends() -> (Backend, Backend, u16) {
    for _ in 0..20 {
        let first = TcpListener::bind("127.0.0.2:0").unwrap();
        let port = first.local_addr().unwrap().port();
        if let Ok(second) = TcpListener::bind(("127.0.0.3", port)) {
            let (a, b) = (
                Backend::serve(first, "127.0.0.2"),
                Backend::serve(second, "127.0.0.3"),
            );
            return (a, b, port);
        }
    }
    panic!("no port free on both 127.0.0.2 and 127.0.0.3");
}

/// A real nginx in the foreground, everything of its own in `dir` (its
/// pid file, logs and temporary files); `nginx` on the PATH a script gets
/// from [`Nginx::run`] means this one.
struct Nginx {
    /// Stopped on drop.
    process: Running,
    address: String,
    bin: PathBuf,
}

impl Nginx {
    /// nginx serving on a free loopback port through the upstream `web`
    /// of `dir/hb-web.conf`.
    fn start(dir: &TempDir, nginx: &str) -> Nginx {
        let d = dir.path().display();
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|free| free.local_addr())
            .unwrap()
            .port();
        let temp: String = ["client_body", "proxy", "fastcgi", "uwsgi", "scgi"]
            .map(|kind| format!("    {kind}_temp_path {d}/{kind};\n"))
            .concat();
        let config = dir.file(
            "nginx.conf",
            &format!(
                "daemon off;\nworker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/error.log;\n\
                 events {{ worker_connections 64; }}\n\
                 http {{\n    access_log off;\n{temp}    include {d}/hb-web.conf;\n\
                 \x20   server {{\n        listen 127.0.0.1:{port};\n        location / {{ proxy_pass http://web; }}\n    }}\n}}\n"
            ),
        );
        // The tests' own nginx, whatever the recipe asks of it (a test of
        // its configuration, a reload).
        let bin = dir.path().join("bin");
        std::fs::create_dir(&bin).unwrap();
        let wrapper = dir.file(
            "bin/nginx",
            &format!(
                "#!/bin/sh\nexec {nginx} -p {d} -c {} -e {d}/error.log \"$@\"\n",
                config.display()
            ),
        );
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
        let mut cmd = Command::new(&wrapper);
        cmd.stdin(Stdio::null());
        let (process, _stdout) = Running::start_raw(cmd, "nginx");
        let nginx = Nginx {
            process,
            address: format!("127.0.0.1:{port}"),
            bin,
        };
        wait_for("nginx to answer", PATIENCE, || {
            try_get(&nginx.address, "/").ok()
        });
        nginx
    }

    /// Runs the shell `script` with this nginx first on its PATH.
    fn run(&self, script: &str) -> Output {
        let path = format!("{}:{}", self.bin.display(), std::env::var("PATH").unwrap());
        Command::new("sh")
            .arg("-c")
            .arg(script)
            .env("PATH", path)
            .output()
            .unwrap()
    }

    /// The answer to one request: the status and who served it.
    fn request(&self) -> (u16, String) {
        crate::metrics::get(&self.address, "/")
    }

    /// Requests until `want` holds for 10 answers in a row.
    fn settle(&self, what: &str, want: impl Fn(&(u16, String)) -> bool) {
        let mut in_a_row = 0;
        wait_for(what, PATIENCE, || {
            in_a_row = if want(&self.request()) {
                in_a_row + 1
            } else {
                0
            };
            (in_a_row == 10).then_some(())
        });
    }

    /// Runs the recipe's `script` when it changes the upstream, so that
    /// it reloads nginx: returns once the workers of the last
    /// configuration are gone. Until then one may still take a connection
    /// and answer as the last configuration did, even after the new
    /// worker answered many.
    fn run_reloading(&self, script: &str) -> Output {
        let before = self.workers();
        let out = self.run(script);
        if out.status.success() {
            wait_for("the last configuration's worker to exit", PATIENCE, || {
                let now = self.workers();
                (!now.is_empty() && before.iter().all(|w| !now.contains(w))).then_some(())
            });
        }
        out
    }

    /// The process ids of this nginx's workers: its master's children.
    fn workers(&self) -> Vec<String> {
        let master = self.process.pid();
        std::fs::read_to_string(format!("/proc/{master}/task/{master}/children"))
            .unwrap_or_default()
            .split_whitespace()
            .map(str::to_owned)
            .collect()
    }
}

impl Drop for Nginx {
    /// Asked to stop, nginx stops its workers too: killed, it would leave
    /// them running on their own.
    fn drop(&mut self) {
        self.process.signal_and_wait("TERM");
    }
}

#[test]
fn the_readmes_nginx_recipe_takes_a_down_node_out_of_the_upstream() {
    if !tools_installed(test_name!(), &[("nginx", "-v"), ("jq", "--version")]) {
        return;
    }
    // The wrapper runs it by its path: by its name, it would run itself.
    let nginx = Command::new("sh")
        .args(["-c", "command -v nginx"])
        .output()
        .unwrap();
    let nginx = String::from_utf8(nginx.stdout).unwrap().trim().to_owned();
    let dir = TempDir::new();
    let (web_2, web_3, port) = two_backends();
    let state = dir.path().join("state.json");
    let upstream = dir.path().join("hb-web.conf");
    let script = readme_block("# /usr/local/bin/hb-nginx")
        .replace("/var/lib/hb/state.json", state.to_str().unwrap())
        .replace("/etc/nginx/hb-web.conf", upstream.to_str().unwrap())
        .replace(":8080", &format!(":{port}"));
    // Before any node: no server takes requests.
    std::fs::write(
        &upstream,
        format!("upstream web {{\n    server 127.0.0.1:{port} down;\n}}\n"),
    )
    .unwrap();
    let nginx = Nginx::start(&dir, &nginx);
    assert_eq!(nginx.request().0, 502);

    let (mut listener, to) =
        Running::listener(&["--state", state.to_str().unwrap(), "--state-every", "20ms"]);
    let to = to.to_string();
    let sender = |node: &str| {
        let args = [
            "--node",
            node,
            "--every",
            "100ms",
            "--to",
            &to,
            "--no-leave",
        ];
        Running::spawn("hb-send", &args)
    };
    let first = sender(web_2.name);
    let other = sender(web_3.name);
    // A name that would end the upstream block and add to the config.
    let hostile = "evil;}";
    send_raw(to.parse().unwrap(), &beat(hostile, "b", 1, 60_000));
    listener.expect_each("up", &[web_2.name, web_3.name, hostile]);
    let up = |nodes: &[&str]| {
        let nodes: Vec<String> = nodes.iter().map(|n| n.to_string()).collect();
        move |text: &str| {
            let state: serde_json::Value = serde_json::from_str(text).unwrap_or_default();
            state["up"] == serde_json::json!(nodes)
        }
    };
    wait_for_file(
        &state,
        "both up",
        PATIENCE,
        up(&[web_2.name, web_3.name, hostile]),
    );
    let out = nginx.run_reloading(&script);
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{said}");
    assert_eq!(
        said,
        format!("hb-nginx: {hostile}: not a server address, left out\n")
    );
    let written = std::fs::read_to_string(&upstream).unwrap();
    assert!(!written.contains("evil"), "{written}");
    let both = |web_2: usize, web_3: usize| web_2 > 0 && web_3 > 0;
    wait_for("both backends served", PATIENCE, || {
        nginx.request();
        both(web_2.served(), web_3.served()).then_some(())
    });

    drop(first);
    listener.expect("down", |v| v["node"] == web_2.name);
    wait_for_file(
        &state,
        "127.0.0.2 down",
        PATIENCE,
        up(&[web_3.name, hostile]),
    );
    let out = nginx.run_reloading(&script);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    nginx.settle("127.0.0.3 alone to answer", |(code, by)| {
        *code == 200 && by == web_3.name
    });
    let served = web_2.served();
    for _ in 0..20 {
        assert_eq!(nginx.request(), (200, web_3.name.to_owned()));
    }
    assert_eq!(
        web_2.served(),
        served,
        "the down node's backend was sent requests"
    );

    // Back: in the upstream again.
    let back = sender(web_2.name);
    listener.expect("up", |v| v["node"] == web_2.name);
    wait_for_file(
        &state,
        "both up again",
        PATIENCE,
        up(&[web_2.name, web_3.name, hostile]),
    );
    assert!(nginx.run_reloading(&script).status.success());
    wait_for("127.0.0.2 served again", PATIENCE, || {
        nginx.request();
        (web_2.served() > served).then_some(())
    });

    // None up: the upstream nginx wants still has a server, which takes
    // nothing.
    drop(back);
    drop(other);
    wait_for_file(&state, "none up", PATIENCE, up(&[hostile]));
    assert!(nginx.run_reloading(&script).status.success());
    nginx.settle("502 from the empty upstream", |(code, _)| *code == 502);
}
