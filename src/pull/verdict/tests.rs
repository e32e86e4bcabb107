use std::time::Duration;

use serde_json::value::RawValue;

use proptest::prelude::*;

use super::*;

fn up(name: &str, rtt_ms: u64, health: Option<&str>) -> Outcome {
    Outcome {
        target: name.into(),
        addr: None,
        node: Some(name.into()),
        boot: None,
        rtt: Some(Duration::from_millis(rtt_ms)),
        answered: Some(std::time::Instant::now()),
        attempts: 1,
        health: health.map(|h| RawValue::from_string(h.into()).unwrap()),
        error: None,
        via: None,
        checks: None,
    }
}

fn down(name: &str) -> Outcome {
    Outcome {
        rtt: None,
        answered: None,
        node: None,
        attempts: 3,
        error: Some("no reply".into()),
        ..up(name, 0, None)
    }
}

fn t(w: Option<&str>, c: Option<&str>) -> Thresholds {
    Thresholds {
        warning: w.map(|s| s.parse().unwrap()),
        critical: c.map(|s| s.parse().unwrap()),
    }
}

fn default_limits() -> Limits {
    Limits {
        down: t(None, Some("0")),
        ..Limits::default()
    }
}

#[test]
fn all_up_is_ok_with_full_perfdata() {
    let outs = [up("a", 0, None), up("b", 0, None), up("c", 0, None)];
    let limits = Limits {
        rtt: t(Some("0.5"), Some("1")),
        ..default_limits()
    };
    let v = judge(&outs, &limits);
    assert_eq!(v.state, State::Ok);
    assert_eq!(
        nagios_line(&v, &limits),
        "HB OK - 3/3 up | up=3;;;0;3 down=0;;0;0;3 rtt_max=0s;0.5;1;0;"
    );
}

#[test]
fn any_down_is_critical_by_default() {
    let outs = [up("a", 1, None), down("b")];
    let v = judge(&outs, &default_limits());
    assert_eq!(v.state, State::Critical);
    assert_eq!((v.up, v.down), (1, 1));
    assert_eq!(v.problems, vec!["b down (no reply)"]);
    assert!(nagios_line(&v, &default_limits())
        .starts_with("HB CRITICAL - 1/2 up: b down (no reply) | "));
}

#[test]
fn down_count_thresholds_can_make_it_a_warning() {
    let limits = Limits {
        down: t(Some("0"), Some("1")),
        ..Limits::default()
    };
    let v = judge(&[up("a", 1, None), up("b", 1, None), down("c")], &limits);
    assert_eq!(v.state, State::Warning, "one down of three: warning only");
    let v = judge(&[up("a", 1, None), down("b"), down("c")], &limits);
    assert_eq!(v.state, State::Critical);
}

#[test]
fn metrics_are_judged_per_reply() {
    let h = |cpu: f64| {
        format!(
            r#"{{"cpu_pct":{cpu},"mem_total":100,"mem_avail":10,"swap_used":0,"load1":0,"load5":0,"load15":0,"uptime_s":1}}"#
        )
    };
    let limits = Limits {
        cpu: t(Some("80"), Some("95")),
        mem: t(Some("95"), None),
        rtt: t(Some("0.5"), None),
        ..default_limits()
    };
    let outs = [up("a", 1, Some(&h(85.0))), up("b", 600, Some(&h(10.0)))];
    let v = judge(&outs, &limits);
    assert_eq!(v.state, State::Warning);
    assert_eq!(v.states, vec![State::Warning, State::Warning]);
    assert_eq!(v.cpu_max, Some(85.0));
    assert_eq!(v.mem_max, Some(90.0));
    assert!(
        v.problems.contains(&"a cpu 85%".to_owned()),
        "{:?}",
        v.problems
    );
    assert!(
        v.problems.contains(&"b rtt 0.6s".to_owned()),
        "{:?}",
        v.problems
    );
    let line = nagios_line(&v, &limits);
    assert!(
        line.ends_with("cpu_max=85%;80;95;0;100 mem_max=90%;95;;0;100"),
        "{line}"
    );
}

