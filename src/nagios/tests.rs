use super::*;
use proptest::prelude::*;

fn range(text: &str) -> Range {
    text.parse().unwrap()
}

#[test]
fn range_semantics() {
    let (inf, nan) = (f64::INFINITY, f64::NAN);
    #[rustfmt::skip]
    let table: &[(&str, &[(f64, bool)])] = &[
        ("10", &[(-1.0, true), (-0.0, false), (0.0, false), (10.0, false), (10.001, true)]),
        ("10:", &[(9.999, true), (10.0, false), (1e300, false), (inf, false), (-inf, true)]),
        ("~:10", &[(-inf, false), (-1e300, false), (10.0, false), (10.5, true), (nan, true)]),
        ("10:20", &[(9.9, true), (10.0, false), (15.0, false), (20.0, false), (20.1, true)]),
        ("@10:20", &[(9.9, false), (10.0, true), (15.0, true), (20.0, true), (20.1, false)]),
        ("@10", &[(-0.1, false), (0.0, true), (10.0, true), (10.1, false), (nan, false)]),
        ("@~:10", &[(-inf, true), (10.0, true), (10.1, false)]),
        ("@10:", &[(9.9, false), (10.0, true), (inf, true)]),
        ("~:", &[(-inf, false), (0.0, false), (inf, false), (nan, false)]),
        ("@~:", &[(-inf, true), (0.0, true), (inf, true), (nan, true)]),
        ("-5:5", &[(-5.1, true), (-5.0, false), (0.0, false), (5.0, false), (5.1, true)]),
        ("-2.5:-0.5", &[(-2.6, true), (-2.5, false), (-0.5, false), (-0.4, true)]),
        ("0", &[(0.0, false), (-0.0, false), (1e-9, true), (-1e-9, true)]),
        ("5:5", &[(4.9, true), (5.0, false), (5.1, true)]),
        (" 10 ", &[(10.0, false), (11.0, true)]),
    ];
    for (text, cases) in table {
        for &(value, alert) in *cases {
            assert_eq!(range(text).alerts(value), alert, "{text:?} at {value}");
        }
    }
}

#[test]
fn range_errors_name_the_text() {
    for bad in [
        "", " ", "abc", "@", "~", "20:10", "@20:10", "-5", "10:20:30", ":10", "10:~", "1 0",
        "10: 20", "@@10", "nan", "inf", "1:inf", "10,20",
    ] {
        let err = bad.parse::<Range>().expect_err(bad);
        assert!(err.to_string().contains(&format!("{bad:?}")), "{err}");
    }
    let err = "20:10".parse::<Range>().unwrap_err();
    assert_eq!(err, RangeError::StartAfterEnd("20:10".into()));
}

#[test]
fn range_display_is_canonical() {
    #[rustfmt::skip]
    let cases = [
        ("10", "10"), ("0:10", "10"), ("10:", "10:"), ("0:", "0:"), ("~:10", "~:10"),
        ("~:", "~:"), ("@~:", "@~:"), ("10:20", "10:20"), ("@0:20", "@20"), ("-5:5", "-5:5"),
        ("1.50:2.0", "1.5:2"), ("-0:0", "0"), ("1e3", "1000"), (" @10:20\n", "@10:20"),
    ];
    for (text, canonical) in cases {
        assert_eq!(range(text).to_string(), canonical, "{text:?}");
    }
}

fn finite() -> impl Strategy<Value = f64> {
    use proptest::num::f64::{NEGATIVE, NORMAL, POSITIVE, SUBNORMAL, ZERO};
    let cents = (-10_000i32..10_000).prop_map(|n| f64::from(n) / 100.0);
    prop_oneof![cents, POSITIVE | NEGATIVE | NORMAL | SUBNORMAL | ZERO]
}

fn any_range() -> impl Strategy<Value = Range> {
    let bounds = (finite(), finite(), any::<[bool; 2]>());
    (bounds, any::<bool>()).prop_map(|((a, b, [low, high]), inside)| Range {
        start: low.then_some(a.min(b)),
        end: high.then_some(a.max(b)),
        inside,
    })
}

