#![no_main]
//! Any bytes as a target file (`hb-poll -f FILE`: `cli::read_list`, then
//! `pull::probe::Target::parse` on each entry): reading never panics and
//! fails only on text that is not UTF-8; entries come with increasing line
//! numbers within the file, trimmed, never empty and without a `#`
//! comment; each entry either is refused or becomes a target named as
//! written whose address parses on its own.

use std::sync::OnceLock;

use hb::cli::read_list;
use hb::net::HostPort;
use hb::pull::probe::{Check, Target};
use hb_fuzz::Scratch;
use libfuzzer_sys::fuzz_target;

/// One file per fuzzing process, rewritten for each input.
fn file() -> &'static Scratch {
    static FILE: OnceLock<Scratch> = OnceLock::new();
    FILE.get_or_init(Scratch::create)
}

fuzz_target!(|data: &[u8]| {
    file().write(data);
    let read = read_list(file().path());
    let Ok(text) = std::str::from_utf8(data) else {
        assert!(read.is_err(), "not UTF-8, yet read");
        return;
    };
    let entries = read.expect("a UTF-8 file reads");
    let lines = text.lines().count();
    let mut previous = 0;
    for (line, entry) in entries.entries() {
        assert!(
            line > previous && line <= lines,
            "line {line} after {previous} of {lines}"
        );
        previous = line;
        assert!(!entry.is_empty() && !entry.contains('#'), "{entry:?}");
        assert_eq!(entry.trim(), entry, "untrimmed");
        let Ok(target) = Target::parse(entry) else {
            continue;
        };
        assert_eq!(target.name, entry);
        match &target.check {
            Check::Tcp(hp) => {
                let rest = entry.strip_prefix("tcp://").expect("a tcp target says so");
                assert_eq!(rest.parse::<HostPort>().ok().as_ref(), Some(hp));
            }
            Check::Probe(hp) => {
                assert!(!entry.starts_with("tcp://"));
                assert_eq!(HostPort::parse(&entry, hp.port).ok().as_ref(), Some(hp));
            }
        }
    }
});
