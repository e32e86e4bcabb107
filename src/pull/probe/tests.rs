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
