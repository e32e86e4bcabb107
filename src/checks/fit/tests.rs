use super::*;
use proptest::prelude::*;
use serde::Serialize;

/// A message of the shape replies and beats have: a name, maybe health,
/// the checks.
#[derive(Serialize)]
struct Message<'a> {
    node: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    health: Option<&'a str>,
    checks: &'a [CheckResult],
}

const HEALTH: &str = "cpu 3.5, mem 61.2, load 0.55 0.52 0.25, uptime 541, swap 0";

/// Whether the message fits `budget` bytes, as `fit` asks.
fn fits_in(budget: usize, node: &str) -> impl Fn(bool, &[CheckResult]) -> bool + '_ {
    move |health, checks| {
        let health = health.then_some(HEALTH);
        let msg = Message {
            node,
            health,
            checks,
        };
        serde_json::to_vec(&msg).unwrap().len() <= budget
    }
}

fn check(name: &str, status: CheckStatus, output: &str) -> CheckResult {
    CheckResult {
        name: name.into(),
        status,
        output: output.into(),
    }
}

#[test]
fn what_fits_is_left_whole() {
    let checks = [check("a", CheckStatus::Ok, "fine")];
    let fitted = fit(&checks, fits_in(512, "web-1")).unwrap();
    assert_eq!(fitted.checks, checks);
    assert!(fitted.health && !fitted.cut);
}

/// Three checks of 190 bytes of output, one critical, in a 512-byte
/// reply: the passing checks' output goes first; the critical one keeps
/// its verdict.
#[test]
fn passing_output_is_cut_before_failing_output() {
    let long = |word: &str| format!("{word} {}", "x".repeat(190 - word.len() - 1));
    let checks = [
        check("a", CheckStatus::Critical, &long("CRITICAL")),
        check("b", CheckStatus::Ok, &long("OK")),
        check("c", CheckStatus::Ok, &long("OK")),
    ];
    let fitted = fit(&checks, fits_in(512, "web-1")).unwrap();
    assert!(fitted.cut);
    assert!(fitted.health, "health stays: cutting output was enough");
    let [a, b, c] = &fitted.checks[..] else {
        panic!("{fitted:?}")
    };
    assert_eq!(a.output, checks[0].output, "the critical output is whole");
    for passing in [b, c] {
        assert!(passing.output.ends_with(CUT_MARK), "{passing:?}");
    }
}

/// With no room even for names and statuses, the passing checks are left
/// out, then the less severe ones: the critical one stays.
#[test]
fn checks_are_left_out_least_severe_first() {
    let checks: Vec<_> = [
        CheckStatus::Ok,
        CheckStatus::Warning,
        CheckStatus::Critical,
        CheckStatus::Unknown,
    ]
    .into_iter()
    .enumerate()
    .map(|(i, s)| check(&format!("{i}{}", "n".repeat(60)), s, "out"))
    .collect();
    let fitted = fit(&checks, fits_in(270, "web-1")).unwrap();
    assert!(!fitted.health);
    let statuses: Vec<_> = fitted.checks.iter().map(|c| c.status).collect();
    assert_eq!(statuses, [CheckStatus::Warning, CheckStatus::Critical]);
}

#[test]
fn nothing_fits_when_the_worst_check_alone_does_not() {
    let checks = [check("a", CheckStatus::Critical, "x")];
    assert_eq!(fit(&checks, fits_in(10, "web-1")), None);
}

#[test]
fn cut_keeps_char_boundaries_and_marks_the_cut() {
    assert_eq!(cut("abc", 3), "abc");
    assert_eq!(cut("abcdef", 5), "ab…");
    assert_eq!(cut("éééé", 6), "é…");
    assert_eq!(cut("abcdef", 2), "");
}

fn status() -> impl Strategy<Value = CheckStatus> {
    prop_oneof![
        Just(CheckStatus::Ok),
        Just(CheckStatus::Unknown),
        Just(CheckStatus::Warning),
        Just(CheckStatus::Critical),
    ]
}

fn any_check() -> impl Strategy<Value = CheckResult> {
    ("[a-z\"\\\\é]{1,30}", status(), "(.|\"|\\\\|\u{1}){0,200}").prop_map(
        |(name, status, output)| CheckResult {
            name,
            status,
            output: cut(&output, MAX_OUTPUT),
        },
    )
}

proptest! {
    /// Whatever the checks, what `fit` returns fits, and keeps the worst
    /// status; it finds nothing only if the worst check alone, without
    /// health or output, does not fit.
    #[test]
    fn fitted_checks_fit_and_keep_the_worst_status(
        checks in proptest::collection::vec(any_check(), 0..16),
        budget in 100usize..1400,
    ) {
        let fits = fits_in(budget, "web-1");
        match fit(&checks, &fits) {
            Some(fitted) => {
                prop_assert!(fits(fitted.health, &fitted.checks));
                prop_assert_eq!(super::super::worst(&fitted.checks), super::super::worst(&checks));
                prop_assert_eq!(fitted.cut, fitted.checks != checks || !fitted.health);
            }
            None => {
                // The one `fit` keeps last: the first of the most severe.
                let worst = checks.iter().rev().max_by_key(|c| c.status).unwrap();
                let alone = check(&worst.name, worst.status, &cut(&worst.output, CUT_MARK.len()));
                prop_assert!(!fits(false, &[alone]));
            }
        }
    }
}
