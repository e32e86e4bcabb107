use super::*;

#[test]
fn targets_parse() {
    assert_eq!(
        Target::parse("web-1").unwrap().check,
        Check::Probe(HostPort::parse("web-1", 26723).unwrap())
    );
    assert!(matches!(
        Target::parse("tcp://db:5432").unwrap().check,
        Check::Tcp(_)
    ));
    assert!(Target::parse("tcp://db").is_err(), "tcp needs a port");
}

#[test]
fn a_target_named_twice_is_polled_once() {
    let named = ["web-1", "db-1", "web-1:26723", "web-1", "tcp://web-1:26723"]
        .map(|t| Target::parse(t).unwrap());
    let kept: Vec<String> = distinct(named.to_vec())
        .into_iter()
        .map(|t| t.name)
        .collect();
    // A TCP check of the same address is another check.
    assert_eq!(kept, ["web-1", "db-1", "tcp://web-1:26723"]);
}

#[test]
fn counts_are_said_in_words() {
    assert_eq!(counted(1, "probe"), "1 probe");
    assert_eq!(counted(3, "probe"), "3 probes");
    assert_eq!(counted(0, "relay"), "0 relays");
}
