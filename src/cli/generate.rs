//! `--generate man|bash|zsh|fish`: a tool's man page and shell completions,
//! made from its flag definitions so they never drift from `--help`
//! (`scripts/generate-docs` writes them to man/ and completions/).
//!
//! `--help` and the man page share one text after the flags: the tool's
//! own blocks (its examples), then its exit status and environment, which
//! [`documented`] adds from the exit codes and the flags. The man page
//! turns each `Heading:` block into a section (EXAMPLES, EXIT STATUS,
//! ENVIRONMENT, ...), and adds FILES and SEE ALSO.

use std::io::{self, Write};
use std::process::ExitCode;

use clap::{Arg, ArgAction, Command};
use clap_complete::Shell;
use clap_mangen::roff::{bold, italic, roman, Inline, Roff};
use clap_mangen::Man;

use super::{Exit, ExitCodes};

/// The tools with a systemd unit in contrib/systemd, which reads their
/// options from /etc/default/TOOL and hands them /etc/hb/key.
const UNITS: [&str; 3] = ["hb-send", "hb-listen", "hb-ack"];

/// Every tool, for SEE ALSO.
const TOOLS: [&str; 4] = ["hb-send", "hb-listen", "hb-ack", "hb-poll"];

/// The flags of a one-shot run (hb-send's), whose exit code says whether
/// it did its one job.
const ONE_SHOT: [&str; 3] = ["once", "count", "away"];

/// `cmd` with its exit status and environment after its own after-help,
/// as `--help` shows them and the man page has them.
pub(super) fn documented(cmd: Command, codes: ExitCodes) -> Command {
    let mut blocks: Vec<String> = cmd
        .get_after_help()
        .map(|h| h.to_string())
        .into_iter()
        .collect();
    let one_shot: Vec<String> = ONE_SHOT
        .iter()
        .filter(|&&flag| cmd.get_arguments().any(|a| a.get_long() == Some(flag)))
        .map(|flag| format!("--{flag}"))
        .collect();
    let one_shot = match one_shot.as_slice() {
        [] => None,
        [one] => Some(one.clone()),
        [first @ .., last] => Some(format!("{} or {last}", first.join(", "))),
    };
    let codes = codes.meanings(one_shot.as_deref());
    blocks.push(block(
        "Exit status",
        codes
            .iter()
            .map(|(code, what)| (code.to_string(), what.clone())),
    ));
    let mut environment: Vec<(String, String)> = cmd
        .get_arguments()
        .filter_map(|arg| {
            let var = arg.get_env()?.to_string_lossy().into_owned();
            Some((
                var,
                format!("stands for --{}, when it is not given", arg.get_long()?),
            ))
        })
        .collect();
    if cmd
        .get_arguments()
        .any(|a| a.get_long() == Some("key-file"))
    {
        environment.push((
            "CREDENTIALS_DIRECTORY".into(),
            "set by systemd's LoadCredential=: a key file there is taken whatever its mode".into(),
        ));
    }
    if !environment.is_empty() {
        blocks.push(block("Environment", environment.into_iter()));
    }
    cmd.after_help(blocks.join("\n\n"))
}

/// A `Heading:` block of terms, each with what it means, the meanings
/// lined up.
fn block(heading: &str, terms: impl Iterator<Item = (String, String)>) -> String {
    let terms: Vec<(String, String)> = terms.collect();
    let width = terms.iter().map(|(t, _)| t.len()).max().unwrap_or(0);
    let lines: Vec<String> = terms
        .iter()
        .map(|(term, what)| format!("  {term:width$}  {what}"))
        .collect();
    format!("{heading}:\n{}", lines.join("\n"))
}

/// Writes the man page or a shell completion script for `cmd` to stdout.
/// `--generate` is for packagers, not for Nagios: it answers in Unix exit
/// codes, hb-poll too.
pub(super) fn write(mut cmd: Command, kind: Option<&str>) -> ExitCode {
    let name = cmd.get_name().to_owned();
    let mut out = Vec::new();
    match kind {
        Some("man") => {
            if let Err(e) = man_page(cmd, &mut out) {
                crate::say!("error: {e}");
                return ExitCodes::Unix.code(Exit::Failure);
            }
        }
        Some(kind @ ("bash" | "zsh" | "fish")) => {
            let shell = match kind {
                "bash" => Shell::Bash,
                "zsh" => Shell::Zsh,
                _ => Shell::Fish,
            };
            clap_complete::generate(shell, &mut cmd, name, &mut out);
        }
        _ => {
            crate::say!("--generate takes one of: man, bash, zsh, fish");
            return ExitCodes::Unix.code(Exit::Usage);
        }
    }
    match io::stdout().write_all(&out) {
        Ok(()) => ExitCodes::Unix.code(Exit::Ok),
        Err(_) => ExitCodes::Unix.code(Exit::Failure),
    }
}

