//! How the tools are linked, where it differs from the default.

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let env = std::env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    if os == "linux" && env == "gnu" {
        // The GCC unwinder (panics, backtraces) linked in from its static
        // half, libgcc_eh, as `gcc -static-libgcc` links it: Rust's
        // standard library otherwise loads it as a shared library,
        // libgcc_s, and that library's start-up asks the CPU what it can
        // do, several times. In a virtual machine each asking traps to the
        // hypervisor (4 us each on the machine of docs/benchmarks.md), and
        // loading and starting libgcc_s was a tenth of the CPU of hb-poll
        // run as a Nagios probe, which cron and Nagios run every minute on
        // every monitored host. The unwinder's symbols are then defined
        // before libgcc_s is reached, and the linker (`--as-needed`) leaves
        // libgcc_s out. Not bundled into the library: the linker finds it
        // in the compiler's own directory.
        println!("cargo::rustc-link-lib=static:-bundle=gcc_eh");
    }
}
