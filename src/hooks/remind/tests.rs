use crate::clock::Moment;
use proptest::prelude::*;

use super::*;

const ADDR: &str = "10.0.0.1:26722";

fn web_addr() -> Option<SocketAddr> {
    Some(ADDR.parse().unwrap())
}

fn down_ms(r: &Reminder) -> (String, u64, u64) {
    let Reminder::StillDown {
        node,
        down_ms,
        reminder,
        ..
    } = r;
    (node.clone(), *down_ms, *reminder)
}

#[test]
fn a_down_node_is_reminded_of_at_each_period_until_it_is_up() {
    let mut r = Reminders::new(1000);
    r.observe("down", "a", web_addr(), Moment::new(500, 10_500));
    assert_eq!(r.next_wake(), Some(1500));
    assert!(r.due(1499).is_empty());
    let first = r.due(1500);
    assert_eq!(
        first.iter().map(down_ms).collect::<Vec<_>>(),
        [("a".into(), 1000, 1)]
    );
    let Reminder::StillDown {
        since,
        since_ms,
        addr,
        state,
        ..
    } = &first[0];
    assert_eq!((*since_ms, *state), (10_500, "down"));
    assert_eq!(since, "1970-01-01T00:00:10.500Z");
    assert_eq!(addr.unwrap().to_string(), ADDR);
    assert_eq!(r.next_wake(), Some(2500));
    assert_eq!(
        r.due(2600).iter().map(down_ms).collect::<Vec<_>>(),
        [("a".into(), 2100, 2)]
    );
    r.observe("up", "a", web_addr(), Moment::new(2700, 12_700));
    assert_eq!(r.next_wake(), None);
    assert!(r.due(10_000).is_empty());
}

#[test]
fn a_second_down_keeps_the_first_start_and_left_or_forgotten_end_it() {
    let mut r = Reminders::new(100);
    r.observe("down", "a", web_addr(), Moment::new(0, 0));
    r.observe("down", "a", web_addr(), Moment::new(50, 50));
    assert_eq!(
        r.due(100).iter().map(down_ms).collect::<Vec<_>>(),
        [("a".into(), 100, 1)]
    );
    r.observe("down", "b", web_addr(), Moment::new(0, 0));
    r.observe("left", "a", web_addr(), Moment::new(150, 150));
    r.observe("forgotten", "b", web_addr(), Moment::new(150, 150));
    assert_eq!(r.next_wake(), None);
}

#[test]
fn after_a_stall_a_node_is_reminded_of_once() {
    let mut r = Reminders::new(100);
    r.observe("down", "a", web_addr(), Moment::new(0, 0));
    assert_eq!(r.due(1050).len(), 1);
    assert_eq!(r.next_wake(), Some(1150));
}

#[test]
fn only_the_lines_that_start_or_end_a_reminder_matter() {
    let r = Reminders::new(100);
    for kind in ["down", "up", "left", "forgotten"] {
        assert!(r.cares(kind), "{kind}");
    }
    for kind in ["beat", "suspect", "health", "still-down", "restart"] {
        assert!(!r.cares(kind), "{kind}");
    }
}

proptest! {
    /// Whenever the loop looks, a node down at `start` is reminded of at
    /// most once per look, its n-th reminder never before n periods, and
    /// never again once it is up.
    #[test]
    fn reminders_keep_their_period(
        start in 0u64..10_000,
        every in 1u64..5_000,
        looks in proptest::collection::vec(0u64..3_000, 1..40),
        up_after in 0usize..40,
    ) {
        let mut r = Reminders::new(every);
        r.observe("down", "a", web_addr(), Moment::new(start, start));
        let mut now = start;
        let mut last: Option<u64> = None;
        for (i, step) in looks.iter().enumerate() {
            now += step;
            if i == up_after {
                r.observe("up", "a", web_addr(), Moment::new(now, now));
            }
            let due = r.due(now);
            prop_assert!(due.len() <= 1);
            if let Some(reminder) = due.first() {
                prop_assert!(i < up_after);
                let (_, down_ms, n) = down_ms(reminder);
                prop_assert_eq!(down_ms, now - start);
                // The n-th reminder: n periods after the start at the earliest.
                prop_assert!(down_ms >= every * n);
                prop_assert_eq!(n, last.map_or(1, |m| m + 1));
                last = Some(n);
            }
        }
    }
}
