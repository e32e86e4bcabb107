use super::*;

fn spec(s: &str) -> CheckSpec {
    s.parse().unwrap()
}

/// Runs the check `s` as the first one given.
fn run(s: &str, timeout: Duration) -> CheckResult {
    let spec = spec(s);
    run_check(&spec.name_at(0), &spec.command, timeout)
}

#[test]
fn specs_are_named() {
    assert_eq!(
        spec("disk=/usr/lib/nagios/plugins/check_disk -w 10%"),
        CheckSpec {
            name: Some("disk".into()),
            command: "/usr/lib/nagios/plugins/check_disk -w 10%".into()
        }
    );
    let name = |s: &str| spec(s).name;
    assert_eq!(
        name("/usr/bin/check_load -w 5").as_deref(),
        Some("check_load")
    );
    // An '=' inside the command does not make a name.
    assert_eq!(name("test 1 = 1").as_deref(), Some("test"));
    assert!("".parse::<CheckSpec>().is_err());
    assert!("x=".parse::<CheckSpec>().is_err());
}

/// Shell code names no plugin: its first word (`(sleep`, `test`) would be
/// a name that says nothing, so it is named by its place.
#[test]
fn shell_code_is_named_by_its_place() {
    for code in [
        "(sleep 1; exit 2)",
        "sleep 1; exit 2",
        "test -e /run/ok && echo ok",
        "$HOME/bin/check",
        "check_x | head -1",
        "\"/opt/my plugins/check\" -w 1",
    ] {
        let s = spec(code);
        assert_eq!(s.name, None, "{code}");
        assert_eq!(s.name_at(1), "check2", "{code}");
    }
    assert_eq!(spec("web=(sleep 1)").name_at(1), "web");
    assert_eq!(
        spec("/usr/lib/nagios/plugins/check_http -H x").name_at(4),
        "check_http"
    );
}

#[test]
fn exit_codes_are_statuses_and_output_is_the_first_line() {
    let t = Duration::from_secs(5);
    let ok = run("ok=echo 'DISK OK - 42% free | /=42%'; echo more", t);
    assert_eq!(
        (ok.status, ok.output.as_str()),
        (CheckStatus::Ok, "DISK OK - 42% free")
    );
    assert_eq!(run("exit 1", t).status, CheckStatus::Warning);
    assert_eq!(run("exit 2", t).status, CheckStatus::Critical);
    assert_eq!(run("exit 3", t).status, CheckStatus::Unknown);
    assert_eq!(run("kill -9 $$", t).status, CheckStatus::Unknown);
    let long = run("printf 'é%.0s' $(seq 300)", t);
    assert!(long.output.len() <= MAX_OUTPUT);
}

#[test]
fn a_hung_check_is_unknown_after_its_timeout() {
    let r = run("slow=sleep 30", Duration::from_millis(100));
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

#[test]
fn a_check_needs_a_name_before_its_equals_sign() {
    for spec in ["=", "=echo x", " = "] {
        let err = spec.parse::<CheckSpec>().unwrap_err();
        assert!(
            err.contains("no name") || err.contains("empty"),
            "{spec}: {err}"
        );
    }
}

/// The check is over when its shell exits: a background child that still
/// holds its stdout is killed, not waited for.
#[test]
fn a_background_child_holding_stdout_does_not_hold_the_check() {
    let start = Instant::now();
    let r = run("bg=(sleep 5 &); echo x", Duration::from_secs(1));
    assert_eq!((r.status, r.output.as_str()), (CheckStatus::Ok, "x"));
    // The bound is the feature: not the 5 s of the sleep, nor the
    // 1 s timeout (which would have made it unknown).
    assert!(
        start.elapsed() < Duration::from_secs(4),
        "{:?}",
        start.elapsed()
    );
}

/// A plugin printing 100 MB is read while it runs (it never blocks on a
/// full pipe), so it ends with its own status, its line cut and marked.
#[test]
fn a_flood_of_output_is_read_and_cut() {
    let flood = "flood=head -c 100000000 /dev/zero | tr '\\0' x; exit 0";
    let r = run(flood, Duration::from_secs(60));
    assert_eq!(r.status, CheckStatus::Ok, "{r:?}");
    assert!(r.output.len() <= MAX_OUTPUT);
    assert!(r.output.starts_with("xxx") && r.output.ends_with(crate::text::CUT_MARK));
}

/// At its timeout the check's whole process group is killed, not only
/// its shell.
#[test]
fn a_timeout_kills_the_whole_group() {
    let dir = std::env::temp_dir().join(format!("hb-checks-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let pid_file = dir.join("pid");
    let command = format!("group=sleep 30 & echo $! > {}; wait", pid_file.display());
    let r = run(&command, Duration::from_millis(500));
    assert!(r.output.contains("timed out"), "{r:?}");
    let pid = std::fs::read_to_string(&pid_file).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    let stat = format!("/proc/{}/stat", pid.trim());
    let deadline = Instant::now() + Duration::from_secs(15);
    // Gone, or a zombie waiting for init to reap it.
    while std::fs::read_to_string(&stat).is_ok_and(|s| !s.contains(") Z ")) {
        assert!(Instant::now() < deadline, "the background sleep lives on");
        thread::sleep(Duration::from_millis(20));
    }
}
