//! A headless browser for the tests: Debian's chromium, driven through
//! chromedriver with the WebDriver protocol (JSON over HTTP/1.1, one
//! connection a command), so that a page is tested as a person's browser
//! runs it: its script, its event stream, its clicks and its keys.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::{skip_as, wait_for, TempDir, PATIENCE};

/// chromium's arguments: no screen, no sandbox (CI runs as root), no GPU,
/// no /dev/shm (small in containers), and a window wide enough for every
/// column of the status page.
const ARGS: [&str; 5] = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--window-size=1280,900",
];

/// The key WebDriver sends for Backspace (the WebDriver spec's table of
/// key codes).
pub const BACKSPACE: char = '\u{E003}';

/// What a WebDriver command answered with instead of a value.
#[derive(Debug)]
pub struct WdError {
    pub http: u16,
    /// The WebDriver error code: "no such alert", "javascript error"...
    pub error: String,
    pub message: String,
}

impl std::fmt::Display for WdError {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(f, "{} (HTTP {}): {}", self.error, self.http, self.message)
    }
}

/// An element of the page, by its WebDriver reference.
#[derive(Clone, Debug)]
pub struct Element(String);

/// The key under which WebDriver gives an element's reference.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// chromedriver on a loopback port of its own, with one chromium session,
/// in a directory of their own (the browser's profile, and the temporary
/// files of both, which chromedriver may leave behind). On drop the
/// session is closed, the browser killed should it outlive that, and
/// chromedriver killed; then the directory is removed.
pub struct Browser {
    driver: Child,
    addr: String,
    session: String,
    /// The browser's own process (chromedriver's `goog:processID`), which
    /// outlives a killed chromedriver.
    browser_pid: Option<u32>,
    dir: TempDir,
}

