//! `hb-poll --format nagios` read by the parsers Nagios and Icinga users
//! really have: Monitoring::Plugin's (Perl, what many graphers and
//! notification scripts use) and Icinga 2's own `parse_performance_data`.
//! Every label hb-poll writes must come out of both with its value, in
//! every round: all up, some down, all down.

use std::process::Command;

use crate::harness::{cmd, dead_target, skip, Running};

/// One round in Nagios format, with `args`: the perfdata part of the line.
fn perfdata(args: &[&str]) -> String {
    let out = cmd("hb-poll")
        .args(args)
        .args(["--format", "nagios", "-t", "300ms", "--retries", "0"])
        .output()
        .unwrap();
    let line = String::from_utf8(out.stdout).unwrap();
    let (_, perf) = line.trim_end().split_once(" | ").expect("a perfdata part");
    perf.to_owned()
}

/// Each item as written: its label and its value without the unit.
fn items(perf: &str) -> Vec<(String, f64)> {
    perf.split(' ')
        .map(|item| {
            let (label, rest) = item.split_once('=').unwrap();
            let value = rest.split(';').next().unwrap();
            let number = value.trim_end_matches(|c: char| c.is_ascii_alphabetic() || c == '%');
            let value = number
                .parse()
                .unwrap_or_else(|_| panic!("{item}: no number"));
            (label.to_owned(), value)
        })
        .collect()
}

/// The rounds: all up with health and thresholds, one up and one down,
/// all down (no round trip at all).
fn rounds() -> Vec<String> {
    let (_live, live) = Running::healthy_responder(&["--node", "live"]);
    let (_dead, dead) = dead_target();
    let live = live.to_string();
    let thresholds = [
        "--rtt-warning",
        "0.5",
        "--rtt-critical",
        "1",
        "--cpu-critical",
        "95",
    ];
    let up = [&[live.as_str()][..], &thresholds].concat();
    let mixed = [
        &[live.as_str(), dead.as_str(), "-w", "0", "-c", "2"][..],
        &thresholds,
    ]
    .concat();
    vec![perfdata(&up), perfdata(&mixed), perfdata(&[&dead])]
}

/// Whether `perl` has Monitoring::Plugin (Debian: libmonitoring-plugin-perl).
fn has_monitoring_plugin() -> bool {
    // Quietly: where the module is missing, the skip says so, not perl.
    Command::new("perl")
        .args(["-MMonitoring::Plugin::Performance", "-e1"])
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[test]
fn monitoring_plugin_reads_every_label() {
    if !has_monitoring_plugin() {
        return skip!("perl's Monitoring::Plugin is not installed (libmonitoring-plugin-perl)");
    }
    let script = r#"
        use Monitoring::Plugin::Performance;
        print $_->label, "\t", $_->value, "\n"
            for Monitoring::Plugin::Performance->parse_perfstring($ARGV[0]);
    "#;
    for perf in rounds() {
        let out = Command::new("perl")
            .args(["-e", script, &perf])
            .output()
            .unwrap();
        assert!(out.status.success(), "{perf}");
        let parsed: Vec<(String, f64)> = String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(|l| {
                let (label, value) = l.split_once('\t').unwrap();
                (label.to_owned(), value.parse().unwrap())
            })
            .collect();
        assert_eq!(parsed, items(&perf), "{perf}");
    }
}

#[test]
fn icinga2_reads_every_label() {
    if Command::new("icinga2").arg("--version").output().is_err() {
        return skip!("icinga2 is not installed (icinga2-bin)");
    }
    for perf in rounds() {
        // Icinga 2 splits a check's perfdata into items, then parses each:
        // one item it cannot parse fails the expression (exit 1).
        let list: Vec<String> = perf.split(' ').map(|i| format!("{i:?}")).collect();
        let expr = format!(
            "[{}].map(p => {{ var v = parse_performance_data(p); [v.label, v.value] }})",
            list.join(", ")
        );
        let out = Command::new("icinga2")
            .args(["console", "--eval", &expr])
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{perf}: {stdout}");
        let parsed: Vec<(String, f64)> = serde_json::from_str(stdout.trim()).unwrap();
        assert_eq!(parsed, items(&perf), "{perf}");
    }
}
