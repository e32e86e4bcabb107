use proptest::prelude::*;

use super::*;

fn node(name: &str) -> Node {
    Node {
        name: name.into(),
        addr: None,
        last: LastSeen::default(),
        every_ms: 1000,
        last_seen: None,
        wall_at_last_beat: 0,
        state: State::Pending,
        since: 0,
        health: None,
        armed_at: None,
        suspect_after: 0,
        down_after: 0,
        arrivals: None,
        recovering: 0,
        grace: 0,
        recent: 0,
        known: 0,
        changes: None,
        flapping: false,
        expected: false,
        checks: None,
    }
}

proptest! {
    /// Whatever is added and removed, every node is found at its own
    /// position, and no removed name is found.
    #[test]
    fn removal_keeps_the_index_true(ops in prop::collection::vec((any::<bool>(), 0..40usize), 1..200)) {
        let mut table = Table::new();
        let mut names: Vec<String> = Vec::new();
        for (add, n) in ops {
            let name = format!("node-{n}");
            match (add, table.find(&name)) {
                (true, None) => {
                    table.insert(node(&name));
                    names.push(name);
                }
                (false, Some(idx)) => {
                    let removed = table.remove(idx);
                    prop_assert_eq!(removed.name.as_str(), name.as_str());
                    prop_assert!(table.find(&name).is_none());
                    names.retain(|n| *n != name);
                }
                _ => {}
            }
            prop_assert_eq!(table.len(), names.len());
            for name in &names {
                let idx = table.find(name).expect("a node still there is found");
                prop_assert_eq!(table[idx].name.as_str(), name.as_str());
            }
        }
    }
}