/// The sections of man-pages(7), in its order, that the after-help's
/// blocks fill; a block with another heading comes before them, after
/// the options it explains.
const ORDERED: [&str; 3] = ["EXIT STATUS", "ENVIRONMENT", "EXAMPLES"];

/// The date in the pages' title, that of the last change to what they
/// say (man-pages(7) wants one, in this form): moved on with the version.
const PAGES_DATE: &str = "2026-12-07";

/// The man page: clap_mangen's title, name, description and options; a
/// synopsis that shows each option's argument and which ones repeat; then
/// the after-help's blocks as sections, FILES and SEE ALSO (the version is
/// in the title).
fn man_page(cmd: Command, out: &mut Vec<u8>) -> io::Result<()> {
    let name = cmd.get_name().to_owned();
    let after_help = cmd
        .get_after_help()
        .map(|h| h.to_string())
        .unwrap_or_default();
    let blocks = blocks(&after_help);
    // Each of clap_mangen's renderers writes its own copy of the roff
    // preamble: only the first is kept.
    let man = Man::new(cmd.clone()).date(PAGES_DATE);
    man.render_title(out)?;
    let mut section = Vec::new();
    man.render_name_section(&mut section)?;
    without_preamble(&String::from_utf8_lossy(&section), out);
    let mut roff = Roff::new();
    synopsis(&mut roff, &cmd);
    without_preamble(&roff.render(), out);
    let mut section = Vec::new();
    man.render_description_section(&mut section)?;
    without_preamble(&String::from_utf8_lossy(&section), out);
    let mut section = Vec::new();
    man.render_options_section(&mut section)?;
    without_preamble(&String::from_utf8_lossy(&section), out);

    let mut roff = Roff::new();
    let (ordered, others): (Vec<_>, Vec<_>) = blocks
        .iter()
        .partition(|b| ORDERED.contains(&b.heading.as_str()));
    for block in others {
        block.render(&mut roff);
    }
    for heading in ORDERED {
        if heading == "EXAMPLES" {
            files(&mut roff, &name);
        }
        for block in ordered.iter().filter(|b| b.heading == heading) {
            block.render(&mut roff);
        }
    }
    roff.control("SH", ["SEE ALSO"]);
    let others: Vec<String> = TOOLS
        .iter()
        .filter(|&&tool| tool != name)
        .map(|tool| format!("{tool}(1)"))
        .collect();
    roff.text([roman(others.join(", "))]);
    without_preamble(&roff.render(), out);
    Ok(())
}

/// Appends roff text to `out` without the preamble every render starts
/// with (the title's copy is the page's). A blank line between two line
/// breaks (how clap_mangen sets off a flag's possible values) is one
/// paragraph space: roff would skip the breaks around it anyway.
fn without_preamble(text: &str, out: &mut Vec<u8>) {
    let body: Vec<&str> = text
        .lines()
        .skip_while(|l| l.starts_with(".ie \\n(.g") || l.starts_with(".el .ds Aq"))
        .collect();
    let mut i = 0;
    while i < body.len() {
        let line = match body[i..] {
            [".br", "", ".br", ..] => {
                i += 2;
                ".sp"
            }
            _ => body[i],
        };
        out.extend_from_slice(line.as_bytes());
        out.push(b'\n');
        i += 1;
    }
}

/// SYNOPSIS: every option with its argument (`--listen ADDR`), `...` after
/// those that repeat, then the positionals (`[TARGET...]`).
fn synopsis(roff: &mut Roff, cmd: &Command) {
    let mut line = vec![bold(cmd.get_name()), roman(" ")];
    let shown = |a: &&Arg| !a.is_hide_set();
    for arg in cmd
        .get_arguments()
        .filter(|a| !a.is_positional())
        .filter(shown)
    {
        let flags = match (arg.get_short(), arg.get_long()) {
            (Some(short), Some(long)) => {
                vec![
                    bold(format!("-{short}")),
                    roman("|"),
                    bold(format!("--{long}")),
                ]
            }
            (Some(short), None) => vec![bold(format!("-{short}"))],
            (None, Some(long)) => vec![bold(format!("--{long}"))],
            (None, None) => continue,
        };
        line.push(roman("["));
        line.extend(flags);
        if arg.get_action().takes_values() {
            line.extend([roman(" "), italic(value_name(arg))]);
        }
        line.push(roman("]"));
        if repeats(arg) {
            line.push(roman("..."));
        }
        line.push(roman(" "));
    }
    for arg in cmd.get_positionals().filter(shown) {
        let dots = if repeats(arg) { "..." } else { "" };
        let (open, close) = if arg.is_required_set() {
            ("", "")
        } else {
            ("[", "]")
        };
        line.extend([
            roman(open),
            italic(value_name(arg)),
            roman(format!("{dots}{close} ")),
        ]);
    }
    roff.control("SH", ["SYNOPSIS"]);
    roff.text(line);
}

