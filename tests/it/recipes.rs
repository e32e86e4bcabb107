//! Every jq recipe of the documentation, run on real output: the README's,
//! docs/events.md's and contrib/systemd/README.md's. The recipes are read
//! from the documents themselves (shell code blocks, and inline code that
//! starts with `jq `), so a recipe changed there is the recipe tested here;
//! each must have an expectation below, which says what it must print.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::harness::{
    beat, beat_with, cmd, dead_target, send_raw, skip, wait_for_file, Running, TempDir, PATIENCE,
};

/// The documents whose recipes are run.
const DOCUMENTS: [&str; 3] = ["README.md", "docs/events.md", "contrib/systemd/README.md"];

/// One jq command as a document gives it.
#[derive(Debug)]
struct Recipe {
    /// Where it is, for messages.
    place: String,
    /// The first word of the pipeline stage that feeds it (`hb-listen`,
    /// `journalctl`), empty when it reads a file or is shown alone.
    producer: String,
    /// jq's arguments: flags, the filter, files.
    args: Vec<String>,
}

impl Recipe {
    /// The filter: jq's first argument that is not a flag.
    fn filter(&self) -> &str {
        self.args.iter().find(|a| !a.starts_with('-')).unwrap()
    }

    /// The files it reads, after the filter.
    fn files(&self) -> impl Iterator<Item = &String> {
        self.args.iter().filter(|a| !a.starts_with('-')).skip(1)
    }
}

/// A shell word, or an operator that ends one stage of a command
/// (`|`, `>`, `;`, `&&`, a newline, ...).
#[derive(Debug, PartialEq)]
enum Token {
    Word(String),
    Op(String),
}

/// Shell code as words and operators: quotes, backslashes, comments and
/// line continuations as sh reads them (no expansions: recipes need none).
fn tokens(code: &str) -> Vec<Token> {
    let mut out = Vec::new();
    let mut word: Option<String> = None;
    let mut chars = code.chars().peekable();
    let end = |word: &mut Option<String>, out: &mut Vec<Token>| {
        if let Some(w) = word.take() {
            out.push(Token::Word(w));
        }
    };
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                let w = word.get_or_insert_with(String::new);
                w.extend(chars.by_ref().take_while(|&c| c != '\''));
            }
            '"' => {
                let w = word.get_or_insert_with(String::new);
                while let Some(c) = chars.next() {
                    match c {
                        '"' => break,
                        '\\' if matches!(chars.peek(), Some('"' | '\\' | '$' | '`')) => {
                            w.push(chars.next().unwrap());
                        }
                        c => w.push(c),
                    }
                }
            }
            '\\' => match chars.next() {
                Some('\n') | None => {}
                Some(c) => word.get_or_insert_with(String::new).push(c),
            },
            '#' if word.is_none() => {
                chars.by_ref().find(|&c| c == '\n');
                out.push(Token::Op("\n".into()));
            }
            ' ' | '\t' => end(&mut word, &mut out),
            '\n' | '|' | '>' | '<' | ';' | '&' | '(' | ')' => {
                end(&mut word, &mut out);
                let mut op = c.to_string();
                if chars.peek() == Some(&c) && "|&>".contains(c) {
                    op.push(chars.next().unwrap());
                }
                out.push(Token::Op(op));
            }
            c => word.get_or_insert_with(String::new).push(c),
        }
    }
    end(&mut word, &mut out);
    out
}

/// Every `jq` command of `code`.
fn jq_commands(code: &str, place: &str, recipes: &mut Vec<Recipe>) {
    let tokens = tokens(code);
    for (at, token) in tokens.iter().enumerate() {
        let starts_command = at == 0 || matches!(tokens[at - 1], Token::Op(_));
        if *token != Token::Word("jq".into()) || !starts_command {
            continue;
        }
        let args = tokens[at + 1..]
            .iter()
            .map_while(|t| match t {
                Token::Word(w) => Some(w.clone()),
                Token::Op(_) => None,
            })
            .collect();
        let mut producer = String::new();
        if at > 0 && tokens[at - 1] == Token::Op("|".into()) {
            let stage = tokens[..at - 1]
                .iter()
                .rposition(|t| matches!(t, Token::Op(_)))
                .map_or(0, |op| op + 1);
            if let Some(Token::Word(first)) = tokens.get(stage) {
                producer = first.clone();
            }
        }
        recipes.push(Recipe {
            place: place.to_owned(),
            producer,
            args,
        });
    }
}