impl Browser {
    /// A browser, or None (after saying loudly that `test`, named with
    /// [`super::test_name!`], is skipped) where chromedriver or chromium is
    /// not installed.
    pub fn start(test: &str) -> Option<Browser> {
        let Some(driver) = on_path("chromedriver") else {
            skip_as(
                test,
                "`chromedriver` is not installed (Debian: chromium-driver)",
            );
            return None;
        };
        let Some(chromium) = on_path("chromium") else {
            skip_as(test, "`chromium` is not installed (Debian: chromium)");
            return None;
        };
        let dir = TempDir::new();
        let (driver, addr) = spawn_driver(&driver, dir.path());
        let mut args: Vec<String> = ARGS.iter().map(|a| a.to_string()).collect();
        let profile = dir.path().join("profile");
        args.push(format!("--user-data-dir={}", profile.display()));
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": chromium, "args": args},
            "goog:loggingPrefs": {"browser": "ALL"},
        }}});
        let mut browser = Browser {
            driver,
            addr,
            session: String::new(),
            browser_pid: None,
            dir,
        };
        let made = http(&browser.addr, "POST", "/session", Some(&caps))
            .unwrap_or_else(|e| panic!("chromedriver made no session: {e}"));
        browser.session = made["sessionId"].as_str().unwrap().to_owned();
        browser.browser_pid = made["capabilities"]["goog:processID"]
            .as_u64()
            .map(|p| p as u32);
        Some(browser)
    }

    /// A command of this session: `path` after `/session/{id}`.
    pub fn command(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, WdError> {
        let path = format!("/session/{}{path}", self.session);
        http(&self.addr, method, &path, body)
    }

    #[track_caller]
    fn must(&self, method: &str, path: &str, body: Option<&Value>) -> Value {
        self.command(method, path, body)
            .unwrap_or_else(|e| panic!("WebDriver {method} {path}: {e}"))
    }

    /// Loads `url`, waiting for its load event.
    #[track_caller]
    pub fn goto(&self, url: &str) {
        self.must("POST", "/url", Some(&json!({ "url": url })));
    }

    /// Runs `script` (a function body: `return` gives the value) in the
    /// page, with `arguments` the JSON `args`.
    #[track_caller]
    pub fn js(&self, script: &str, args: &[Value]) -> Value {
        let body = json!({ "script": script, "args": args });
        self.command("POST", "/execute/sync", Some(&body))
            .unwrap_or_else(|e| panic!("running {script:?} in the page: {e}"))
    }

    /// The value of `script` once it is neither null, false nor undefined;
    /// panics after [`PATIENCE`] saying it waited for `what`.
    #[track_caller]
    pub fn wait_js(&self, what: &str, script: &str, args: &[Value]) -> Value {
        let at = std::panic::Location::caller();
        let body = json!({ "script": script, "args": args });
        wait_for(what, PATIENCE, || {
            let v = self
                .command("POST", "/execute/sync", Some(&body))
                .unwrap_or_else(|e| panic!("{at}: waiting for {what}: {e}"));
            (!v.is_null() && v != false).then_some(v)
        })
    }

    /// The elements `css` selects, in document order.
    #[track_caller]
    pub fn elements(&self, css: &str) -> Vec<Element> {
        let body = json!({"using": "css selector", "value": css});
        let found = self.must("POST", "/elements", Some(&body));
        found
            .as_array()
            .unwrap()
            .iter()
            .map(|e| Element(e[ELEMENT].as_str().unwrap().to_owned()))
            .collect()
    }

    /// The one element `css` selects.
    #[track_caller]
    pub fn element(&self, css: &str) -> Element {
        let mut found = self.elements(css);
        assert_eq!(found.len(), 1, "{css} selects {} elements", found.len());
        found.remove(0)
    }

    /// Clicks `el` as a pointer would (in its centre, scrolled into view).
    #[track_caller]
    pub fn click(&self, el: &Element) {
        self.must(
            "POST",
            &format!("/element/{}/click", el.0),
            Some(&json!({})),
        );
    }

    /// Types `text` into `el`, key by key (see [`BACKSPACE`]).
    #[track_caller]
    pub fn type_into(&self, el: &Element, text: &str) {
        let body = json!({ "text": text });
        self.must("POST", &format!("/element/{}/value", el.0), Some(&body));
    }

    /// The text of the alert, confirm or prompt open, if one is.
    pub fn alert_text(&self) -> Result<String, WdError> {
        self.command("GET", "/alert/text", None)
            .map(|v| v.as_str().unwrap_or_default().to_owned())
    }

    /// The errors the browser logged (the page's uncaught exceptions, its
    /// failed requests, what it said with console.error) since the last
    /// call.
    #[track_caller]
    pub fn console_errors(&self) -> Vec<String> {
        let body = json!({"type": "browser"});
        let log = self.must("POST", "/se/log", Some(&body));
        log.as_array()
            .into_iter()
            .flatten()
            .filter(|e| e["level"] == "SEVERE")
            .map(|e| e["message"].as_str().unwrap_or_default().to_owned())
            .collect()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let _ = self.command("DELETE", "", None);
        }
        if let Some(pid) = self.browser_pid {
            // Gone already after the session's close, unless that failed:
            // then it is ours still, as chromedriver started it for us, and
            // its helper processes end with it.
            if std::fs::read_to_string(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| c.contains(&*self.dir.path().to_string_lossy()))
            {
                // SAFETY: kill(2) has no memory effects; the process was
                // checked to be our browser (its profile is ours).
                unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
            }
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// Where `tool` is on PATH, if it is.
fn on_path(tool: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(tool))
        .find(|path| {
            use std::os::unix::fs::PermissionsExt;
            path.metadata()
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

/// chromedriver on a free loopback port, its temporary files (and its
/// browser's) in `tmp`, once it answers that it is ready. A port found free is anyone's until chromedriver binds it: when
/// chromedriver ends at once (another process took the port), another
/// port is tried.
fn spawn_driver(path: &Path, tmp: &Path) -> (Child, String) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .unwrap()
            .port();
        let mut driver = Command::new(path)
            .arg(format!("--port={port}"))
            .env("TMPDIR", tmp)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawning chromedriver: {e}"));
        let err = driver.stderr.take().unwrap();
        thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                eprintln!("[chromedriver stderr] {line}");
            }
        });
        let addr = format!("127.0.0.1:{port}");
        loop {
            if let Some(status) = driver.try_wait().unwrap() {
                assert!(
                    Instant::now() < deadline,
                    "chromedriver ended at its start: {status}"
                );
                break;
            }
            if http(&addr, "GET", "/status", None).is_ok_and(|s| s["ready"] == true) {
                return (driver, addr);
            }
            if Instant::now() >= deadline {
                let _ = driver.kill();
                let _ = driver.wait();
                panic!("chromedriver never said it was ready on {addr}");
            }
            thread::sleep(Duration::from_millis(20));
        }
    }
}

