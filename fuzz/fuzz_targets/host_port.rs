#![no_main]
//! Any text as a `HOST[:PORT]` (`net::HostPort`, for `--to`, `--peer`,
//! `--via` and targets): parsing never panics; two default ports give the
//! same host; `FromStr` (no default: a port is required) accepts only a
//! text with a port in it, which no default changes; a parsed address
//! prints (`Display`) as a text that parses back to the same address; the
//! host is never empty and holds no white space or control character; and
//! a `tcp://` target needs an explicit port.

use hb::net::HostPort;
use hb::pull::probe::{Check, Target};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let with_default = HostPort::parse(text, 26723);
    let with_other = HostPort::parse(text, 1);
    assert_eq!(with_default.is_ok(), with_other.is_ok(), "{text:?}");
    if let Ok(hp) = &with_default {
        assert!(!hp.host.is_empty(), "{text:?}");
        let bad = |c: char| c.is_whitespace() || c.is_control();
        assert!(!hp.host.contains(bad), "{text:?} -> {:?}", hp.host);
        let other = with_other.as_ref().unwrap();
        assert_eq!(hp.host, other.host, "{text:?}");
        let shown = hp.to_string();
        assert_eq!(
            HostPort::parse(&shown, 9).ok().as_ref(),
            Some(hp),
            "{text:?} -> {shown}"
        );
        assert_eq!(
            shown.parse::<HostPort>().ok().as_ref(),
            Some(hp),
            "{text:?} -> {shown}"
        );
    }
    if let Ok(hp) = text.parse::<HostPort>() {
        // The port was in the text: no default changes it.
        assert_eq!(Some(&hp), with_default.as_ref().ok(), "{text:?}");
        assert_eq!(Some(&hp), with_other.as_ref().ok(), "{text:?}");
    }
    if let Ok(target) = Target::parse(text) {
        assert_eq!(target.name, text);
        assert_eq!(target.to_string(), text);
        let expected = match text.strip_prefix("tcp://") {
            Some(rest) => Check::Tcp(rest.parse().expect("a tcp target's address parses")),
            None => Check::Probe(with_default.expect("a probe target's address parses")),
        };
        assert_eq!(target.check, expected);
    }
});