#[test]
fn missing_health_under_a_health_threshold_is_unknown() {
    let limits = Limits {
        cpu: t(None, Some("90")),
        ..default_limits()
    };
    let v = judge(&[up("a", 1, None)], &limits);
    assert_eq!(v.state, State::Unknown);
    assert_eq!(v.problems, vec!["a sent no cpu"]);
}

/// With nothing up there is no round trip: `rtt_max` is left out, never
/// `U`, which Icinga 2's perfdata parser refuses.
#[test]
fn nothing_up_leaves_rtt_out_of_the_perfdata() {
    let v = judge(&[down("a")], &default_limits());
    let line = nagios_line(&v, &default_limits());
    assert!(line.ends_with(" | up=0;;;0;1 down=1;;0;0;1"), "{line}");
}

/// A threshold judges the fields it needs only: a reply with `cpu_pct`
/// alone is judged on its CPU, and a missing field is named alone.
#[test]
fn thresholds_need_only_their_own_fields() {
    let limits = Limits {
        cpu: t(Some("80"), None),
        ..default_limits()
    };
    let v = judge(&[up("a", 1, Some(r#"{"cpu_pct":5}"#))], &limits);
    assert_eq!(v.state, State::Ok, "{:?}", v.problems);
    assert_eq!(v.cpu_max, Some(5.0));

    let limits = Limits {
        mem: t(Some("80"), None),
        ..default_limits()
    };
    let v = judge(&[up("a", 1, Some(r#"{"cpu_pct":5}"#))], &limits);
    assert_eq!(v.state, State::Unknown);
    assert_eq!(v.problems, vec!["a sent no mem"]);
    let v = judge(
        &[up("a", 1, Some(r#"{"mem_total":100,"mem_avail":50}"#))],
        &limits,
    );
    assert_eq!((v.state, v.mem_max), (State::Ok, Some(50.0)));
}

/// The figures are read as a whole object would give them: a name
/// written with escapes is still its name, the last of a name given twice
/// counts, other fields (of any shape) are skipped, white space between
/// tokens is no matter, and a figure of the wrong type is missing without
/// hiding the others.
#[test]
fn figures_are_read_from_their_fields_alone() {
    let read = |h: &str| figures(&RawValue::from_string(h.into()).unwrap());
    assert_eq!(
        read(r#"{"cpu_pct":12.5,"mem_total":200,"mem_avail":50,"load1":0.5}"#),
        (Some(12.5), Some(75.0))
    );
    assert_eq!(
        read(r#"{"cpu\u005fpct":1,"disks":[{"a":[1,{"b":null}]}],"cpu_pct":7,"x":"\"}"}"#),
        (Some(7.0), None)
    );
    assert_eq!(
        read(r#"{"cpu_pct":"high","mem_total":100,"mem_avail":25}"#),
        (None, Some(75.0))
    );
    assert_eq!(
        read(r#" { "mem_avail" : 1 , "cpu_pct" : [ ] , "mem_total" : 4 , "cpu_pct" : 2 } "#),
        (Some(2.0), Some(75.0))
    );
    assert_eq!(read(r#"{"mem_total":100}"#), (None, None));
    assert_eq!(read("[1,2]"), (None, None));
    // All three found, a later name still wins: as written, escaped, or
    // with the name in a value before it.
    let first = r#"{"cpu_pct":1,"mem_total":100,"mem_avail":50"#;
    for (rest, cpu) in [
        (r#","load1":2}"#, 1.0),
        (r#","cpu_pct":3}"#, 3.0),
        (r#","x":[1],"cpu_pct":4}"#, 4.0),
        (r#","note":"cpu_pct","cpu_pct":5}"#, 5.0),
    ] {
        assert_eq!(
            read(&format!("{first}{rest}")),
            (Some(cpu), Some(50.0)),
            "{rest}"
        );
    }
}

/// A figure's value is read as serde reads it: a number of any form JSON
/// writes, no other JSON value, and a number too large for a double is no
/// figure. (A figure is a JSON value trimmed of white space.)
#[test]
fn a_number_is_read_as_serde_reads_it() {
    for text in [
        "0",
        "-0",
        "7",
        "12.5",
        "-3.25",
        "1e3",
        "1E+3",
        "2.5e-3",
        "1e400",
        "-1e400",
        "1e-400",
        "123456789012345678901234567890",
        "0.1",
        "99.99999999999999999",
        "\"1\"",
        "true",
        "null",
        "[1]",
        "false",
        "{}",
        "\"inf\"",
    ] {
        let serde = serde_json::from_str::<f64>(text).ok();
        assert_eq!(number(text), serde, "{text:?}");
    }
}

/// The figures of health read whole by serde: what [`figures`] must give.
fn figures_of_whole(whole: &serde_json::Value) -> (Option<f64>, Option<f64>) {
    let get = |name: &str| whole.get(name);
    let cpu = get("cpu_pct").and_then(serde_json::Value::as_f64);
    let size = |name: &str| get(name).map(|v| v.as_u64().unwrap_or(0));
    let mem = match (size("mem_total"), size("mem_avail")) {
        (Some(total), Some(avail)) => mem_used_pct(total, avail),
        _ => None,
    };
    (cpu, mem)
}

proptest! {
    /// A number of any form JSON writes is read as serde reads it, to the
    /// last bits of the double: serde's reader (built without its exact
    /// option) rounds some long numbers a few units of the last place off,
    /// the standard library's exactly.
    #[test]
    fn numbers_are_read_as_serde_reads_them(
        text in r"-?(0|[1-9][0-9]{0,20})(\.[0-9]{1,20})?([eE][+-]?[0-9]{1,3})?"
    ) {
        let ours = number(&text);
        let serde = serde_json::from_str::<f64>(&text).ok();
        match (ours, serde) {
            (Some(a), Some(b)) => prop_assert!(
                a.to_bits().abs_diff(b.to_bits()) <= 8,
                "{}: {} against {}", text, a, b
            ),
            _ => prop_assert_eq!(ours, serde, "{}", text),
        }
    }

    /// Health in the form hb-ack writes it, figures first, gives the
    /// figures the whole object read by serde gives, whatever follows.
    #[test]
    fn figures_as_hb_ack_writes_them_are_those_of_the_whole_object(
        cpu in r"-?(0|[1-9][0-9]{0,3})(\.[0-9]{1,3})?([eE][+-]?[0-9])?",
        total in r"0|[1-9][0-9]{0,12}",
        avail in r"0|[1-9][0-9]{0,12}",
        rest in r#"(,("load1"|"cpu_pct"|"mem_avail"|"x\\u0063"|"cpu_pctx"|"mem_"):(1|2\.5|"cpu_pct"|\[3\]|\{"mem_total":4\})){0,4}\}"#
    ) {
        let text = format!(r#"{{"cpu_pct":{cpu},"mem_total":{total},"mem_avail":{avail}{rest}"#);
        let whole = serde_json::from_str(&text).unwrap();
        let raw = RawValue::from_string(text.clone()).unwrap();
        prop_assert_eq!(figures(&raw), figures_of_whole(&whole), "{}", text);
    }

    /// The figures are those of the whole object read by serde, whatever
    /// else the health holds and however it is spaced.
    #[test]
    fn figures_are_those_of_the_whole_object(
        text in r#"\{ ?(("cpu_pct"|"mem_total"|"mem_avail"|"mem_total"|"mem_avail"|"cpu\\u005fpct"|"x\\"y"|"") ?: ?([1-9][0-9]{0,3}|[1-9][0-9]{0,3}|-?(0|[1-9][0-9]{0,11})(\.[0-9]{1,3})?([eE][+-]?[0-9])?|"([a-z,}\]:]|\\\\|\\")*"|true|null|\[(1|\[\]|"\]")?\]|\{"a":\[\{\}\]\}) ?, ?){0,6}"z":0 ?\} ?"#
    ) {
        if let Ok(whole) = serde_json::from_str(&text) {
            let raw = RawValue::from_string(text.clone()).unwrap();
            prop_assert_eq!(figures(&raw), figures_of_whole(&whole), "{}", text);
        }
    }
}