/// Every jq recipe of the documents: in `sh` code blocks, and inline code
/// that starts with `jq `.
fn recipes(root: &Path) -> Vec<Recipe> {
    let mut recipes = Vec::new();
    for doc in DOCUMENTS {
        let text = std::fs::read_to_string(root.join(doc)).unwrap();
        let mut block: Option<(usize, String)> = None;
        for (n, line) in text.lines().enumerate() {
            let place = format!("{doc}:{}", n + 1);
            match &mut block {
                Some((start, code)) if line.starts_with("```") => {
                    jq_commands(code, &format!("{doc}:{start}"), &mut recipes);
                    block = None;
                }
                Some((_, code)) => {
                    code.push_str(line);
                    code.push('\n');
                }
                None if line.starts_with("```sh") => block = Some((n + 1, String::new())),
                None => {
                    for (i, span) in line.split('`').enumerate() {
                        if i % 2 == 1 && span.starts_with("jq ") {
                            jq_commands(span, &place, &mut recipes);
                        }
                    }
                }
            }
        }
    }
    recipes
}

/// What hb really printed, to feed the recipes.
struct Outputs {
    /// hb-listen's stdout: beats, transitions, status lines.
    listen: Vec<String>,
    /// What the listener's web side said: `/status`, and the events of
    /// `/events` (each `data:` line's JSON).
    status: Vec<String>,
    events: Vec<String>,
    /// As the journal has it: hb-listen's stderr lines among its events.
    journal: Vec<String>,
    /// hb-poll's stdout, one round with a target down.
    poll: Vec<String>,
    /// The dead target hb-poll was given.
    dead: String,
    /// hb-listen's `--state` file.
    state: PathBuf,
    _dir: TempDir,
}

/// The `health` field of a beat as hb-send writes it, its CPU at `cpu_pct`.
fn health(cpu_pct: f64) -> String {
    format!(
        r#""health":{{"cpu_pct":{cpu_pct},"mem_total":8589934592,"mem_avail":4294967296,"swap_used":0,"load1":0.5,"load5":0.5,"load15":0.5,"uptime_s":100}}"#
    )
}

/// A fleet in every state a recipe selects on: `web-1` up and idle (it
/// also loses a beat and restarts), `web-2` up and busy, `web-3` up with
/// a failing check (degraded), `web-4` up without health, `gone` down,
/// `db-1` expected and never seen (pending).
fn outputs() -> Outputs {
    let dir = TempDir::new();
    let state = dir.path().join("state.json");
    let web = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|free| free.local_addr())
        .unwrap()
        .to_string();
    let (mut l, addr) = Running::listener(&[
        "--metrics",
        &web,
        "--beats",
        "--status-every",
        "100ms",
        "--state",
        state.to_str().unwrap(),
        "--state-every",
        "20ms",
        "--expect",
        "db-1",
    ]);
    let mut stream = crate::web::events(&web);
    let hour = 3_600_000;
    let failing =
        r#""checks":[{"name":"http","status":"critical","output":"HTTP CRITICAL - 503"}]"#;
    let degraded = format!("{},{failing}", health(10.0));
    for datagram in [
        beat_with("web-1", "b1", 1, hour, &health(12.5)),
        beat_with("web-1", "b1", 3, hour, &health(12.5)),
        beat_with("web-1", "b2", 1, hour, &health(12.5)),
        beat_with("web-2", "b", 1, hour, &health(95.0)),
        beat_with("web-3", "b", 1, hour, &degraded),
        beat("web-4", "b", 1, hour),
        beat("gone", "b", 1, 100),
    ] {
        send_raw(addr, &datagram);
    }
    l.expect("restart", |v| v["node"] == "web-1");
    l.expect("down", |v| v["node"] == "gone");
    // A job's run that failed, as `hb-send --run` tells it.
    let done = r#"{"type":"done","node":"backup","boot":"j","seq":3,"exit":3,"duration_ms":1221505,"stderr":"rsync: connection refused"}"#;
    send_raw(addr, done.as_bytes());
    l.expect("failed", |v| v["node"] == "backup");
    let membership = |v: &Value| {
        v["up"] == serde_json::json!(["web-1", "web-2", "web-4"])
            && v["degraded"] == serde_json::json!(["web-3"])
            && v["down"] == serde_json::json!(["gone"])
            && v["pending"] == serde_json::json!(["db-1"])
    };
    l.expect("status", membership);
    wait_for_file(&state, "the status line's membership", PATIENCE, |t| {
        serde_json::from_str(t).is_ok_and(|v| membership(&v))
    });
    let listen: Vec<String> = l.seen.iter().map(Value::to_string).collect();
    let status = vec![crate::metrics::get(&web, "/status").1.trim_end().to_owned()];
    let mut events = Vec::new();
    // Every event line the stream had, up to the job's `failed`.
    while events.last().is_none_or(|e: &Value| e["type"] != "failed") {
        events.push(crate::web::next_data(&mut stream));
    }
    let events = events.iter().map(Value::to_string).collect();
    let mut journal = vec![format!("hb-listen: listening on {addr}")];
    journal.extend(listen.iter().cloned());
    journal.push("hb-listen: a diagnostic, not an event".into());

    let (_ack, ack) = Running::responder(&["--node", "web-1"]);
    let (_silent, dead) = dead_target();
    let out = cmd("hb-poll")
        .args([&ack.to_string(), &dead, "-t", "300ms", "--retries", "0"])
        .output()
        .unwrap();
    let poll = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    Outputs {
        listen,
        status,
        events,
        journal,
        poll,
        dead,
        state,
        _dir: dir,
    }
}

