use super::*;
use proptest::prelude::*;

#[test]
fn a_cadence_stays_on_the_grid_and_skips_what_a_stall_overran() {
    let mut c = Cadence::new(0, 100);
    assert_eq!(c.due(), 0);
    c.advance(3); // served a little late: the next slot is still on the grid
    assert_eq!(c.due(), 100);
    c.advance(100);
    assert_eq!(c.due(), 200);
    c.advance(1234); // a stall: slots 3 to 12 passed
    assert_eq!(c.due(), 1300);
}

#[test]
fn a_slow_send_does_not_push_the_next_beat_back() {
    let mut c = Cadence::new(0, 100);
    c.advance(30);
    assert_eq!(c.due(), 100);
    // Exactly on a slot boundary after a stall: that slot was just used.
    let mut c = Cadence::new(0, 100);
    c.advance(1400);
    assert_eq!(c.due(), 1500);
}

#[test]
fn a_cadence_can_start_one_interval_in() {
    let mut c = Cadence::new(5000 + 1000, 1000);
    assert_eq!(c.due(), 6000);
    c.advance(6000);
    assert_eq!(c.due(), 7000);
    c.advance(9500);
    assert_eq!(c.due(), 10_000);
}

proptest! {
    #[test]
    fn the_next_slot_is_after_now_and_on_the_grid(
        first in 0u64..10_000, every in 1u64..5000, late in 0u64..100_000,
    ) {
        let mut c = Cadence::new(first, every);
        let now = first + late;
        c.advance(now);
        prop_assert!(c.due() > now);
        prop_assert_eq!((c.due() - first) % every, 0);
        prop_assert!(c.due() - now <= every);
    }
}

#[test]
fn a_loop_back_late_by_more_than_the_tolerance_stalled() {
    let mut watch = StallWatch::default();
    assert_eq!(
        watch.back(1000, 0),
        None,
        "never waited: nothing to compare"
    );
    assert_eq!(
        watch.waiting(0, 250, 100),
        None,
        "working since 1000: in the future"
    );
    assert_eq!(watch.back(260, 100), None, "10 ms late: noise");
    watch.waiting(260, 250, 100);
    assert_eq!(watch.back(2510, 100), Some(2000), "a 2 s stop");
    watch.waiting(0, 100, 10);
    assert_eq!(watch.back(140, 10), None, "never less than MIN_STALL_MS");
    watch.waiting(0, 100, 10);
    assert_eq!(watch.back(40, 10), None, "back early: data came");
}

/// Time spent working counts only when the loop was not running: a stop
/// between coming back and waiting again is a stall, work is not.
#[test]
fn a_stop_while_working_is_a_stall_and_work_is_not() {
    let mut watch = StallWatch::default();
    watch.waiting(0, 10, 10);
    watch.back(5, 10);
    // 3 s of wall time with almost no CPU used by this thread: a stop.
    let stall = watch.waiting(3005, 10, 10).expect("a stall");
    assert!(stall >= 2900, "{stall}");
    // Real work: CPU time counts as running. On a loaded machine the
    // thread also waits for a CPU, and that part is a stall: the watch
    // says what the wall clock shows beyond the CPU time, no more.
    watch.back(3010, 10);
    let started = std::time::Instant::now();
    let cpu_started = thread_cpu();
    while thread_cpu() - cpu_started < Duration::from_millis(120) {
        std::hint::black_box(0u64.wrapping_add(1));
    }
    let wall = started.elapsed().as_millis() as Millis;
    let starved = wall.saturating_sub(120);
    match watch.waiting(3010 + wall, 10, 10) {
        None => assert!(starved <= MIN_STALL_MS + 5, "{wall} ms for 120 ms of CPU"),
        Some(stall) => assert!(stall.abs_diff(starved) <= 10, "{stall} vs {starved}"),
    }
}