/// One WebDriver command: `method path` with `body` as JSON, on a
/// connection of its own. Its `value`, or the error it names.
fn http(addr: &str, method: &str, path: &str, body: Option<&Value>) -> Result<Value, WdError> {
    let failed = |message: String| WdError {
        http: 0,
        error: "no answer".into(),
        message,
    };
    let body = body.map(Value::to_string).unwrap_or_default();
    let exchange = || -> std::io::Result<(u16, Vec<u8>)> {
        let mut s = TcpStream::connect(addr)?;
        // A page load or a script may take a while; a hang may not.
        s.set_read_timeout(Some(PATIENCE * 2))?;
        write!(
            s,
            "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
             Content-Type: application/json; charset=utf-8\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )?;
        read_response(BufReader::new(s))
    };
    let (code, raw) = exchange().map_err(|e| failed(format!("{method} {path}: {e}")))?;
    let answer: Value = serde_json::from_slice(&raw).map_err(|e| {
        failed(format!(
            "{method} {path}: not JSON ({e}): {}",
            String::from_utf8_lossy(&raw)
        ))
    })?;
    let value = answer["value"].clone();
    if code == 200 {
        return Ok(value);
    }
    Err(WdError {
        http: code,
        error: value["error"].as_str().unwrap_or_default().to_owned(),
        message: value["message"].as_str().unwrap_or_default().to_owned(),
    })
}

/// An HTTP/1.1 response's status code and body (by its length, in chunks,
/// or up to the end of the connection).
fn read_response(mut r: BufReader<TcpStream>) -> std::io::Result<(u16, Vec<u8>)> {
    let bad = |what: String| std::io::Error::new(std::io::ErrorKind::InvalidData, what);
    let mut line = String::new();
    r.read_line(&mut line)?;
    let code = line
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| bad(format!("not an HTTP status line: {line:?}")))?;
    let (mut length, mut chunked) = (None, false);
    loop {
        line.clear();
        if r.read_line(&mut line)? == 0 {
            return Err(bad("the head never ended".into()));
        }
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            let value = value.trim();
            if name.eq_ignore_ascii_case("content-length") {
                length = value.parse().ok();
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                chunked = value.eq_ignore_ascii_case("chunked");
            }
        }
    }
    let mut body = Vec::new();
    if chunked {
        loop {
            line.clear();
            r.read_line(&mut line)?;
            let size = usize::from_str_radix(line.trim().split(';').next().unwrap(), 16)
                .map_err(|_| bad(format!("not a chunk size: {line:?}")))?;
            let start = body.len();
            body.resize(start + size + 2, 0);
            r.read_exact(&mut body[start..])?;
            body.truncate(start + size);
            if size == 0 {
                break;
            }
        }
    } else if let Some(n) = length {
        body.resize(n, 0);
        r.read_exact(&mut body)?;
    } else {
        r.read_to_end(&mut body)?;
    }
    Ok((code, body))
}
