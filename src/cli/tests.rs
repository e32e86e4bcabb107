use std::time::Duration;

use clap::{CommandFactory, Parser};

use super::parse::{parse_duration, parse_timeout};
use super::*;
use crate::detector::Rule;

#[test]
fn durations() {
    assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
    assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
    assert!(parse_duration("0s").is_err());
    assert!(parse_duration("soon").is_err());
    assert_eq!(parse_timeout("10"), Ok(Duration::from_secs(10)));
    assert_eq!(parse_timeout("0.25"), Ok(Duration::from_millis(250)));
    assert_eq!(parse_timeout("2s"), Ok(Duration::from_secs(2)));
    assert!(parse_timeout("0").is_err() && parse_timeout("-1").is_err());
}

#[test]
fn multicast_groups() {
    assert!(parse_multicast("239.255.26.22").is_ok());
    assert!(parse_multicast("ff02::1").is_ok());
    let unicast = parse_multicast("10.0.0.1").unwrap_err();
    assert!(unicast.contains("not a multicast group"), "{unicast}");
    assert!(parse_multicast("nowhere").is_err());
}

#[test]
fn clap_errors_fit_one_line() {
    #[derive(Parser, Debug)]
    #[command(name = "t")]
    struct A {
        #[arg(long, value_parser = parse_duration)]
        every: Option<Duration>,
    }
    let e = A::try_parse_from(["t", "--every", "x"]).unwrap_err();
    let line = one_line(&e);
    assert!(!line.contains('\n'));
    assert!(line.contains("--every"), "{line}");
    let e = A::try_parse_from(["t", "--bogus"]).unwrap_err();
    assert!(one_line(&e).contains("--bogus"));
}

#[test]
fn exit_codes_follow_the_tools_convention() {
    let unix = [Exit::Ok, Exit::Failure, Exit::Usage].map(|e| ExitCodes::Unix.number(e));
    assert_eq!(unix, [0, 1, 2]);
    let nagios = [Exit::Ok, Exit::Failure, Exit::Usage].map(|e| ExitCodes::Nagios.number(e));
    assert_eq!(nagios, [0, 3, 3], "Nagios reads both errors as UNKNOWN");
}

/// The help text clap shows for `--flag` of `A`, and its default if any.
fn help_of<A: CommandFactory>(flag: &str) -> (String, Option<String>) {
    let cmd = A::command();
    let arg = cmd
        .get_arguments()
        .find(|a| a.get_long() == Some(flag))
        .unwrap();
    let default = arg
        .get_default_values()
        .first()
        .map(|v| v.to_string_lossy().into_owned());
    (arg.get_help().unwrap().to_string(), default)
}

#[derive(Parser, Debug)]
struct Beats {
    #[command(flatten)]
    listen: ListenArgs<26722>,
    #[command(flatten)]
    detector: DetectorArgs<5>,
    #[command(flatten)]
    node: NodeArgs<true>,
}

#[derive(Parser, Debug)]
struct Probes {
    #[command(flatten)]
    listen: ListenArgs<26723>,
    #[command(flatten)]
    detector: DetectorArgs<3>,
    #[command(flatten)]
    node: NodeArgs<false>,
    #[command(flatten)]
    limits: LimitsArgs,
}

#[test]
fn each_tool_gets_its_own_listen_port() {
    // Both in one process: a default kept in a static would be shared.
    assert_eq!(Beats::parse_from(["t"]).listen.listen.port, 26722);
    assert_eq!(Probes::parse_from(["t"]).listen.listen.port, 26723);
    assert_eq!(help_of::<Beats>("listen").1.unwrap(), "0.0.0.0:26722");
    assert_eq!(help_of::<Probes>("listen").1.unwrap(), "0.0.0.0:26723");
    let given = Probes::parse_from(["t", "--listen", "127.0.0.1"]);
    assert_eq!(given.listen.listen.to_string(), "127.0.0.1:26723");
}

#[test]
fn each_tool_states_its_own_misses_default() {
    assert!(help_of::<Beats>("misses").0.ends_with("[default: 5]"));
    assert!(help_of::<Probes>("misses").0.ends_with("[default: 3]"));
    let config = |d: &DetectorArgs<3>| d.config(1000, false, 10).unwrap().rule;
    let fixed = Probes::parse_from(["t"]).detector;
    assert!(matches!(config(&fixed), Rule::Fixed { misses: 3 }));
    let given = Probes::parse_from(["t", "--misses", "7"]).detector;
    assert!(matches!(config(&given), Rule::Fixed { misses: 7 }));
    let phi = Beats::parse_from(["t", "--detector", "phi", "--misses", "5"]).detector;
    let refused = phi.config(1000, false, 10).unwrap_err();
    assert_eq!(refused.to_string(), "--misses is for --detector fixed");
}

#[test]
fn only_hb_sends_node_may_be_given_twice() {
    let twice = ["t", "--node", "a", "--node", "b"];
    assert_eq!(Beats::parse_from(twice).node.name(), "b");
    assert!(Probes::try_parse_from(twice).is_err());
    assert!(help_of::<Beats>("node").0.contains("the last wins"));
    assert!(!help_of::<Probes>("node").0.contains("the last wins"));
    assert_eq!(Probes::parse_from(["t"]).node.name(), host_name());
}

#[test]
fn any_target_down_is_critical_unless_warning_is_given() {
    let zero = Some("0".parse().unwrap());
    let default = Probes::parse_from(["t"]).limits.down();
    assert_eq!((default.warning, default.critical), (None, zero));
    let warning = Probes::parse_from(["t", "-w", "1"]).limits.down();
    assert_eq!(warning.critical, None);
    let both = Probes::parse_from(["t", "-w", "1", "-c", "2"])
        .limits
        .down();
    assert_eq!(both.critical, Some("2".parse().unwrap()));
}

/// A list file's entries: each line up to its `#`, trimmed, with its line
/// number; blank and comment lines skipped, Windows line ends and a last
/// line without its end read alike.
#[test]
fn list_entries_are_lines_without_comments() {
    let path = std::env::temp_dir().join(format!("hb-list-{}", std::process::id()));
    let text = "web-1\n  # the fleet\n\nweb-2:9 # port 9\r\nnœud-3\t\n#\n  db  ";
    std::fs::write(&path, text).unwrap();
    let list = read_list(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    let entries: Vec<_> = list.entries().collect();
    assert_eq!(
        entries,
        [(1, "web-1"), (4, "web-2:9"), (5, "nœud-3"), (7, "db")]
    );
}
