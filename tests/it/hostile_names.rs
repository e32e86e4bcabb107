//! A flood of invented names against the node table: the expected nodes
//! keep their places, and a full table is said, not only counted.

use crate::harness::{beat, send_raw, Running};

#[test]
fn a_full_table_is_said_and_expected_nodes_keep_their_places() {
    let (mut l, addr) = Running::listener(&["--max-nodes", "3", "--expect", "db-1"]);
    for i in 0..10 {
        // A week's interval: without a place of their own, the expected
        // nodes would be shut out for days.
        send_raw(addr, &beat(&format!("junk-{i}"), "b", 1, 604_800_000));
    }
    let full = l.expect("observer", |v| v["state"] == "full");
    assert!(full["refused"].as_u64().unwrap() >= 1, "{full}");
    l.stderr_address("node table is full");
    send_raw(addr, &beat("db-1", "b", 1, 1000));
    l.expect("up", |v| v["node"] == "db-1");
}
