use super::*;

#[test]
fn a_window_fills_as_probes_go_and_empties_as_they_are_answered() {
    let mut window = Window::default();
    assert_eq!(window.room(), IN_FLIGHT);
    let epoch = window.epoch();
    for _ in 0..IN_FLIGHT {
        window.sent();
    }
    assert_eq!(window.room(), 0);
    window.answered(epoch);
    assert_eq!(window.room(), 1);
    // More answers than probes counted (a duplicate that slipped by) never
    // make room beyond the window.
    for _ in 0..2 * IN_FLIGHT {
        window.answered(epoch);
    }
    assert_eq!(window.room(), IN_FLIGHT);
}

#[test]
fn probes_taken_for_lost_no_longer_count_even_when_answered_late() {
    let mut window = Window::default();
    let lost = window.epoch();
    for _ in 0..IN_FLIGHT {
        window.sent();
    }
    window.restart();
    assert_eq!(window.room(), IN_FLIGHT);
    let now = window.epoch();
    assert_ne!(now, lost);
    for _ in 0..10 {
        window.sent();
    }
    // A late answer to a probe of the old count leaves the new one alone.
    window.answered(lost);
    assert_eq!(window.room(), IN_FLIGHT - 10);
    window.answered(now);
    assert_eq!(window.room(), IN_FLIGHT - 9);
}

#[test]
fn the_pacing_allowance_is_one_wait_per_batch_after_the_first_window() {
    assert_eq!(pacing_allowance(0), Duration::ZERO);
    assert_eq!(pacing_allowance(IN_FLIGHT), Duration::ZERO);
    assert_eq!(pacing_allowance(IN_FLIGHT + 1), PACE_WAIT);
    assert_eq!(pacing_allowance(IN_FLIGHT + SEND_BATCH), PACE_WAIT);
    assert_eq!(pacing_allowance(IN_FLIGHT + SEND_BATCH + 1), 2 * PACE_WAIT);
}
