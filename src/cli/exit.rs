//! How a run ends, and the exit code each tool gives for it.

use std::process::ExitCode;

use crate::nagios::State;

/// How a run ended, as far as the runner can tell; the discriminants are
/// the usual Unix exit codes. A tool's own verdicts (hb-poll's Nagios
/// states, hb-send's unacknowledged beats) are codes its body returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Done as asked; also `--help`, `--version` and a reader that went away.
    Ok = 0,
    /// A runtime error: a port in use, an unreadable file, a name that does
    /// not resolve.
    Failure = 1,
    /// A bad flag or argument, or a combination of flags clap cannot check
    /// ([`UsageError`](super::UsageError)).
    Usage = 2,
}

/// The convention a tool's exit codes follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitCodes {
    /// The usual one, [`Exit`]'s own codes: usage 2, failure 1 (hb-send,
    /// hb-listen, hb-ack).
    Unix,
    /// A Nagios plugin's (hb-poll): Nagios reads any usage or runtime error
    /// as UNKNOWN (3), so both are that.
    Nagios,
}

impl ExitCodes {
    /// The exit code of a run that ended as `exit`.
    pub fn code(self, exit: Exit) -> ExitCode {
        ExitCode::from(self.number(exit))
    }

    /// Says why a run of tool `name` ended as `exit` (a usage or runtime
    /// error), and gives its exit code: one line on stderr, and for a
    /// Nagios plugin also its status line on stdout, which is all Nagios
    /// shows of a run.
    pub fn report(self, name: &str, exit: Exit, message: &str) -> ExitCode {
        eprintln!("{name}: error: {message}");
        if self == ExitCodes::Nagios {
            println!("HB {} - {message}", State::Unknown);
        }
        self.code(exit)
    }

    /// [`code`](Self::code) as a number.
    pub(super) fn number(self, exit: Exit) -> u8 {
        match (self, exit) {
            (ExitCodes::Nagios, Exit::Usage | Exit::Failure) => State::Unknown.code(),
            (_, exit) => exit as u8,
        }
    }
}