/// Runs `recipe` on `input` (lines) or on its files; its stdout's lines.
fn run(recipe: &Recipe, input: &[String], state: &Path) -> Vec<String> {
    let args: Vec<String> = recipe
        .args
        .iter()
        .map(|a| match a.as_str() {
            "/var/lib/hb/state.json" => state.display().to_string(),
            _ => a.clone(),
        })
        .collect();
    let mut jq = Command::new("jq")
        .args(&args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = jq.stdin.take().unwrap();
    for line in input {
        writeln!(stdin, "{line}").unwrap();
    }
    drop(stdin);
    let out = jq.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}: jq {args:?}: {}",
        recipe.place,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(String::from)
        .collect()
}

fn parsed(lines: &[String]) -> Vec<Value> {
    lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn every_jq_recipe_of_the_documents_works_on_real_output() {
    if Command::new("jq").arg("--version").output().is_err() {
        return skip!("jq is not installed");
    }
    let recipes = recipes(Path::new(env!("CARGO_MANIFEST_DIR")));
    assert!(recipes.len() >= 12, "recipes not found: {recipes:?}");
    let out = outputs();
    let up_or_down = |lines: &[String]| {
        let events = parsed(lines);
        let kinds: BTreeSet<String> = events
            .iter()
            .map(|v| format!("{} {}", v["type"], v["node"]))
            .collect();
        assert!(
            events
                .iter()
                .all(|v| v["type"] == "up" || v["type"] == "down"),
            "{lines:?}"
        );
        assert!(
            kinds.contains(r#""up" "web-3""#) && kinds.contains(r#""down" "gone""#),
            "{kinds:?}"
        );
    };
    let servers = |format: &dyn Fn(&str) -> String| -> Vec<String> {
        ["web-1", "web-2", "web-4"]
            .iter()
            .map(|n| format(n))
            .collect()
    };
    for recipe in &recipes {
        let input: &[String] = match recipe.producer.as_str() {
            "hb-listen" => &out.listen,
            "hb-poll" => &out.poll,
            "journalctl" => &out.journal,
            "curl" => &out.status,
            // `curl -sN .../events | sed -un 's/^data: //p'`: the events.
            "sed" => &out.events,
            // A file's recipe, or shown alone: they read the state file.
            "" => &[],
            other => panic!("{}: fed by {other}: which output is that?", recipe.place),
        };
        let file_less = recipe.files().next().is_none();
        let args_with_state;
        let recipe = if recipe.producer.is_empty() && file_less {
            args_with_state = Recipe {
                place: recipe.place.clone(),
                producer: String::new(),
                args: [&recipe.args[..], &["/var/lib/hb/state.json".to_owned()]].concat(),
            };
            &args_with_state
        } else {
            recipe
        };
        let lines = run(recipe, input, &out.state);
        let place = &recipe.place;
        match recipe.filter() {
            r#"select(.type == "down" or .type == "up")"# => up_or_down(&lines),
            r#"fromjson? | select(.type == "down" or .type == "up")"# => up_or_down(&lines),
            r#"select(.type == "status") | .up"# => {
                assert_eq!(
                    lines.last().unwrap(),
                    r#"["web-1","web-2","web-4"]"#,
                    "{place}"
                );
            }
            // The resync at HAProxy's start: each server as hb last saw
            // it; pending nodes and jobs left as HAProxy starts them.
            filter if filter.contains("set server web/") => {
                let expected = [
                    "gone maint",
                    "web-1 ready",
                    "web-2 ready",
                    "web-3 drain",
                    "web-4 ready",
                ]
                .map(|s| {
                    let (server, state) = s.split_once(' ').unwrap();
                    format!("set server web/{server} state {state}")
                });
                let sorted: BTreeSet<&str> = lines.iter().map(String::as_str).collect();
                assert_eq!(sorted.len(), lines.len(), "{place}: {lines:?}");
                assert!(sorted.iter().eq(expected.iter()), "{place}: {lines:?}");
            }
            // The routing recipe: who can take requests, and has room.
            filter if filter.contains("to_entries[]") => {
                let names: BTreeSet<&str> = lines.iter().map(String::as_str).collect();
                assert_eq!(names, BTreeSet::from(["web-1"]), "{place}: {lines:?}");
            }
            r#".up[] | select(test("^[A-Za-z0-9._-]+$")) | "    server \(.) \(.):8080 check""# => {
                assert_eq!(
                    lines,
                    servers(&|n| format!("    server {n} {n}:8080 check")),
                    "{place}"
                );
            }
            r#".up[] | select(test("^[A-Za-z0-9._-]+$")) | "    server \(.):8080;""# => {
                assert_eq!(
                    lines,
                    servers(&|n| format!("    server {n}:8080;")),
                    "{place}"
                );
            }
            ".down[]" => assert_eq!(lines, ["gone"], "{place}"),
            r#"select(.type == "down")"# => {
                let events = parsed(&lines);
                assert_eq!(events.len(), 1, "{place}: {lines:?}");
                assert_eq!(events[0]["node"], "gone", "{place}: {lines:?}");
            }
            r#"select(.type == "flapping")"# => assert!(lines.is_empty(), "{place}: {lines:?}"),
            // Every name of the fleet is a plain server address.
            r#".up[] | select(test("^[A-Za-z0-9._-]+$") | not) | "hb-haproxy: \(.): not a server address, left out""#
            | r#".up[] | select(test("^[A-Za-z0-9._-]+$") | not) | "hb-nginx: \(.): not a server address, left out""# =>
            {
                assert!(lines.is_empty(), "{place}: {lines:?}")
            }
            r#"select(.type == "failed" or .type == "late")"# => {
                let events = parsed(&lines);
                assert_eq!(events.len(), 1, "{place}: {lines:?}");
                assert_eq!(events[0]["node"], "backup", "{place}: {lines:?}");
                assert_eq!(events[0]["exit"], 3, "{place}: {lines:?}");
            }
            r#"select(.type == "poll" and .status == "down") | .target"# => {
                assert_eq!(lines, [out.dead.as_str()], "{place}");
            }
            r#"select(.type == "restart" or (.type == "beat" and .gap > 0))"# => {
                let events = parsed(&lines);
                assert!(events
                    .iter()
                    .any(|v| v["type"] == "restart" && v["node"] == "web-1"));
                assert!(
                    events.iter().any(|v| v["type"] == "beat" && v["gap"] == 1),
                    "{lines:?}"
                );
                assert!(events
                    .iter()
                    .all(|v| v["type"] != "beat" || v["gap"].as_u64() > Some(0)));
            }
            "fromjson?" => assert_eq!(parsed(&lines).len(), out.listen.len(), "{place}"),
            r#""\(.ts_ms / 1000 | todate) \(.type) \(.node)""# => {
                let first = parsed(&out.listen[..1]).remove(0);
                let second = &first["ts"].as_str().unwrap()[..19];
                let node = first["node"].as_str().unwrap();
                let expected = format!("{second}Z {} {node}", first["type"].as_str().unwrap());
                assert_eq!(lines[0], expected, "{place}");
                assert_eq!(lines.len(), out.listen.len(), "{place}");
            }
            r#"select(.type == "down") | .ts | sub("\\.[0-9]+Z$"; "Z") | fromdateiso8601"# => {
                let down = parsed(&out.listen)
                    .into_iter()
                    .find(|v| v["type"] == "down")
                    .unwrap();
                let seconds = down["ts_ms"].as_u64().unwrap() / 1000;
                assert_eq!(lines, [seconds.to_string()], "{place}");
            }
            filter => panic!("{place}: no expectation for the recipe {filter:?}: add one here"),
        }
    }
}

#[test]
fn recipes_are_read_as_sh_reads_them() {
    let code = "hb-listen --status-every 5s \\\n  | jq -r 'a | b'\n# jq -c x\njq -c \"\\\"q\\\"\" f.json > out # jq\n";
    let mut found = Vec::new();
    jq_commands(code, "here", &mut found);
    assert_eq!(found.len(), 2, "{found:?}");
    assert_eq!(
        (found[0].producer.as_str(), found[0].filter()),
        ("hb-listen", "a | b")
    );
    assert_eq!(
        (found[1].producer.as_str(), found[1].filter()),
        ("", "\"q\"")
    );
    assert_eq!(found[1].files().collect::<Vec<_>>(), ["f.json"]);
}
