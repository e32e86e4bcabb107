use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use super::*;

fn reload() -> Reload {
    Reload::new(Arc::new(AtomicBool::new(false)))
}

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

#[test]
fn a_request_is_taken_once() {
    let asked = Arc::new(AtomicBool::new(false));
    let r = Reload::new(Arc::clone(&asked));
    assert!(!r.requested());
    asked.store(true, Ordering::Relaxed);
    assert!(r.requested());
    assert!(!r.requested());
}

#[test]
fn a_list_read_again_says_what_was_added_and_removed() {
    let mut current = names(&["a", "b", "c"]);
    let change = reload().list(&mut current, Ok(names(&["c", "d", "a"])), "x");
    assert_eq!(change.outcome, Outcome::Reloaded);
    assert_eq!(change.added, names(&["d"]));
    assert_eq!(change.removed, names(&["b"]));
    assert_eq!(current, names(&["c", "d", "a"]));
}

#[test]
fn the_same_list_in_another_order_is_unchanged() {
    let mut current = names(&["a", "b"]);
    let change = reload().list(&mut current, Ok(names(&["b", "a", "a"])), "x");
    assert_eq!(change.outcome, Outcome::Unchanged);
    assert!(change.added.is_empty() && change.removed.is_empty());
}

#[test]
fn a_list_that_cannot_be_read_is_kept() {
    let mut current = names(&["a"]);
    let change = reload().list(&mut current, Err(anyhow::anyhow!("broken")), "x");
    assert_eq!(change.outcome, Outcome::Failed);
    assert_eq!(current, names(&["a"]));
}

#[test]
fn the_event_has_a_field_per_source_it_read() {
    let keys = Reloaded {
        keys: Some(Outcome::Unchanged),
        web: Some(Outcome::Failed),
        ..Reloaded::default()
    };
    let event = keys.with_expected(ListChange {
        outcome: Outcome::Reloaded,
        added: names(&["web-3"]),
        removed: Vec::new(),
    });
    assert_eq!(
        serde_json::to_string(&event).unwrap(),
        r#"{"type":"reloaded","keys":"unchanged","expected":"reloaded","expected_added":["web-3"],"expected_removed":[],"web":"failed"}"#
    );
    assert_eq!(
        serde_json::to_string(&Reloaded::default()).unwrap(),
        r#"{"type":"reloaded"}"#
    );
}
