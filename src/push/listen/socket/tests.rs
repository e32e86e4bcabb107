use super::*;
use crate::clock::Moment;

#[test]
fn a_datagram_counts_when_the_kernel_received_it() {
    let wall = 1_795_000_010_000;
    let ns = |ms: u64| Some(ms * 1_000_000);
    // Received 2 s before it was read: judged 2 s back.
    assert_eq!(
        arrival(ns(wall - 2000), Moment::new(5000, wall), None),
        3000
    );
    // Never before the one before it, never after now.
    assert_eq!(
        arrival(ns(wall - 2000), Moment::new(5000, wall), Some(3500)),
        3500
    );
    assert_eq!(
        arrival(ns(wall + 9000), Moment::new(5000, wall), None),
        5000
    );
    // No stamp: now.
    assert_eq!(arrival(None, Moment::new(5000, wall), Some(4000)), 5000);
    // A stamp older than the clock itself: the start.
    assert_eq!(arrival(ns(wall - 9000), Moment::new(5000, wall), None), 0);
}
