use super::*;

#[test]
fn a_stall_is_said_once_a_second_at_most_and_counted_always() {
    let mut w = SelfWatch::default();
    let mut out = Vec::new();
    w.waiting(0, 100, 50, &mut out);
    assert_eq!(w.back(2100, 50, &mut out), Some(2000));
    w.waiting(2100, 100, 50, &mut out);
    assert_eq!(w.back(2500, 50, &mut out), Some(300));
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!(out[0].stall_ms, Some(2000));
    let status = w.status();
    assert_eq!((status.stalls, status.stalled_ms), (2, 2300));
}

#[test]
fn an_overload_starts_with_the_first_drop_and_ends_after_a_calm_second() {
    let mut w = SelfWatch::default();
    let mut out = Vec::new();
    assert!(!w.drops(0, None, &mut out), "a kernel that does not say");
    assert!(!w.drops(0, Some(0), &mut out));
    assert!(w.drops(100, Some(40), &mut out));
    assert!(w.drops(300, Some(50), &mut out));
    assert_eq!(w.status().state, "overloaded");
    w.tick(1299, &mut out);
    w.tick(1300, &mut out);
    let states: Vec<_> = out.iter().map(|e| (e.state, e.dropped)).collect();
    assert_eq!(states, [("overloaded", Some(40)), ("ok", Some(50))]);
    assert_eq!(w.status().state, "ok");
    assert_eq!(w.status().dropped, 50);
    assert_eq!(w.next_wake(), None);
}

#[test]
fn the_tolerance_is_a_quarter_of_the_shortest_interval() {
    assert_eq!(stall_tolerance(None), crate::clock::MIN_STALL_MS);
    assert_eq!(stall_tolerance(Some(100)), 25);
    assert_eq!(stall_tolerance(Some(4000)), 1000);
}

#[test]
fn a_full_table_is_said_once_a_minute_with_the_names_refused_since() {
    let mut w = SelfWatch::default();
    let mut out = Vec::new();
    for now in [0, 10, 59_999] {
        w.table_full(now, &mut out);
    }
    w.table_full(60_000, &mut out);
    let said: Vec<_> = out.iter().map(|l| (l.state, l.refused)).collect();
    assert_eq!(said, [("full", Some(1)), ("full", Some(3))]);
}
