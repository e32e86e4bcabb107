//! The GCC unwinder is linked into the tools (`build.rs`), not loaded as
//! libgcc_s: a probe's start-up is most of its cost, and libgcc_s's asks
//! the CPU what it can do, which a virtual machine's hypervisor answers.
//! Panics, a panicking thread's join and backtraces must work as before.

use std::process::Command;

use crate::harness::bin;

#[test]
fn the_tools_start_without_loading_libgcc_s() {
    for tool in ["hb-send", "hb-listen", "hb-ack", "hb-poll"] {
        let loaded = Command::new("ldd").arg(bin(tool)).output().unwrap();
        assert!(loaded.status.success(), "ldd {tool}");
        let loaded = String::from_utf8_lossy(&loaded.stdout);
        assert!(loaded.contains("libc.so"), "{tool}: {loaded}");
        assert!(
            !loaded.contains("libgcc_s"),
            "{tool} loads libgcc_s: {loaded}"
        );
    }
}

#[test]
fn panics_unwind_and_backtraces_name_their_frames() {
    let caught = std::panic::catch_unwind(|| {
        let empty: Vec<u8> = Vec::new();
        empty[std::hint::black_box(1)]
    });
    assert!(caught.is_err());
    let joined = std::thread::spawn(|| panic!("a panicking thread")).join();
    assert!(joined.is_err());
    let trace = std::backtrace::Backtrace::force_capture().to_string();
    assert!(
        trace.contains("panics_unwind_and_backtraces_name_their_frames"),
        "{trace}"
    );
}
