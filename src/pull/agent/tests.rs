use super::*;

fn health(cpu_pct: Option<f32>) -> Health {
    Health {
        cpu_pct,
        mem_total: 8 << 30,
        mem_avail: 4 << 30,
        swap_used: 0,
        load1: 0.5,
        load5: 0.5,
        load15: 0.5,
        uptime_s: 100,
    }
}

fn check(status: CheckStatus) -> CheckResult {
    CheckResult {
        name: "c".into(),
        status,
        output: String::new(),
    }
}

#[test]
fn the_weight_is_the_idle_cpu_with_a_floor() {
    assert_eq!(agent_line(None, &[]), "ready up 100%\n");
    assert_eq!(agent_line(Some(&health(None)), &[]), "ready up 100%\n");
    assert_eq!(agent_line(Some(&health(Some(25.4))), &[]), "ready up 75%\n");
    assert_eq!(agent_line(Some(&health(Some(99.0))), &[]), "ready up 10%\n");
    assert_eq!(
        agent_line(Some(&health(Some(150.0))), &[]),
        "ready up 10%\n"
    );
    let ok = [check(CheckStatus::Ok)];
    assert_eq!(agent_line(Some(&health(Some(0.0))), &ok), "ready up 100%\n");
}

#[test]
fn a_warning_halves_the_weight_and_a_critical_check_drains() {
    let idle = health(Some(20.0));
    for status in [CheckStatus::Warning, CheckStatus::Unknown] {
        let checks = [check(CheckStatus::Ok), check(status)];
        assert_eq!(agent_line(Some(&idle), &checks), "ready up 40%\n");
    }
    let busy = health(Some(95.0));
    assert_eq!(
        agent_line(Some(&busy), &[check(CheckStatus::Warning)]),
        "ready up 10%\n"
    );
    let checks = [check(CheckStatus::Warning), check(CheckStatus::Critical)];
    assert_eq!(agent_line(Some(&idle), &checks), "drain\n");
}

/// Any health, any checks: one line, a few words HAProxy knows.
#[test]
fn every_answer_is_one_short_line_of_agent_words() {
    use proptest::prelude::*;
    let statuses = prop_oneof![
        Just(CheckStatus::Ok),
        Just(CheckStatus::Unknown),
        Just(CheckStatus::Warning),
        Just(CheckStatus::Critical)
    ];
    let cases = (
        proptest::option::of(any::<f32>()),
        proptest::collection::vec(statuses, 0..5),
    );
    proptest!(|((cpu, statuses) in cases)| {
        let checks: Vec<_> = statuses.into_iter().map(check).collect();
        let line = agent_line(Some(&health(cpu)), &checks);
        prop_assert!(line.ends_with('\n') && line.len() <= 16, "{line:?}");
        for word in line.split_whitespace() {
            let weight = word.strip_suffix('%').and_then(|w| w.parse::<u32>().ok());
            prop_assert!(
                ["ready", "up", "drain"].contains(&word)
                    || weight.is_some_and(|w| (MIN_WEIGHT_PCT..=100).contains(&w)),
                "{line:?}"
            );
        }
    });
}
