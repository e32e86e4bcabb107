use proptest::prelude::*;

use super::*;

/// Unix milliseconds of an RFC 3339 time.
fn ms(rfc3339: &str) -> u64 {
    let t = chrono::DateTime::parse_from_rfc3339(rfc3339).expect("a valid time");
    u64::try_from(t.timestamp_millis()).expect("after 1970")
}

fn cron_in(expr: &str, zone: &str) -> Schedule {
    Schedule::Cron {
        cron: Box::new(parse_cron(expr).expect("a valid expression")),
        zone: Zone::Named(parse_zone(zone).expect("a valid zone")),
    }
}

#[test]
fn a_daily_job_is_due_at_its_local_time_across_the_spring_change_in_berlin() {
    // 2026-03-29: 02:00 CET becomes 03:00 CEST; 03:00 stays 03:00 local.
    let daily = cron_in("0 3 * * *", "Europe/Berlin");
    let before = ms("2026-03-28T03:00:00.300+01:00");
    assert_eq!(
        daily.next_after(before),
        Some(ms("2026-03-29T03:00:00+02:00"))
    );
    // 23 hours later on the wall clock, not 24.
    assert_eq!(
        ms("2026-03-29T03:00:00+02:00") - before,
        23 * 3600 * 1000 - 300
    );
}

#[test]
fn a_daily_job_is_due_at_its_local_time_across_the_autumn_change_in_berlin() {
    // 2026-10-25: 03:00 CEST becomes 02:00 CET.
    let daily = cron_in("0 3 * * *", "Europe/Berlin");
    let before = ms("2026-10-24T03:00:00+02:00");
    assert_eq!(
        daily.next_after(before),
        Some(ms("2026-10-25T03:00:00+01:00"))
    );
    // A time the change repeats (02:30) runs once.
    let repeated = cron_in("30 2 * * *", "Europe/Berlin");
    let first = repeated
        .next_after(ms("2026-10-25T01:00:00+02:00"))
        .unwrap();
    assert_eq!(first, ms("2026-10-25T02:30:00+02:00"));
    let next = repeated.next_after(first).unwrap();
    assert_eq!(next, ms("2026-10-26T02:30:00+01:00"));
}

#[test]
fn a_time_the_spring_change_skips_is_due_when_the_change_is_over() {
    // 02:30 does not exist on 2026-03-29 in Berlin: due at 03:00 CEST, as
    // cron runs it, then at 02:30 again the next day.
    let skipped = cron_in("30 2 * * *", "Europe/Berlin");
    let next = skipped.next_after(ms("2026-03-28T03:00:00+01:00")).unwrap();
    assert_eq!(next, ms("2026-03-29T03:00:00+02:00"));
    let after = skipped.next_after(next).unwrap();
    assert_eq!(after, ms("2026-03-30T02:30:00+02:00"));
}

#[test]
fn new_york_changes_on_its_own_dates() {
    // 2026-03-08 and 2026-11-01 in America/New_York.
    let daily = cron_in("0 6 * * *", "America/New_York");
    let spring = daily.next_after(ms("2026-03-07T06:00:00-05:00"));
    assert_eq!(spring, Some(ms("2026-03-08T06:00:00-04:00")));
    let autumn = daily.next_after(ms("2026-10-31T06:00:00-04:00"));
    assert_eq!(autumn, Some(ms("2026-11-01T06:00:00-05:00")));
    assert_eq!(
        autumn.unwrap() - ms("2026-10-31T06:00:00-04:00"),
        25 * 3600 * 1000
    );
}

#[test]
fn names_and_fields_read_as_cron_reads_them() {
    let at = ms("2026-06-10T12:34:56Z");
    let utc = |expr| cron_in(expr, "UTC").next_after(at);
    assert_eq!(utc("@daily"), Some(ms("2026-06-11T00:00:00Z")));
    assert_eq!(utc("@hourly"), Some(ms("2026-06-10T13:00:00Z")));
    assert_eq!(utc("*/15 * * * *"), Some(ms("2026-06-10T12:45:00Z")));
    assert_eq!(utc("0 0 1 * *"), Some(ms("2026-07-01T00:00:00Z")));
    // Six fields: seconds first.
    assert_eq!(utc("*/10 * * * * *"), Some(ms("2026-06-10T12:35:00Z")));
    assert!(parse_cron("0 3 * *").is_err());
    assert!(parse_cron("61 * * * *").is_err());
    assert!(parse_zone("Europe/Nowhere").is_err());
}

#[test]
fn an_interval_counts_from_the_run() {
    assert_eq!(Schedule::Every(1500).next_after(1000), Some(2500));
}

proptest! {
    /// The next due time is later than now, on a time the expression
    /// names, and the first such: any time before it has it as its next.
    /// (Expressions of times that exist every day: a skipped one is due at
    /// a time it does not name, see above.)
    #[test]
    fn the_next_due_time_is_the_first_after_now(
        at in ms("2026-01-01T00:00:00Z")..ms("2027-01-01T00:00:00Z"),
        expr in prop::sample::select(vec!["0 3 * * *", "*/7 * * * *", "0 0 * * 0", "15 1,4 * * *"]),
        zone in prop::sample::select(vec!["Europe/Berlin", "America/New_York", "UTC"]),
        back in 1u64..3_600_000,
    ) {
        let schedule = cron_in(expr, zone);
        let next = schedule.next_after(at).unwrap();
        prop_assert!(next > at);
        prop_assert_eq!(next % 1000, 0);
        let Schedule::Cron { cron, .. } = &schedule else { unreachable!() };
        let tz: Tz = zone.parse().unwrap();
        let local = tz.timestamp_millis_opt(next as i64).unwrap();
        prop_assert!(cron.is_time_matching(&local).unwrap());
        let earlier = next.saturating_sub(back).max(at);
        prop_assert_eq!(schedule.next_after(earlier), Some(next));
    }
}

#[test]
fn an_expression_that_names_no_time_in_five_years_does_not_run_soon() {
    let now = ms("2026-06-01T12:00:00Z");
    for never in ["0 0 30 2 *", "0 0 31 4 *", "0 0 31 11 *"] {
        let schedule = cron_in(never, "UTC");
        assert!(!schedule.runs_soon(now), "{never}");
    }
    for rare in ["0 0 29 2 *", "@yearly", "0 3 * * *"] {
        assert!(cron_in(rare, "Europe/Berlin").runs_soon(now), "{rare}");
    }
    assert!(Schedule::Every(7 * 24 * 3600 * 1000).runs_soon(now));
}
