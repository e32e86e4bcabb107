//! The `status` objects the detector's snapshot stream writes, read back
//! and held to the model of each node's state.

use std::collections::BTreeMap;

use hb::detector::State;
use serde::de::{Deserializer, MapAccess, Visitor};
use serde::Deserialize;

/// A `status` object as the stream writes it. Its `nodes` entries are
/// kept in order, a name twice kept twice.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct Status {
    #[serde(rename = "type")]
    kind: String,
    up: Vec<String>,
    degraded: Vec<String>,
    suspect: Vec<String>,
    down: Vec<String>,
    pending: Vec<String>,
    left: Vec<String>,
    away: Vec<String>,
    /// Jobs' lists: empty, as no message here makes a job.
    ok: Vec<String>,
    running: Vec<String>,
    failed: Vec<String>,
    late: Vec<String>,
    nodes: Entries,
}

#[derive(Debug)]
struct Entries(Vec<(String, serde_json::Value)>);

impl<'de> Deserialize<'de> for Entries {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct InOrder;
        impl<'de> Visitor<'de> for InOrder {
            type Value = Entries;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Entries, A::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = map.next_entry()? {
                    entries.push(entry);
                }
                Ok(Entries(entries))
            }
        }
        d.deserialize_map(InOrder)
    }
}

/// The streamed `status` object tells of every node of `model` (the
/// states when the snapshot started): each in exactly one list, lists
/// sorted, `nodes` the same names (sorted, once each) with the state of
/// their list, which is the model's.
pub(crate) fn check_status(text: &[u8], model: &BTreeMap<String, State>) {
    let status: Status = serde_json::from_slice(text).unwrap_or_else(|e| {
        panic!(
            "not a status object ({e}): {}",
            String::from_utf8_lossy(text)
        )
    });
    assert_eq!(status.kind, "status");
    let lists = [
        ("up", &status.up),
        ("degraded", &status.degraded),
        ("suspect", &status.suspect),
        ("down", &status.down),
        ("pending", &status.pending),
        ("left", &status.left),
        ("away", &status.away),
        ("ok", &status.ok),
        ("running", &status.running),
        ("failed", &status.failed),
        ("late", &status.late),
    ];
    let mut listed = BTreeMap::new();
    // The list each node is in: its entry in `nodes` says the same.
    let mut list_of = BTreeMap::new();
    for (list, names) in lists {
        assert!(
            names.windows(2).all(|w| w[0] < w[1]),
            "{list} not sorted: {names:?}"
        );
        for name in names {
            let state = match list {
                "degraded" => "up",
                list => list,
            };
            assert!(
                listed.insert(name.as_str(), state).is_none(),
                "{name:?} in two lists"
            );
            list_of.insert(name.as_str(), list);
        }
    }
    let modelled = model
        .iter()
        .map(|(name, state)| (name.as_str(), state_name(*state)));
    assert!(
        listed.iter().map(|(n, s)| (*n, s.to_string())).eq(modelled),
        "the lists {listed:?} and the events' states {model:?} differ"
    );
    let nodes = &status.nodes.0;
    assert!(
        nodes
            .iter()
            .map(|(n, _)| n.as_str())
            .eq(listed.keys().copied()),
        "nodes {:?} and the lists differ",
        nodes.iter().map(|(n, _)| n).collect::<Vec<_>>()
    );
    for (name, view) in nodes {
        assert_eq!(view["state"], list_of[name.as_str()], "{name:?}: {view}");
    }
}

/// A state as a `status` object names it.
fn state_name(state: State) -> String {
    match serde_json::to_value(state) {
        Ok(serde_json::Value::String(name)) => name,
        other => panic!("{state:?} serialized as {other:?}"),
    }
}
