use super::*;
use crate::detector::State;

fn node(every_ms: Millis) -> Node {
    Node::new("a", State::Up, every_ms, 0)
}

#[test]
fn lost_seqs_are_counted_over_the_last_window() {
    let mut n = node(1000);
    assert_eq!(lost_before(&n), None, "no seq yet");
    note_seq(&mut n, Some(None));
    for step in [1, 1, 3, 1, 2] {
        note_seq(&mut n, Some(Some(step)));
    }
    assert_eq!(lost_before(&n), Some((3, 9)));
    assert_eq!(loss_before(&n), Some(0.33));
    for _ in 0..40 {
        note_seq(&mut n, Some(Some(1)));
    }
    assert_eq!(lost_before(&n), Some((0, u32::from(LOSS_WINDOW))));
    // A beat without seq forgets them.
    note_seq(&mut n, None);
    assert_eq!(lost_before(&n), None);
}

#[test]
fn the_longest_silence_it_came_back_from_only_grows() {
    let mut n = node(1000);
    note_came_back(&mut n, 2600);
    assert_eq!(survived_ms(&n), 2750, "in quarters, rounded up");
    note_came_back(&mut n, 1000);
    assert_eq!(survived_ms(&n), 2750);
    assert!(!pauses(&n));
}

#[test]
fn held_over_half_an_interval_is_a_pause() {
    let mut n = node(1000);
    note_held(&mut n, 500);
    assert!(!pauses(&n));
    note_held(&mut n, 501);
    assert!(pauses(&n));
    note_came_back(&mut n, 1000);
    assert!(pauses(&n), "for good");
}
