//! The README's quick start runs `scripts/demo`; keep it working.

use crate::harness::{parse_events, script};

#[test]
fn the_quick_start_demo_shows_a_failure_and_a_recovery() {
    let out = script("scripts/demo").output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Lines about a node; on a loaded machine the listener may also print
    // an `observer` line about itself.
    let events: Vec<_> = parse_events(&out.stdout)
        .into_iter()
        .filter(|v| v["node"].is_string())
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
    let web2: Vec<_> = events.iter().filter(|e| e.ends_with(" web-2")).collect();
    assert_eq!(web2.first().map(|e| e.as_str()), Some("up web-2"));
    assert_eq!(
        web2[web2.len().saturating_sub(4)..],
        ["suspect web-2", "down web-2", "restart web-2", "up web-2"],
        "{events:?}"
    );
    let downs = events.iter().filter(|e| e.starts_with("down ")).count();
    assert_eq!(downs, 1, "{events:?}");
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
