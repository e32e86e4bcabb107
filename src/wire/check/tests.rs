use proptest::prelude::*;
use serde_json::value::RawValue;

use super::*;

fn strictly_read(text: &str) -> bool {
    serde_json::from_str::<StrictJson>(text).is_ok()
}

#[test]
fn health_as_senders_write_it_is_surely_strict() {
    let health = r#"{"cpu_pct":3.4,"mem_total":8000000000,"mem_avail":4000000000,"swap_used":0,"load1":0.25,"load5":0.5,"load15":1.0,"uptime_s":1234,"tags":["a",true,false,null],"deep":{"x":[{"y":-0.5}]}}"#;
    assert!(surely_strict(health));
    assert!(check_health(&RawValue::from_string(health.into()).unwrap()).is_ok());
}

#[test]
fn what_the_scan_cannot_vouch_for_is_read_strictly() {
    let deep = format!("{}{}", "[".repeat(130), "]".repeat(130));
    let long = format!("{{\"n\":{}}}", "9".repeat(400));
    for (text, strict) in [
        (r#"{"n":1e400}"#, false),
        (r#"{"n":1E5}"#, true),
        (r#"{"n":2.5e-3}"#, true),
        (r#"{"s":"\ud800"}"#, false),
        (r#"{"s":"\u00e9"}"#, true),
        (r#"{"s":"a\"b"}"#, true),
        (&format!("{{\"d\":{deep}}}"), false),
        (&long, false),
    ] {
        assert!(!surely_strict(text), "{text}");
        assert_eq!(strictly_read(text), strict, "{text}");
        let raw = RawValue::from_string(text.to_owned()).unwrap();
        assert_eq!(check_health(&raw).is_ok(), strict, "{text}");
    }
}

#[test]
fn names_ascii_or_not_are_checked_alike() {
    for (name, ok) in [
        ("node-000123.example.internal", true),
        ("a\tb", false),
        ("a\u{7f}", false),
        (" a", false),
        ("a ", false),
        ("knoten-ä", true),
        ("web-1\u{200b}", false),
        ("a\u{85}b", false),
    ] {
        assert_eq!(check_node(name).is_ok(), ok, "{name:?}");
    }
}

proptest! {
    /// The scan never vouches for what a strict reader refuses.
    #[test]
    fn the_scan_never_vouches_for_what_a_strict_reader_refuses(
        text in r#"\{("[a-z\\"]{0,4}":(-?[0-9]{1,4}(\.[0-9]{1,3})?([eE][+-]?[0-9]{1,4})?|"[a-z\\u0-9d]{0,8}"|true|null|\[[0-9e,\[\]]{0,6}\]|\{\}),?){0,4}\}"#
    ) {
        if serde_json::from_str::<&RawValue>(&text).is_ok() && surely_strict(&text) {
            prop_assert!(strictly_read(&text), "{}", text);
        }
    }

    /// Long digit runs and deep nesting near the limits.
    #[test]
    fn limits_are_left_to_the_strict_reading(digits in 250usize..400, depth in 100usize..140) {
        let number = format!("{{\"n\":{}}}", "9".repeat(digits));
        if surely_strict(&number) {
            prop_assert!(strictly_read(&number));
        }
        let nested = format!("{{\"d\":{}{}}}", "[".repeat(depth), "]".repeat(depth));
        if surely_strict(&nested) {
            prop_assert!(strictly_read(&nested));
        }
    }
}
