use super::*;

#[test]
fn a_window_fills_as_probes_go_and_empties_as_they_are_answered() {
    let start = Instant::now();
    let mut window = Window::new(start);
    assert_eq!(window.room(), IN_FLIGHT);
    let sent = start + Duration::from_millis(1);
    window.sent(IN_FLIGHT);
    assert_eq!(window.room(), 0);
    window.answered(sent);
    assert_eq!((window.in_flight(), window.room()), (IN_FLIGHT - 1, 1));
    // More answers than probes counted (a duplicate that slipped by) never
    // make room beyond the window.
    for _ in 0..2 * IN_FLIGHT {
        window.answered(sent);
    }
    assert_eq!(window.room(), IN_FLIGHT);
}

#[test]
fn probes_taken_for_lost_no_longer_count_even_when_answered_late() {
    let start = Instant::now();
    let mut window = Window::new(start);
    window.sent(IN_FLIGHT);
    let early = start + Duration::from_millis(1);
    let restart = start + PACE_WAIT + Duration::from_millis(1);
    window.restart(restart);
    assert_eq!(window.room(), IN_FLIGHT);
    window.sent(10);
    // A late answer to a probe of the old count leaves the new one alone.
    window.answered(early);
    assert_eq!(window.in_flight(), 10);
    window.answered(restart + Duration::from_millis(1));
    assert_eq!(window.in_flight(), 9);
}

#[test]
fn the_pacing_allowance_is_one_wait_per_batch_after_the_first_window() {
    assert_eq!(pacing_allowance(0), Duration::ZERO);
    assert_eq!(pacing_allowance(IN_FLIGHT), Duration::ZERO);
    assert_eq!(pacing_allowance(IN_FLIGHT + 1), PACE_WAIT);
    assert_eq!(pacing_allowance(IN_FLIGHT + SEND_BATCH), PACE_WAIT);
    assert_eq!(pacing_allowance(IN_FLIGHT + SEND_BATCH + 1), 2 * PACE_WAIT);
}
