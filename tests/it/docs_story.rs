//! What the docs tell a newcomer matches what the tools do.

use std::time::Duration;

use crate::harness::cmd;

/// Alertmanager resolves an alert not sent again within its
/// `resolve_timeout`, 5 minutes unless configured.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(300);

/// Every place that wires hb-listen to Alertmanager reminds of nodes still
/// down (`still-down` among the hook's events) more often than
/// Alertmanager forgets an alert: else the alert resolves while the node
/// is down.
#[test]
fn every_alertmanager_example_keeps_the_alert_firing() {
    let help = cmd("hb-listen").arg("--help").output().unwrap();
    let help = String::from_utf8(help.stdout).unwrap();
    let sources = [
        ("README.md", std::fs::read_to_string("README.md").unwrap()),
        (
            "man/hb-listen.1",
            std::fs::read_to_string("man/hb-listen.1").unwrap(),
        ),
        (
            "contrib/hooks/alertmanager",
            std::fs::read_to_string("contrib/hooks/alertmanager").unwrap(),
        ),
        ("hb-listen --help", help),
    ];
    let mut examples = 0;
    for (source, text) in &sources {
        // roff writes a hyphen as \-.
        let text = text.replace("\\-", "-");
        // A command may go on over the next lines (a backslash).
        let lines: Vec<&str> = text.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            if !line.contains("alertmanager http") && !line.contains("alertmanager am:") {
                continue;
            }
            examples += 1;
            let command = lines[i.saturating_sub(2)..=i].join(" ");
            assert!(command.contains("still-down"), "{source}: {command}");
            let remind = command
                .split("--remind-every")
                .nth(1)
                .and_then(|rest| rest.split_whitespace().next())
                .unwrap_or_else(|| panic!("{source}: no --remind-every in {command}"));
            let every = hb::cli::parse_duration(remind.trim_end_matches('\\')).unwrap();
            assert!(every < RESOLVE_TIMEOUT, "{source}: --remind-every {remind}");
        }
    }
    assert_eq!(examples, sources.len(), "one example in each source");
}
