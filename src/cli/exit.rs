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

    /// Says why a run ended as `exit` (a usage or runtime error), and
    /// gives its exit code: one line on stderr, and for a Nagios plugin
    /// also its status line on stdout, which is all Nagios shows of a run.
    pub fn report(self, exit: Exit, message: &str) -> ExitCode {
        crate::say!("error: {message}");
        if self == ExitCodes::Nagios {
            println!("HB {} - {message}", State::Unknown);
        }
        self.code(exit)
    }

    /// What each exit code says, for `--help` and the man page's EXIT
    /// STATUS; `one_shot` names the flags of a run that exits 1 when it
    /// could not do its one job (hb-send's `--once`), if the tool has any.
    pub(super) fn meanings(self, one_shot: Option<&str>) -> Vec<(u8, String)> {
        match self {
            ExitCodes::Unix => {
                let also = one_shot
                    .map(|flags| format!("; with {flags}: a beat not sent or not acked"))
                    .unwrap_or_default();
                vec![
                    (0, "done as asked; also --help, SIGINT, SIGTERM and a closed stdout".into()),
                    (1, format!("a runtime error (a port in use, an unreadable file){also}")),
                    (2, "a usage error (a bad flag or value), said in one line on stderr".into()),
                ]
            }
            ExitCodes::Nagios => vec![
                (0, "OK".into()),
                (1, "WARNING: a -w or --*-warning threshold was crossed".into()),
                (2, "CRITICAL: a -c or --*-critical threshold was crossed (default: any target down)".into()),
                (3, format!("UNKNOWN: an error (\"HB {} - reason\" on stdout too, any --format), or no health to judge", State::Unknown)),
            ],
        }
    }

    /// [`code`](Self::code) as a number.
    pub(super) fn number(self, exit: Exit) -> u8 {
        match (self, exit) {
            (ExitCodes::Nagios, Exit::Usage | Exit::Failure) => State::Unknown.code(),
            (_, exit) => exit as u8,
        }
    }
}
