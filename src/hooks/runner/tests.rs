use super::*;

fn job(node: &str, expected: bool) -> Job {
    Job {
        command: Arc::from("true"),
        kind: "down".into(),
        node: node.into(),
        expected,
        addr: None,
        ts_ms: 7,
        line: Arc::from(&b"{}\n"[..]),
    }
}

fn taken(queue: &mut Queue) -> Vec<String> {
    std::iter::from_fn(|| queue.next().map(|j| j.node)).collect()
}

#[test]
fn a_full_queue_makes_room_for_an_expected_node_only_by_dropping_the_newest_other() {
    let mut queue = Queue::default();
    for i in 0..QUEUE {
        queue.waiting.push_back(job(&format!("forged-{i}"), i == 0));
    }
    assert!(!queue.make_room(false));
    assert!(queue.make_room(true));
    assert_eq!(queue.waiting.len(), QUEUE - 1);
    let newest = format!("forged-{}", QUEUE - 1);
    assert_eq!(queue.dropped_of.nodes, [newest]);
    assert_eq!(queue.dropped, 1);
    // A queue full of expected nodes' lines has no room for more.
    let mut queue = Queue::default();
    queue
        .waiting
        .extend((0..QUEUE).map(|i| job(&format!("real-{i}"), true)));
    assert!(!queue.make_room(true));
}

#[test]
fn workers_take_expected_nodes_first_and_each_nodes_lines_in_order() {
    let mut queue = Queue::default();
    // `x` became expected between its two lines (a reload).
    for (node, expected) in [("u1", false), ("x", false), ("e", true), ("x", true)] {
        queue.waiting.push_back(job(node, expected));
    }
    assert_eq!(taken(&mut queue), ["e", "u1", "x", "x"]);
    // A node whose hook runs waits, expected or not.
    queue.waiting.push_back(job("u2", false));
    queue.waiting.push_back(job("e", true));
    queue.busy.insert("e".into());
    assert_eq!(taken(&mut queue), ["u2"]);
    assert_eq!(queue.waiting.len(), 1);
}

#[test]
fn an_overflow_names_its_first_nodes_and_counts_the_rest() {
    let mut queue = Queue::default();
    for i in 0..OVERFLOW_NAMES + 5 {
        queue.drop_job(&format!("n{i}"));
        queue.drop_job("n0");
    }
    assert_eq!(queue.dropped, 2 * (OVERFLOW_NAMES as u64 + 5));
    let names: Vec<String> = (0..OVERFLOW_NAMES).map(|i| format!("n{i}")).collect();
    assert_eq!(queue.dropped_of.nodes, names);
    // Five lines about unlisted nodes; the repeats of n0 are n0's.
    assert_eq!(queue.dropped_of.unlisted, 5);
}
