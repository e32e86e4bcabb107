#![no_main]
//! Any text as a `-w`/`-c` argument: parsing never panics, a parsed range's
//! canonical text parses back to the same range, and `alerts` never panics.

use hb::nagios::Range;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(r) = text.parse::<Range>() else {
        return;
    };
    assert_eq!(r.to_string().parse::<Range>(), Ok(r), "{text:?} -> {r}");
    let (inf, nan) = (f64::INFINITY, f64::NAN);
    for x in [nan, inf, -inf, 0.0, -0.0, 1.0, -1.0, f64::MAX] {
        let _ = r.alerts(x);
    }
});
