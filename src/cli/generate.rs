//! `--generate man|bash|zsh|fish`: a tool's man page and shell completions,
//! made from its flag definitions so they never drift from `--help`
//! (`scripts/generate-docs` writes them to man/ and completions/).

use std::io::{self, Write};
use std::process::ExitCode;

use clap_complete::Shell;

use super::{Exit, ExitCodes};

/// Writes the man page or a shell completion script for `cmd` to stdout.
/// `--generate` is for packagers, not for Nagios: it answers in Unix exit
/// codes, hb-poll too.
pub(super) fn write(mut cmd: clap::Command, kind: Option<&str>) -> ExitCode {
    let name = cmd.get_name().to_owned();
    let mut out = Vec::new();
    let shell = match kind {
        Some("man") => {
            if let Err(e) = clap_mangen::Man::new(cmd.clone()).render(&mut out) {
                eprintln!("{name}: error: {e}");
                return ExitCodes::Unix.code(Exit::Failure);
            }
            None
        }
        Some("bash") => Some(Shell::Bash),
        Some("zsh") => Some(Shell::Zsh),
        Some("fish") => Some(Shell::Fish),
        _ => {
            eprintln!("{name}: --generate takes one of: man, bash, zsh, fish");
            return ExitCodes::Unix.code(Exit::Usage);
        }
    };
    if let Some(shell) = shell {
        clap_complete::generate(shell, &mut cmd, name, &mut out);
    }
    match io::stdout().write_all(&out) {
        Ok(()) => ExitCodes::Unix.code(Exit::Ok),
        Err(_) => ExitCodes::Unix.code(Exit::Failure),
    }
}
