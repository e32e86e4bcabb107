//! The README's sample outputs are what the commands they illustrate
//! print: `scripts/readme-sample SECTION` writes each from a fresh run,
//! and the tests here (and `demo`'s) run them again and fail when the
//! README's lines carry other fields than the fresh run's.

use std::collections::BTreeSet;

use hb::schedule::{parse_cron, parse_zone, Schedule, Zone};
use serde_json::Value;

use crate::harness::{events_of_success, parse_event, script};

/// The (type, node) of a line, and its field names.
fn shape(v: &Value) -> ((String, String), BTreeSet<String>) {
    let key = (
        v["type"].as_str().unwrap().to_owned(),
        v["node"].as_str().unwrap().to_owned(),
    );
    (key, v.as_object().unwrap().keys().cloned().collect())
}

/// The lines of the README's sample `section`, between its
/// `<!-- sample: scripts/readme-sample SECTION -->` and the next
/// `<!-- end of sample -->`.
pub fn readme_sample(section: &str) -> Vec<Value> {
    let readme = std::fs::read_to_string("README.md").unwrap();
    let begin = format!("<!-- sample: scripts/readme-sample {section} -->");
    let sample = readme
        .split(&begin)
        .nth(1)
        .and_then(|rest| rest.split("<!-- end of sample -->").next())
        .unwrap_or_else(|| panic!("no {begin} ... <!-- end of sample --> in README.md"));
    sample
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(parse_event)
        .collect()
}

/// Each line of the README's sample `section` carries the fields a line of
/// the same type about the same node of `fresh` carries.
pub fn assert_readme_shows(section: &str, fresh: &[Value]) -> Vec<Value> {
    let shown = readme_sample(section);
    let fresh: Vec<_> = fresh.iter().map(shape).collect();
    for line in &shown {
        let (key, fields) = shape(line);
        assert!(
            fresh.iter().any(|(k, f)| *k == key && *f == fields),
            "the README shows {line}, a run prints no such line: run scripts/readme-sample {section}"
        );
    }
    shown
}

/// That `line` (a job's, as the listener prints it) says the job is due
/// next at 03:00 in Berlin, the README's `--cron '0 3 * * *' --tz
/// Europe/Berlin`: the listener states it on its own clock, a few ms off
/// the sender's.
pub fn assert_due_at_three_in_berlin(line: &Value) {
    let schedule = Schedule::Cron {
        cron: Box::new(parse_cron("0 3 * * *").unwrap()),
        zone: Zone::Named(parse_zone("Europe/Berlin").unwrap()),
    };
    let next = schedule
        .next_after(line["ts_ms"].as_u64().unwrap())
        .unwrap();
    let due_ms = line["due_ms"].as_u64().unwrap();
    assert!(due_ms.abs_diff(next) < 1_000, "not due at {next}: {line}");
}

/// "A cron job proves it ran": the job's run as the listener tells it, a
/// start and a failure with the job's exit code and last stderr line, due
/// again at 03:00 in Berlin; the README shows those two lines, no other.
#[test]
fn the_readme_job_sample_is_a_real_run() {
    let out = script("scripts/readme-sample")
        .args(["--print", "job"])
        .output()
        .unwrap();
    let fresh = events_of_success(&out);
    let kinds: Vec<&str> = fresh.iter().map(|v| v["type"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["started", "failed"], "{fresh:?}");
    let failed = &fresh[1];
    assert_eq!(
        (&failed["exit"], &failed["stderr"]),
        (&Value::from(3), &Value::from("rsync: connection refused")),
        "{failed}"
    );
    assert_due_at_three_in_berlin(failed);

    let shown = assert_readme_shows("job", &fresh);
    let shown: Vec<&str> = shown.iter().map(|v| v["type"].as_str().unwrap()).collect();
    assert_eq!(shown, kinds, "run scripts/readme-sample job");
}
