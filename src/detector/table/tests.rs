use proptest::prelude::*;

use super::*;
use crate::clock::Moment;
use crate::detector::tests::{beat, cfg};
use crate::detector::{Arrival, Config, Detector, Trust};
use crate::wire::{Message, Reject};

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

/// Expected nodes have places of their own: a flood of new names fills
/// the others, and an expected node still gets in, and beats.
#[test]
fn a_flood_of_names_takes_no_expected_nodes_place() {
    let mut det = Detector::new(
        Config {
            max_nodes: 3,
            ..cfg(5)
        },
        0,
    );
    let mut out = Vec::new();
    det.expect("db-1").unwrap();
    let at = Moment::new(0, 0);
    let trust = Trust::Network { max_skew_ms: None };
    for i in 0..10 {
        let name = format!("junk-{i}");
        let b = Message::Beat(beat(&name, "b", 1, 1000));
        let taken = det.take(&b, Arrival::new(at, None, trust), &mut out);
        assert_eq!(taken.is_ok(), i < 3, "{name}");
    }
    det.expect("web-1").unwrap();
    let b = Message::Beat(beat("web-1", "b", 1, 1000));
    assert_eq!(
        det.take(&b, Arrival::new(at, None, trust), &mut out),
        Ok(())
    );
    // Expected ones are capped too, at the same number.
    det.expect("e-3").unwrap();
    assert_eq!(det.expect("e-4"), Err(Reject::TooManyNodes));
    det.unexpect("db-1");
    assert_eq!(det.expect("e-4"), Ok(()));
}
