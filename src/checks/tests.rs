use super::*;

fn spec(s: &str) -> CheckSpec {
    s.parse().unwrap()
}

#[test]
fn specs_are_named() {
    assert_eq!(
        spec("disk=/usr/lib/nagios/plugins/check_disk -w 10%"),
        CheckSpec {
            name: "disk".into(),
            command: "/usr/lib/nagios/plugins/check_disk -w 10%".into()
        }
    );
    assert_eq!(spec("/usr/bin/check_load -w 5").name, "check_load");
    // An '=' inside the command does not make a name.
    assert_eq!(spec("test 1 = 1").name, "test");
    assert!("".parse::<CheckSpec>().is_err());
    assert!("x=".parse::<CheckSpec>().is_err());
}

#[test]
fn exit_codes_are_statuses_and_output_is_the_first_line() {
    let t = Duration::from_secs(5);
    let ok = run_check(&spec("ok=echo 'DISK OK - 42% free | /=42%'; echo more"), t);
    assert_eq!(
        (ok.status, ok.output.as_str()),
        (CheckStatus::Ok, "DISK OK - 42% free")
    );
    assert_eq!(run_check(&spec("exit 1"), t).status, CheckStatus::Warning);
    assert_eq!(run_check(&spec("exit 2"), t).status, CheckStatus::Critical);
    assert_eq!(run_check(&spec("exit 3"), t).status, CheckStatus::Unknown);
    assert_eq!(
        run_check(&spec("kill -9 $$"), t).status,
        CheckStatus::Unknown
    );
    let long = run_check(&spec("printf 'é%.0s' $(seq 300)"), t);
    assert!(long.output.len() <= MAX_OUTPUT);
}

#[test]
fn a_hung_check_is_unknown_after_its_timeout() {
    let r = run_check(&spec("slow=sleep 30"), Duration::from_millis(100));
    assert_eq!(r.status, CheckStatus::Unknown);
    assert!(r.output.contains("timed out"), "{r:?}");
}

#[test]
fn worst_follows_nagios_severity() {
    let r = |status| CheckResult {
        name: "x".into(),
        status,
        output: String::new(),
    };
    assert_eq!(worst(&[]), None);
    assert_eq!(
        worst(&[r(CheckStatus::Ok), r(CheckStatus::Unknown)]),
        Some(CheckStatus::Unknown)
    );
    assert_eq!(
        worst(&[r(CheckStatus::Unknown), r(CheckStatus::Warning)]),
        Some(CheckStatus::Warning)
    );
    assert_eq!(
        worst(&[r(CheckStatus::Critical), r(CheckStatus::Warning)]),
        Some(CheckStatus::Critical)
    );
}

#[test]
fn the_first_round_runs_before_start_returns() {
    let checks = Checks::start(
        vec![spec("a=exit 1")],
        Duration::from_secs(60),
        Duration::from_secs(5),
    );
    assert_eq!(checks.latest()[0].status, CheckStatus::Warning);
}
