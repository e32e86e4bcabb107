//! The README's quick start runs `scripts/demo`; keep it working, and its
//! sample output in the README true to what a run prints.

use serde_json::Value;

use crate::harness::{events_of_success, script};

#[test]
fn the_quick_start_demo_shows_a_crash_a_silent_host_and_recoveries() {
    let out = script("scripts/demo").output().unwrap();
    let printed = events_of_success(&out);
    // It ends on its own words, with no complaint from a shell or a tool.
    let stderr = String::from_utf8_lossy(&out.stderr);
    let said: Vec<&str> = stderr.lines().filter(|l| !l.starts_with("# ")).collect();
    assert!(
        said.iter()
            .all(|l| !l.contains("Killed") && !l.contains("warning")),
        "{stderr}"
    );
    // Lines about a node; on a loaded machine the listener may also print
    // an `observer` line about itself.
    let lines: Vec<Value> = printed
        .into_iter()
        .filter(|v| v["node"].is_string())
        .collect();
    let events: Vec<String> = lines
        .iter()
        .map(|v| {
            format!(
                "{} {}",
                v["type"].as_str().unwrap(),
                v["node"].as_str().unwrap()
            )
        })
        .collect();
    for node in ["web-1", "web-2", "db-1"] {
        assert!(events.contains(&format!("up {node}")), "{events:?}");
    }
    // A loaded machine may add a suspect/up blip; the story must hold.
    let of = |node: &str| -> Vec<&Value> { lines.iter().filter(|v| v["node"] == node).collect() };
    let web2 = of("web-2");
    let kinds: Vec<&str> = web2.iter().map(|v| v["type"].as_str().unwrap()).collect();
    assert_eq!(kinds.first(), Some(&"up"));
    assert_eq!(
        kinds[kinds.len().saturating_sub(4)..],
        ["suspect", "down", "restart", "up"],
        "{events:?}"
    );
    assert_eq!(web2[web2.len() - 3]["cause"], "unreachable", "{events:?}");
    let db1 = of("db-1");
    let kinds: Vec<&str> = db1.iter().map(|v| v["type"].as_str().unwrap()).collect();
    assert_eq!(
        kinds[kinds.len().saturating_sub(3)..],
        ["suspect", "down", "up"],
        "{events:?}"
    );
    // Its unanswered probes make it down before its deadline (5 missed
    // beats), or on a loaded machine that delays them, the deadline.
    let down = db1[db1.len() - 2];
    let early = down["cause"] == "no-answer" && down["missed"].as_u64() < Some(5);
    let late = down["cause"] == "silence" && down["missed"] == 5;
    assert!(early || late, "{down}");
    let downs = events.iter().filter(|e| e.starts_with("down ")).count();
    assert_eq!(downs, 2, "{events:?}");

    // The README's sample: each line carries the fields a run's line of
    // the same type about the same node carries.
    let shown = crate::samples::assert_readme_shows("demo", &lines);
    assert!(shown.len() >= 8, "{shown:?}");
}

/// The quick start by hand: `hb-send` says on stderr that it started, as
/// `hb-listen` does, so a new user sees that it works.
#[test]
fn the_quick_start_sender_says_it_started() {
    let (mut l, addr) = crate::harness::Running::listener(&[]);
    let to = addr.to_string();
    let send = crate::harness::Running::spawn("hb-send", &["--node", "web-1", "--to", &to]);
    assert_eq!(
        send.stderr_address("hb-send: web-1 beats every "),
        format!("1s to {to}")
    );
    l.expect("up", |v| v["node"] == "web-1");
}
