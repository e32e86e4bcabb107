use clap::{ArgAction, CommandFactory, Parser};

use super::*;

#[derive(Parser, Debug)]
#[command(
    name = "hb-demo",
    version,
    after_help = "\
Ranges: 10 (outside 0..10),
@10:20 (inside).

Examples:
  hb-demo a b      # two targets
  hb-demo -x | jq ."
)]
struct Demo {
    /// Where
    #[arg(long, value_name = "ADDR")]
    listen: Option<String>,
    /// Again and again
    #[arg(long, value_name = "NAME")]
    to: Vec<String>,
    /// A flag
    #[arg(short = 'x', long)]
    quick: bool,
    /// The targets
    #[arg(value_name = "TARGET")]
    targets: Vec<String>,
    /// The key
    #[arg(long, value_name = "FILE", env = "HB_DEMO_KEY")]
    key_file: Option<String>,
    /// Just once
    #[arg(long, action = ArgAction::SetTrue)]
    once: bool,
}

fn man(cmd: Command, codes: ExitCodes) -> String {
    let mut out = Vec::new();
    man_page(documented(cmd, codes), &mut out).unwrap();
    String::from_utf8(out).unwrap()
}

#[test]
fn help_ends_with_exit_status_and_environment() {
    // As written: --help wraps it to the terminal's width.
    let help = documented(Demo::command(), ExitCodes::Unix)
        .get_after_help()
        .unwrap()
        .to_string();
    let tail = &help[help.find("Examples:").unwrap()..];
    let exit = tail.find("Exit status:\n  0  done as asked").unwrap();
    let env = tail.find("Environment:\n  HB_DEMO_KEY  ").unwrap();
    assert!(exit < env, "{tail}");
    assert!(tail.contains("with --once: a beat not sent"), "{tail}");
    assert!(tail.contains("CREDENTIALS_DIRECTORY"), "{tail}");
    let nagios = documented(Demo::command(), ExitCodes::Nagios)
        .get_after_help()
        .unwrap()
        .to_string();
    assert!(
        nagios.contains("  3  UNKNOWN: an error (\"HB UNKNOWN - reason\" on stdout too"),
        "{nagios}"
    );
}

#[test]
fn the_synopsis_shows_arguments_and_repeats() {
    let page = man(Demo::command(), ExitCodes::Unix);
    let synopsis = page
        .lines()
        .skip_while(|l| *l != ".SH SYNOPSIS")
        .nth(1)
        .unwrap();
    for part in [
        r"[\fB\-\-listen\fR \fIADDR\fR]",
        r"[\fB\-\-to\fR \fINAME\fR]...",
        r"[\fB\-x\fR|\fB\-\-quick\fR]",
        r"[\fITARGET\fR...]",
    ] {
        assert!(synopsis.contains(part), "{part} not in {synopsis}");
    }
}

#[test]
fn the_after_help_becomes_sections_in_order() {
    let page = man(Demo::command(), ExitCodes::Nagios);
    let sections: Vec<&str> = page
        .lines()
        .filter_map(|l| l.strip_prefix(".SH "))
        .collect();
    let options = sections.iter().position(|s| *s == "OPTIONS").unwrap();
    assert_eq!(
        sections[options + 1..],
        [
            "RANGES",
            "\"EXIT STATUS\"",
            "ENVIRONMENT",
            "EXAMPLES",
            "\"SEE ALSO\""
        ],
        "{page}"
    );
    assert!(!page.contains(".SH EXTRA"), "{page}");
    assert_eq!(page.matches(".ds Aq").count(), 2, "one preamble: {page}");
    assert!(
        page.contains(".TP\n\\fBhb\\-demo a b\\fR\nTwo targets.\n"),
        "{page}"
    );
    assert!(page.contains("hb\\-listen(1), hb\\-ack(1)"), "{page}");
}

#[test]
fn tools_with_a_unit_have_files() {
    let page = man(Demo::command().name("hb-listen"), ExitCodes::Unix);
    assert!(
        page.contains(".SH FILES\n.TP\n\\fB/etc/default/hb\\-listen\\fR"),
        "{page}"
    );
    assert!(page.contains("HB_LISTEN_OPTS"), "{page}");
    assert!(!man(Demo::command(), ExitCodes::Unix).contains(".SH FILES"));
}

#[test]
fn blocks_split_on_headings() {
    let text = "Ranges: a,\nb.\n\nExamples:\n  x  # y\n\n  z";
    let blocks = blocks(text);
    assert_eq!(blocks.len(), 2);
    assert_eq!(
        (blocks[0].heading.as_str(), blocks[0].lead),
        ("RANGES", "a,")
    );
    assert_eq!(blocks[1].lines, ["  x  # y", "  z"]);
}