proptest! {
    #[test]
    fn range_display_round_trips(r in any_range()) {
        let text = r.to_string();
        // Plain decimals only: no exponent, `inf` or `NaN` in the output.
        prop_assert!(text.chars().all(|c| "@~:-.0123456789".contains(c)), "{}", text);
        prop_assert_eq!(text.parse::<Range>(), Ok(r));
    }

    #[test]
    fn at_sign_inverts_alerts(r in any_range(), value in finite()) {
        let flipped = Range { inside: !r.inside, ..r };
        prop_assert_ne!(r.alerts(value), flipped.alerts(value));
    }
}

#[test]
fn state_codes_and_names() {
    use State::*;
    let names = ["OK", "WARNING", "CRITICAL", "UNKNOWN"];
    for (code, state) in (0..).zip([Ok, Warning, Critical, Unknown]) {
        let name = names[usize::from(code)];
        let got = (state.code(), state.as_str(), state.to_string());
        assert_eq!(got, (code, name, name.into()));
    }
}

#[test]
fn worst_follows_max_state_alt() {
    use State::*;
    let ascending = [Ok, Unknown, Warning, Critical];
    for (i, &a) in ascending.iter().enumerate() {
        for (j, &b) in ascending.iter().enumerate() {
            assert_eq!(a.worst(b), ascending[i.max(j)], "{a} vs {b}");
        }
    }
}

/// `""` stands for an absent range.
fn opt(text: &str) -> Option<Range> {
    (!text.is_empty()).then(|| range(text))
}

#[test]
fn thresholds_check_critical_first() {
    use State::*;
    let mut t = Thresholds::default();
    assert_eq!(t.state(1e9), Ok);
    t.warning = opt("@0");
    assert_eq!((t.state(0.0), t.state(1.0)), (Warning, Ok));
    (t.warning, t.critical) = (opt("10"), opt("20"));
    let states = [-1.0, 0.0, 10.0, 15.0, 20.0, 21.0].map(|v| t.state(v));
    assert_eq!(states, [Critical, Ok, Ok, Warning, Warning, Critical]);
}

type Bounds = (Option<f64>, Option<f64>);

fn perf(label: &str, value: f64, uom: &'static str, wc: [&str; 2], mm: Bounds) -> String {
    let ([warn, crit], (min, max)) = (wc.map(opt), mm);
    #[rustfmt::skip]
    let datum = PerfDatum { label: label.into(), value, uom, warn, crit, min, max };
    datum.to_string()
}

#[test]
fn perfdata_formatting() {
    let (none, of3, from0) = ((None, None), (Some(0.0), Some(3.0)), (Some(0.0), None));
    #[rustfmt::skip]
    let cases = [
        // What hb-poll prints for up, down and rtt_max.
        (perf("up", 3.0, "", ["", ""], of3), "up=3;;;0;3"),
        (perf("down", 0.0, "", ["", "0"], of3), "down=0;;0;0;3"),
        (perf("rtt_max", 0.0004, "s", ["0.5", "1"], from0), "rtt_max=0.0004s;0.5;1;0;"),
        // Trailing fields, number edge cases, quoting.
        (perf("plain", 1.5, "%", ["", ""], none), "plain=1.5%"),
        (perf("w", 2.0, "", ["@10:20", ""], none), "w=2;@10:20"),
        (perf("c", 2.0, "", ["", "~:"], none), "c=2;;~:"),
        (perf("m", -0.0, "B", ["", ""], (None, Some(9.0))), "m=0B;;;;9"),
        (perf("n", f64::NAN, "s", ["", ""], (Some(f64::INFINITY), None)), "n=U"),
        (perf("big", 1e21, "c", ["", ""], none), "big=1000000000000000000000c"),
        (perf("rtt max", 1.0, "ms", ["", ""], none), "'rtt max'=1ms"),
        (perf("it's", 1.0, "", ["", ""], none), "'it''s'=1"),
        (perf("a=b", 1.0, "", ["", ""], none), "'a=b'=1"),
        (perf("tab\there", 1.0, "", ["", ""], none), "'tab\there'=1"),
    ];
    for (got, expected) in cases {
        assert_eq!(got, expected);
    }
}
