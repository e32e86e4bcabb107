use proptest::prelude::*;

use super::*;

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
                    table.insert(Node::new(&name, State::Pending, 1000, 0));
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

/// A node record's size, which every tracked node pays: the fields added
/// for probes (credit, the local address's number) fit in its padding.
#[test]
fn a_node_record_stays_288_bytes() {
    assert_eq!(std::mem::size_of::<Node>(), 288);
}
