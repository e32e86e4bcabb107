//! What every hb binary does the same way: parse flags with one-line
//! errors, map failures to exit codes, stop cleanly on SIGINT/SIGTERM,
//! reload on SIGHUP, treat a closed stdout as a normal end, and print its own man page and
//! completions (`--generate`, used by `scripts/generate-docs`).
//!
//! The rooms:
//! - this file: the runner ([`main`]), [`UsageError`] and the flags the
//!   signals set ([`Signals`]);
//! - `exit`: how a run ends ([`Exit`]) and the code each tool gives for it
//!   ([`ExitCodes`]);
//! - `args`: the flag groups more than one tool takes (`--node`, `--listen`,
//!   `--key-file`, the failure detector's flags, ...), each defined once with
//!   its help and its defaults as named constants;
//! - `parse`: the value parsers (durations, node names, multicast groups)
//!   and what reads a flag's file (`--expect-file`, `--from`);
//! - `generate`: man pages and shell completions from the flag definitions.

mod args;
mod exit;
mod generate;
mod parse;

#[cfg(test)]
mod tests;

use std::ffi::OsString;
use std::io;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use clap::Parser;

pub use args::{
    say_listening, CheckArgs, ConfirmArgs, DetectorArgs, DetectorKind, HookArgs, IntakeArgs,
    JobArgs, KeyArgs, LimitsArgs, ListenArgs, MetricsArgs, NodeArgs, NodeSeriesArgs, StatusArgs,
    BEAT_EVERY, CRON_GRACE,
};
pub use exit::{Exit, ExitCodes};
pub use parse::{
    host_name, open_input, parse_duration, parse_duration_from, parse_interval, parse_multicast,
    parse_node, parse_pause, parse_timeout, read_list, List,
};

/// Runs a binary: installs the signals' flags, parses `A` from the command
/// line and calls `body` with both; `codes` turns how the run ended into
/// the tool's exit code.
pub fn main<A: Parser>(
    codes: ExitCodes,
    body: fn(A, Signals) -> anyhow::Result<ExitCode>,
) -> ExitCode {
    // First of all: a SIGTERM that arrives while the tool starts (a service
    // manager stopping it at once) must end it cleanly too, not by the
    // signal; a SIGHUP (`systemctl reload` at once) must not end it at all.
    let signals = Signals::install();
    // Built once: the command's whole definition is a good part of what a
    // one-probe run (hb-poll as a Nagios plugin) spends before its probe.
    let cmd = A::command();
    crate::output::set_program(cmd.get_name());
    let signals = match signals {
        Ok(signals) => signals,
        Err(e) => {
            crate::say!("error: installing signal handlers: {e}");
            return codes.code(Exit::Failure);
        }
    };
    let argv: Vec<OsString> = std::env::args_os().collect();
    if argv.get(1).is_some_and(|a| a == "--generate") {
        let cmd = generate::documented(cmd, codes);
        return generate::write(cmd, argv.get(2).and_then(|k| k.to_str()));
    }
    let parsed = cmd
        .try_get_matches_from(&argv)
        // Taken from, not copied: clap's from_arg_matches copies them all.
        .and_then(|mut matches| A::from_arg_matches_mut(&mut matches));
    let args = match parsed {
        Ok(args) => args,
        Err(e) if !e.use_stderr() => {
            // --help and --version: print as clap would and succeed. Help
            // comes from the command with its exit status and environment,
            // written only then: every other run would make them for
            // nothing.
            let documented = generate::documented(A::command(), codes);
            let e = documented.try_get_matches_from(&argv).err().unwrap_or(e);
            let _ = e.print();
            return codes.code(Exit::Ok);
        }
        Err(e) => {
            let line = one_line(&e);
            let message = line.strip_prefix("error: ").unwrap_or(&line);
            return codes.report(Exit::Usage, message);
        }
    };
    match body(args, signals) {
        Ok(code) => code,
        Err(e) if is_broken_pipe(&e) => codes.code(Exit::Ok),
        Err(e) if e.is::<UsageError>() => codes.report(Exit::Usage, &e.to_string()),
        Err(e) => codes.report(Exit::Failure, &format!("{e:#}")),
    }
}

/// A combination of flags that clap cannot check by itself (`--quorum 4`
/// with two peers): reported like any usage error, with the usage exit code.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// clap's error as one line: the message naming the flag, without the
/// usage block and the "try --help" hint.
fn one_line(e: &clap::Error) -> String {
    e.render()
        .to_string()
        .lines()
        .map(str::trim)
        .filter(|l| {
            !l.is_empty() && !l.starts_with("Usage:") && !l.starts_with("For more information")
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// A reader that went away (`hb-listen | head -1`) is a normal end.
fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| {
        cause
            .downcast_ref::<io::Error>()
            .is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe)
    })
}

/// The flags the signals set, which long-running loops poll.
#[derive(Debug, Clone)]
pub struct Signals {
    /// Set by SIGINT or SIGTERM: end cleanly. A second signal ends the
    /// process at once, for a loop that is stuck.
    pub stop: Arc<AtomicBool>,
    /// Set by SIGHUP: read the files again (see [`crate::reload`]). A tool
    /// with nothing to read again leaves it unread: SIGHUP, which would
    /// otherwise end the process, is then ignored.
    pub reload: Arc<AtomicBool>,
}

impl Signals {
    /// The signals are blocked while their actions are registered: one
    /// that arrived between two registrations would find its flag unset
    /// and be lost (the tool would run on), or a SIGHUP would end the
    /// tool; blocked, it waits and is delivered to all of them.
    fn install() -> io::Result<Signals> {
        use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
        use signal_hook::flag;
        let signals = Signals {
            stop: Arc::new(AtomicBool::new(false)),
            reload: Arc::new(AtomicBool::new(false)),
        };
        // SAFETY: sigset_t is plain data, initialised by sigemptyset before
        // use; pthread_sigmask only reads `set` and writes `previous`.
        let previous = unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            let mut previous: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            for sig in [SIGINT, SIGTERM, SIGHUP] {
                libc::sigaddset(&mut set, sig);
            }
            libc::pthread_sigmask(libc::SIG_BLOCK, &set, &mut previous);
            previous
        };
        let registered = [SIGINT, SIGTERM]
            .into_iter()
            .try_for_each(|sig| {
                flag::register_conditional_shutdown(sig, 1, Arc::clone(&signals.stop))?;
                flag::register(sig, Arc::clone(&signals.stop)).map(drop)
            })
            .and_then(|()| flag::register(SIGHUP, Arc::clone(&signals.reload)).map(drop));
        // SAFETY: restores the mask saved above.
        unsafe {
            libc::pthread_sigmask(libc::SIG_SETMASK, &previous, std::ptr::null_mut());
        }
        registered.map(|()| signals)
    }
}