fn value_name(arg: &Arg) -> String {
    arg.get_value_names()
        .map(|names| names.join(" "))
        .unwrap_or_else(|| arg.get_id().as_str().to_uppercase())
}

fn repeats(arg: &Arg) -> bool {
    matches!(arg.get_action(), ArgAction::Append | ArgAction::Count)
}

/// FILES, for a tool run by a unit of contrib/systemd.
fn files(roff: &mut Roff, name: &str) {
    if !UNITS.contains(&name) {
        return;
    }
    let variable = format!("HB_{}_OPTS", name.trim_start_matches("hb-").to_uppercase());
    roff.control("SH", ["FILES"]);
    let entries = [
        (
            format!("/etc/default/{name}"),
            format!("The options of the systemd unit {name}.service, in {variable}."),
        ),
        (
            "/etc/hb/key".to_owned(),
            format!(
                "The key file the unit hands {name} a copy of (LoadCredential=), as HB_KEY_FILE."
            ),
        ),
    ];
    for (path, what) in entries {
        roff.control("TP", []);
        roff.text([bold(path)]);
        roff.text([roman(what)]);
    }
}

/// One `Heading:` block of the after-help, as a man page section.
#[derive(Debug, PartialEq)]
struct Block<'a> {
    /// Its heading, in capitals: `EXAMPLES`, `EXIT STATUS`.
    heading: String,
    /// What follows the heading on its own line (`Ranges: 10 (...)`).
    lead: &'a str,
    /// Its other lines.
    lines: Vec<&'a str>,
}

/// The after-help's blocks: paragraphs (separated by blank lines) that
/// start with `Heading:`; a paragraph without one continues the block
/// before it.
fn blocks(text: &str) -> Vec<Block<'_>> {
    let mut blocks: Vec<Block> = Vec::new();
    for paragraph in text.split("\n\n") {
        let mut lines = paragraph.lines();
        let first = lines.next().unwrap_or("");
        let heading = first
            .split_once(':')
            .filter(|(h, _)| !h.is_empty() && h.chars().all(|c| c.is_alphabetic() || c == ' '));
        match (heading, blocks.last_mut()) {
            (Some((heading, lead)), _) => blocks.push(Block {
                heading: heading.to_uppercase(),
                lead: lead.trim(),
                lines: lines.collect(),
            }),
            (None, Some(last)) => last.lines.extend(paragraph.lines()),
            (None, None) => blocks.push(Block {
                heading: "NOTES".into(),
                lead: "",
                lines: paragraph.lines().collect(),
            }),
        }
    }
    blocks
}

impl Block<'_> {
    /// Indented lines are entries: `  TERM  MEANING` (a command and its
    /// `# comment` in EXAMPLES); other lines are running text.
    fn render(&self, roff: &mut Roff) {
        roff.control("SH", [self.heading.as_str()]);
        let mut text: Vec<&str> = Vec::new();
        text.extend(Some(self.lead).filter(|l| !l.is_empty()));
        // A section starts a paragraph: text first in it needs no .PP.
        let mut first = true;
        let flush = |roff: &mut Roff, text: &mut Vec<&str>, first: &mut bool| {
            if !text.is_empty() {
                if !std::mem::take(first) {
                    roff.control("PP", []);
                }
                roff.text([roman(text.join(" "))]);
                text.clear();
            }
        };
        for line in &self.lines {
            let Some(entry) = line.strip_prefix("  ") else {
                text.push(line.trim());
                continue;
            };
            flush(roff, &mut text, &mut first);
            first = false;
            let (term, what) = if self.heading == "EXAMPLES" {
                entry.split_once("  # ").unwrap_or((entry, ""))
            } else {
                entry.split_once("  ").unwrap_or((entry, ""))
            };
            roff.control("TP", []);
            roff.text([bold(term.trim())]);
            let what = what.trim();
            if !what.is_empty() {
                roff.text(sentence(what));
            }
        }
        flush(roff, &mut text, &mut first);
    }
}

/// A comment or meaning as a sentence: capitalised, with a full stop.
fn sentence(what: &str) -> Vec<Inline> {
    let mut chars = what.chars();
    let first = chars
        .next()
        .map(|c| c.to_uppercase().to_string())
        .unwrap_or_default();
    let stop = if what.ends_with(['.', '?', '!']) {
        ""
    } else {
        "."
    };
    vec![roman(format!("{first}{}{stop}", chars.as_str()))]
}

#[cfg(test)]
mod tests;
