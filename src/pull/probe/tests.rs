use super::*;

#[test]
fn counts_are_said_in_words() {
    assert_eq!(counted(1, "probe"), "1 probe");
    assert_eq!(counted(3, "probe"), "3 probes");
    assert_eq!(counted(0, "relay"), "0 relays");
}

/// With --every and no timeout, a round of every attempt fits in the
/// interval; without --every, or set by hand, the timeout is as given.
#[test]
fn a_rounds_attempts_share_the_interval() {
    let second = Duration::from_secs(1);
    let fitted = |retries, relays, every| fitted_timeout(second, retries, relays, every);
    assert_eq!(fitted(2, false, None), second);
    assert_eq!(
        fitted(2, false, Some(second)),
        Duration::from_nanos(333_333_333)
    );
    assert_eq!(fitted(2, true, Some(second)), Duration::from_millis(200));
    assert_eq!(fitted(0, false, Some(Duration::from_secs(60))), second);
    assert_eq!(
        fitted(100, true, Some(Duration::from_millis(10))),
        Duration::from_millis(1)
    );
}
