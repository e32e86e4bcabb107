use crate::clock::Moment;
use std::fs;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::Value;

use super::*;
use crate::output::{Output, Subscriber};

#[test]
fn a_hook_names_its_events_or_takes_all() {
    let spec = HookSpec::parse("down, up=notify.sh --loud").unwrap();
    assert!(spec.wants("down") && spec.wants("up") && !spec.wants("beat"));
    assert_eq!(spec.command(), "notify.sh --loud");
    let all = HookSpec::parse("*=a=b").unwrap();
    assert!(all.wants("beat") && all.wants("still-down"));
    assert_eq!(all.command(), "a=b");
}

#[test]
fn a_malformed_hook_is_told_what_is_wrong() {
    let unknown = HookSpec::parse("down,dwon=x").unwrap_err();
    assert!(unknown.contains("\"dwon\""), "{unknown}");
    for name in known_events() {
        assert!(unknown.contains(name), "{unknown}");
    }
    assert!(HookSpec::parse("down").unwrap_err().contains("EVENTS=CMD"));
    assert!(HookSpec::parse("down=  ").unwrap_err().contains("empty"));
    assert!(HookSpec::parse("=x").unwrap_err().contains("unknown event"));
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
enum Line {
    Down { node: String, addr: Option<String> },
    Up { node: String, addr: Option<String> },
}

fn up(node: &str) -> Line {
    Line::Up {
        node: node.into(),
        addr: Some("10.0.0.7:26722".into()),
    }
}

fn down(node: &str) -> Line {
    Line::Down {
        node: node.into(),
        addr: Some("10.0.0.7:26722".into()),
    }
}

/// A fresh directory for a test's files.
fn dir(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("hb-hooks-{test}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

/// Waits (bounded) until every hook has ended.
fn settle(actions: &Actions) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while !actions.hooks.as_ref().is_none_or(Hooks::idle) {
        assert!(Instant::now() < deadline, "hooks still running");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Hands `actions` the line of `event` printed at `now`, stamped `wall`,
/// as a tool's sink does.
fn printed<E: Serialize>(actions: &mut Actions, now: Millis, wall: u64, event: &E) {
    let mut out = Output::new(Vec::new());
    out.emit(wall, event).unwrap();
    hand(actions, Moment::new(now, wall), out.last_line());
}

fn hand(actions: &mut Actions, at: Moment, json: &[u8]) {
    let kind = crate::output::type_of(json).unwrap();
    actions.take(&crate::output::Line { kind, at, json });
}

/// The lines `actions` prints at `now`, each handed back to it as a
/// tool's sink does.
fn ticked(actions: &mut Actions, now: Millis) -> Vec<Value> {
    let at = Moment::new(now, 1_000);
    let mut said = Vec::new();
    actions.tick(at, &mut said);
    let mut lines = Vec::new();
    for line in said {
        let mut out = Output::new(Vec::new());
        out.emit_json(at.wall, line.json()).unwrap();
        hand(actions, at, out.last_line());
        lines.push(serde_json::from_slice(out.last_line()).unwrap());
    }
    lines
}

#[test]
fn a_nodes_events_reach_its_hook_in_order_with_the_line_and_environment() {
    let dir = dir("order");
    let log = dir.join("log");
    // The first event's hook is the slowest: the next ones must wait for it.
    let command = format!(
        r#"[ "$HB_TS_MS" = 1 ] && sleep 0.2; line=$(cat); echo "$HB_EVENT $HB_NODE $HB_ADDR $HB_TS_MS $line" >> {}"#,
        log.display()
    );
    let spec = HookSpec::parse(&format!("down={command}")).unwrap();
    let mut actions = Actions::new(vec![spec], 4, Duration::from_secs(10), None).unwrap();
    for ts in 1..=5 {
        printed(&mut actions, 0, ts, &down("a"));
    }
    printed(&mut actions, 0, 9, &up("a"));
    settle(&actions);
    let lines: Vec<String> = fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(Into::into)
        .collect();
    let expected: Vec<String> = (1..=5)
        .map(|ts| {
            format!(
                r#"down a 10.0.0.7:26722 {ts} {{"type":"down","ts":"{}","ts_ms":{ts},"node":"a","addr":"10.0.0.7:26722"}}"#,
                crate::output::rfc3339(ts)
            )
        })
        .collect();
    assert_eq!(lines, expected);
    assert!(ticked(&mut actions, 0).is_empty());
    fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_failed_hook_is_reported_with_its_status_and_last_line() {
    let spec = HookSpec::parse("down=echo first >&2; echo why >&2; exit 3").unwrap();
    let mut actions = Actions::new(vec![spec], 1, Duration::from_secs(10), None).unwrap();
    printed(&mut actions, 0, 7, &down("a"));
    settle(&actions);
    let lines = ticked(&mut actions, 0);
    assert_eq!(lines.len(), 1, "{lines:?}");
    let hook = &lines[0];
    assert_eq!(hook["type"], "hook");
    assert_eq!(hook["ok"], false);
    assert_eq!(hook["event"], "down");
    assert_eq!(hook["node"], "a");
    assert_eq!(hook["exit"], 3);
    assert_eq!(hook["signal"], Value::Null);
    assert_eq!(hook["timed_out"], false);
    assert_eq!(hook["stderr"], "why");
}

#[test]
fn a_hung_hook_is_killed_with_its_children_at_the_timeout() {
    let dir = dir("timeout");
    let pid = dir.join("pid");
    let command = format!("down=sleep 60 & echo $! > {}; wait", pid.display());
    let spec = HookSpec::parse(&command).unwrap();
    // Time enough for the hook to start its child on a loaded machine.
    let mut actions = Actions::new(vec![spec], 1, Duration::from_secs(1), None).unwrap();
    printed(&mut actions, 0, 7, &down("a"));
    settle(&actions);
    let lines = ticked(&mut actions, 0);
    assert_eq!(lines[0]["timed_out"], true, "{lines:?}");
    assert_eq!(lines[0]["signal"], libc::SIGKILL);
    let sleeper = fs::read_to_string(&pid).unwrap();
    let stat = fs::read_to_string(format!("/proc/{}/stat", sleeper.trim()));
    // Gone, or a zombie waiting for a reaper: killed either way.
    assert!(stat.is_err() || stat.unwrap().contains(") Z "));
    fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_full_queue_drops_and_counts_and_says_so_once_a_second() {
    let spec = HookSpec::parse("down=sleep 3").unwrap();
    let mut actions = Actions::new(vec![spec], 1, Duration::from_secs(10), None).unwrap();
    for i in 0..QUEUE + 20 {
        printed(&mut actions, 0, 7, &down(&format!("n{i}")));
    }
    let lines = ticked(&mut actions, 0);
    let overflow = lines.iter().find(|l| l["type"] == "hook-overflow").unwrap();
    let dropped = overflow["dropped"].as_u64().unwrap();
    // The worker may have taken one job before the queue filled.
    assert!((19..=20).contains(&dropped), "{overflow}");
    assert_eq!(overflow["dropped_total"], dropped);
    assert_eq!(overflow["queue"], QUEUE);
    // Whose: the first ones by name, the others counted.
    let first = QUEUE + 20 - dropped as usize;
    let named: Vec<String> = (first..first + 10).map(|i| format!("n{i}")).collect();
    assert_eq!(overflow["nodes"], serde_json::json!(named), "{overflow}");
    assert_eq!(overflow["unlisted"], dropped - 10, "{overflow}");
    printed(&mut actions, 0, 7, &down("late"));
    assert!(ticked(&mut actions, 999).is_empty());
    let again = ticked(&mut actions, 1000);
    assert_eq!(again[0]["dropped"], 1);
    assert_eq!(again[0]["dropped_total"], dropped + 1);
    assert_eq!(again[0]["nodes"], serde_json::json!(["late"]));
    assert_eq!(again[0]["unlisted"], 0);
}

#[test]
fn a_flood_of_other_nodes_neither_drops_nor_delays_an_expected_nodes_hook() {
    let dir = dir("flood");
    let log = dir.join("log");
    let command = format!(
        r#"down=echo "$HB_NODE" >> {}; [ "$HB_NODE" = real ] || sleep 1"#,
        log.display()
    );
    let spec = HookSpec::parse(&command).unwrap();
    let mut actions = Actions::new(vec![spec], 1, Duration::from_secs(10), None).unwrap();
    actions.expect(&["real".to_owned()]);
    for i in 0..QUEUE + 20 {
        printed(&mut actions, 0, 7, &down(&format!("forged-{i}")));
    }
    printed(&mut actions, 0, 8, &down("real"));
    let overflow = ticked(&mut actions, 0);
    let overflow = overflow
        .iter()
        .find(|l| l["type"] == "hook-overflow")
        .unwrap();
    assert!(!overflow.to_string().contains("real"), "{overflow}");
    // The real line among the first two run (a forged one may have been
    // taken by the worker before it came), ahead of the forged lines
    // still waiting.
    let deadline = Instant::now() + Duration::from_secs(15);
    let ran = loop {
        let ran = fs::read_to_string(&log).unwrap_or_default();
        if ran.lines().count() >= 2 {
            break ran;
        }
        assert!(Instant::now() < deadline, "ran: {ran:?}");
        std::thread::sleep(Duration::from_millis(10));
    };
    assert!(ran.lines().take(2).any(|l| l == "real"), "{ran}");
    drop(actions);
    fs::remove_dir_all(dir).unwrap();
}

#[test]
fn reminders_are_printed_and_handed_to_hooks() {
    let dir = dir("remind");
    let log = dir.join("log");
    let spec = HookSpec::parse(&format!("still-down=cat >> {}", log.display())).unwrap();
    let mut actions = Actions::new(vec![spec], 1, Duration::from_secs(10), Some(100)).unwrap();
    printed(&mut actions, 0, 7, &down("a"));
    assert_eq!(actions.next_wake(), Some(100));
    let lines = ticked(&mut actions, 100);
    assert_eq!(lines[0]["type"], "still-down");
    assert_eq!(lines[0]["node"], "a");
    settle(&actions);
    let hooked: Value = serde_json::from_str(&fs::read_to_string(&log).unwrap()).unwrap();
    assert_eq!(hooked, lines[0]);
    fs::remove_dir_all(dir).unwrap();
}

#[test]
fn without_hooks_nor_reminders_nothing_is_due() {
    let mut actions = Actions::default();
    printed(&mut actions, 0, 7, &down("a"));
    assert_eq!(actions.next_wake(), None);
    assert!(ticked(&mut actions, 0).is_empty());
}
