use super::{Endpoint, Outage};
use std::io;

#[test]
fn failing_sends_are_reported_at_most_once_a_minute() {
    let target = Endpoint {
        name: "t".into(),
        addr: "127.0.0.1:9".parse().unwrap(),
    };
    let e = io::Error::from(io::ErrorKind::PermissionDenied);
    let mut o = Outage::default();
    o.failed(&target, &e);
    assert!(o.warned && o.last_warning.is_some());
    o.failed(&target, &e);
    o.sent("t");
    assert!(!o.failing && !o.warned);
    // A new outage within the minute: counted, not printed.
    o.failed(&target, &e);
    assert!(o.failing && !o.warned);
    assert_eq!(o.unreported, 2);
}
