use crate::clock::Millis;
use crate::detector::tests::{beat, Sim};

/// Runs `sim` to `t`, forgetting what is due on the way, as the listener
/// does after each turn's verdicts.
fn advance_forgetting(sim: &mut Sim, t: Millis) {
    sim.advance(t);
    let mut out = Vec::new();
    sim.det.forget_due(t, &mut out);
    sim.record(out);
}

#[test]
fn a_node_down_for_forget_after_is_forgotten_and_comes_back_new() {
    let mut sim = Sim::new(2);
    sim.det.forget_after(1000);
    for (i, name) in ["a", "b", "c"].into_iter().enumerate() {
        sim.beat(0, beat(name, "x", 1, 100 * (i as u64 + 1)));
    }
    sim.det.expect("c").unwrap();
    // a is down at 200, b at 400, c (expected) at 600.
    advance_forgetting(&mut sim, 1100);
    assert!(
        sim.log.iter().all(|(_, k, _)| *k != "forgotten"),
        "{:?}",
        sim.log
    );
    advance_forgetting(&mut sim, 1200);
    let forgotten: Vec<_> = sim
        .log
        .iter()
        .filter(|(_, k, _)| *k == "forgotten")
        .collect();
    assert_eq!(forgotten, vec![&(1200, "forgotten", "a".to_owned())]);
    assert_eq!(sim.det.len(), 2);
    advance_forgetting(&mut sim, 10_000);
    let names: Vec<_> = sim.det.states().map(|(n, _)| n.to_owned()).collect();
    assert_eq!(names, vec!["c"], "expected nodes are never forgotten");
    assert_eq!(sim.det.removals(), 2);
    // A forgotten node that beats again is a new node.
    sim.beat(10_000, beat("a", "x", 2, 100));
    assert_eq!(sim.last[0].kind(), "up");
    assert_eq!(sim.det.snapshot(10_000).up, vec!["a"]);
}

#[test]
fn a_node_back_before_its_time_is_not_forgotten() {
    let mut sim = Sim::new(2);
    sim.det.forget_after(1000);
    sim.beat(0, beat("a", "x", 1, 100));
    sim.advance(900);
    sim.beat(900, beat("a", "x", 2, 100));
    advance_forgetting(&mut sim, 1250);
    assert_eq!(sim.det.len(), 1, "{:?}", sim.log);
}

/// Removals move nodes in the table: the nodes moved still get their
/// verdicts at their own deadlines.
#[test]
fn nodes_moved_by_a_removal_keep_their_deadlines() {
    let mut sim = Sim::new(2);
    sim.det.forget_after(100);
    sim.beat(0, beat("short", "x", 1, 10));
    for i in 0..20 {
        sim.beat(0, beat(&format!("long-{i:02}"), "x", 1, 1000));
    }
    // short: down at 20, forgotten at 120; the last node moves into its place.
    advance_forgetting(&mut sim, 500);
    assert_eq!(sim.det.len(), 20);
    advance_forgetting(&mut sim, 1600);
    let suspects = sim
        .log
        .iter()
        .filter(|(t, k, _)| *k == "suspect" && *t == 1500)
        .count();
    assert_eq!(suspects, 20, "{:?}", sim.log);
    advance_forgetting(&mut sim, 2000);
    let downs = sim
        .log
        .iter()
        .filter(|(t, k, _)| *k == "down" && *t == 2000)
        .count();
    assert_eq!(downs, 20, "{:?}", sim.log);
}

/// A node removed at once (a poller's target taken out of its list) hands
/// its place to the last node; one that was waiting to be forgotten there
/// is still forgotten, and never reported down.
#[test]
fn a_node_waiting_to_be_forgotten_follows_its_move() {
    let mut sim = Sim::new(2);
    for name in ["first", "second", "last"] {
        sim.det.expect(name).unwrap();
    }
    sim.det.unexpect("last");
    let mut out = Vec::new();
    assert!(sim.det.forget("first", 0, &mut out));
    sim.det.forget_due(0, &mut out);
    let forgotten: Vec<_> = out.iter().map(|e| (e.kind(), e.node())).collect();
    assert_eq!(forgotten, [("forgotten", "first"), ("forgotten", "last")]);
    sim.advance(60_000);
    let names: Vec<_> = sim.det.states().map(|(n, _)| n.to_owned()).collect();
    assert_eq!(names, ["second"]);
    assert!(
        sim.log.iter().all(|(_, _, node)| node == "second"),
        "{:?}",
        sim.log
    );
    assert!(!sim.det.forget("first", 0, &mut out), "gone already");
}
