//! What every hb binary does the same way: parse flags with one-line
//! errors, map failures to exit codes, stop cleanly on SIGINT/SIGTERM,
//! treat a closed stdout as a normal end, and print its own man page and
//! completions (`--generate`, used by `scripts/generate-docs`).

use std::ffi::OsString;
use std::io::{self, Write};
use std::path::Path;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;

/// How hb-listen and `hb-poll --every` judge silence: the flags both share.
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "Failure detector")]
pub struct DetectorArgs {
    /// fixed: down after --misses intervals of silence; phi: the adaptive phi accrual detector
    #[arg(long, value_enum, default_value_t = DetectorKind::Fixed)]
    pub detector: DetectorKind,

    /// Fixed detector: down after N of a node's intervals of silence (hb-poll: N failed rounds) [default: 5; hb-poll: 3]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub misses: Option<u32>,

    /// Phi detector: down when phi reaches this
    #[arg(long, value_name = "PHI", default_value_t = 8.0, value_parser = parse_phi)]
    pub phi_threshold: f64,

    /// Phi detector: suspect when phi reaches this
    #[arg(long, value_name = "PHI", default_value_t = 5.0, value_parser = parse_phi)]
    pub phi_suspect: f64,

    /// Phi detector: floor of the inter-arrival standard deviation
    #[arg(long, value_name = "DURATION", default_value = "100ms", value_parser = parse_duration)]
    pub min_std_dev: Duration,

    /// Phi detector: silence always tolerated on top of the mean interval
    #[arg(long, value_name = "DURATION", default_value = "0ms", value_parser = humantime::parse_duration)]
    pub acceptable_pause: Duration,

    /// Phi detector: inter-arrival times remembered per node
    #[arg(long, value_name = "N", default_value_t = 1000,
          value_parser = clap::value_parser!(u32).range(2..=100_000))]
    pub phi_window: u32,

    /// Flap damping: a down node needs N consecutive beats before it is up again
    #[arg(long, value_name = "N", default_value_t = 1,
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub up_after: u32,

    /// Report `flapping` when a node changes between up and down more than K times within --flap-window (0: never)
    #[arg(long, value_name = "K", default_value_t = 4)]
    pub flap_changes: u32,

    /// The window of --flap-changes
    #[arg(long, value_name = "DURATION", default_value = "1m", value_parser = parse_duration)]
    pub flap_window: Duration,
}

/// `--key-file`: the one flag every tool has for authentication.
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "Security")]
pub struct KeyArgs {
    /// Sign every message and accept only signed ones, with the keys in FILE (HMAC-SHA256; one key per line, the first signs, any verifies; mode 600)
    #[arg(long, value_name = "FILE", env = "HB_KEY_FILE", hide_env_values = true)]
    pub key_file: Option<std::path::PathBuf>,
}

impl KeyArgs {
    pub fn codec(&self) -> anyhow::Result<crate::auth::Codec> {
        let keys = self
            .key_file
            .as_deref()
            .map(crate::auth::Keys::load)
            .transpose()?;
        Ok(crate::auth::Codec::new(keys))
    }
}

/// What receivers (hb-listen, hb-ack) take from whom, and how much.
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "Security")]
pub struct IntakeArgs {
    /// Accept messages only from this address range (repeatable: 10.0.0.0/8, 2001:db8::/32, 192.0.2.7) [default: from anywhere]
    #[arg(long, value_name = "CIDR")]
    pub allow: Vec<crate::intake::Cidr>,

    /// Print a `rejected` line for every refused message (at most 10 a second)
    #[arg(long)]
    pub log_rejects: bool,

    /// With --key-file: how far a new boot's clock may be from this one's
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_duration)]
    pub max_skew: Duration,

    /// Nodes tracked at most; beats from new ones beyond are refused (too-many-nodes)
    #[arg(long, value_name = "N", default_value_t = 100_000,
          value_parser = clap::value_parser!(u64).range(1..=100_000_000))]
    pub max_nodes: u64,
}

impl IntakeArgs {
    pub fn intake(&self, codec: crate::auth::Codec) -> crate::intake::Intake {
        crate::intake::Intake::new(codec, self.allow.clone(), self.log_rejects)
    }
}

/// `--check`: plugin checks carried in beats (hb-send) or replies (hb-ack).
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "Checks")]
pub struct CheckArgs {
    /// Run CMD (through sh -c; any Nagios plugin works) and carry its status and first output line; NAME=CMD names it (repeatable)
    #[arg(long = "check", value_name = "[NAME=]CMD")]
    pub checks: Vec<crate::checks::CheckSpec>,

    /// How often the checks run (in the background; the first round before the first beat)
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
    pub check_every: Duration,

    /// A check still running after this is killed and unknown
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
    pub check_timeout: Duration,
}

impl CheckArgs {
    /// The running checks, if any were given.
    pub fn start(&self) -> Option<crate::checks::Checks> {
        (!self.checks.is_empty()).then(|| {
            crate::checks::Checks::start(self.checks.clone(), self.check_every, self.check_timeout)
        })
    }
}

/// `--metrics ADDR`: Prometheus metrics over HTTP.
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "Metrics")]
pub struct MetricsArgs {
    /// Serve Prometheus metrics on http://ADDR/metrics (port 0 picks a free one)
    #[arg(long, value_name = "ADDR", value_parser = |s: &str| crate::net::HostPort::parse(s, 9100))]
    pub metrics: Option<crate::net::HostPort>,
}

impl MetricsArgs {
    /// Starts the metrics server if asked, saying where on stderr.
    pub fn serve(&self, tool: &str) -> anyhow::Result<Option<crate::metrics::Metrics>> {
        let Some(addr) = &self.metrics else {
            return Ok(None);
        };
        let resolved = addr
            .resolve()
            .with_context(|| format!("resolving --metrics {addr}"))?;
        let metrics = crate::metrics::Metrics::new(tool);
        let bound = crate::metrics::serve(metrics.clone(), resolved)
            .with_context(|| format!("serving metrics on {resolved}"))?;
        eprintln!("{tool}: metrics on http://{bound}/metrics");
        Ok(Some(metrics))
    }
}

/// `--detector`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DetectorKind {
    Fixed,
    Phi,
}

impl DetectorArgs {
    /// The detector configuration; `default_misses` is the binary's own.
    pub fn config(
        &self,
        default_misses: u32,
        default_every_ms: crate::clock::Millis,
        emit_beats: bool,
        max_nodes: usize,
    ) -> Result<crate::detector::Config, UsageError> {
        use crate::clock::duration_ms;
        use crate::detector::{Config, Flap, Rule};
        if self.phi_suspect > self.phi_threshold {
            return Err(UsageError(format!(
                "--phi-suspect {} is above --phi-threshold {}",
                self.phi_suspect, self.phi_threshold
            )));
        }
        let rule = match self.detector {
            DetectorKind::Fixed => Rule::Fixed {
                misses: self.misses.unwrap_or(default_misses),
            },
            DetectorKind::Phi if self.misses.is_some() => {
                return Err(UsageError("--misses is for --detector fixed".into()))
            }
            DetectorKind::Phi => Rule::Phi(crate::phi::PhiConfig {
                suspect: self.phi_suspect,
                threshold: self.phi_threshold,
                min_std_dev_ms: self.min_std_dev.as_secs_f64() * 1000.0,
                acceptable_pause_ms: self.acceptable_pause.as_secs_f64() * 1000.0,
                window: self.phi_window as usize,
            }),
        };
        Ok(Config {
            rule,
            default_every_ms,
            emit_beats,
            up_after: self.up_after,
            flap: (self.flap_changes > 0).then(|| Flap {
                changes: self.flap_changes,
                window_ms: duration_ms(self.flap_window),
            }),
            max_nodes,
        })
    }
}

/// A phi level: a positive number.
fn parse_phi(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v > 0.0 && v.is_finite() => Ok(v),
        _ => Err("a phi level is a positive number (1 = 10%, 8 = 1e-8)".into()),
    }
}

/// Exit codes of a binary: hb-poll follows the Nagios plugin convention
/// (3, UNKNOWN, for both), the others the usual Unix one.
#[derive(Debug, Clone, Copy)]
pub struct ExitCodes {
    /// A bad flag or argument.
    pub usage: u8,
    /// A runtime error (a port in use, an unreadable file).
    pub failure: u8,
}

impl ExitCodes {
    pub const UNIX: ExitCodes = ExitCodes {
        usage: 2,
        failure: 1,
    };
}

/// Runs a binary: parses `A` from the command line and calls `body`.
pub fn main<A: Parser>(codes: ExitCodes, body: fn(A) -> anyhow::Result<ExitCode>) -> ExitCode {
    let argv: Vec<OsString> = std::env::args_os().collect();
    let name = A::command().get_name().to_owned();
    if argv.get(1).is_some_and(|a| a == "--generate") {
        return generate(A::command(), argv.get(2).and_then(|k| k.to_str()));
    }
    let args = match A::try_parse_from(&argv) {
        Ok(args) => args,
        Err(e) if !e.use_stderr() => {
            // --help and --version: print as clap would and succeed.
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("{name}: {}", one_line(&e));
            return ExitCode::from(codes.usage);
        }
    };
    match body(args) {
        Ok(code) => code,
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) if e.is::<UsageError>() => {
            eprintln!("{name}: error: {e}");
            ExitCode::from(codes.usage)
        }
        Err(e) => {
            eprintln!("{name}: error: {e:#}");
            ExitCode::from(codes.failure)
        }
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

/// A flag set by SIGINT or SIGTERM, which long-running loops poll; a second
/// signal ends the process at once, for a loop that is stuck.
pub fn stop_on_signals() -> io::Result<Arc<AtomicBool>> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    use signal_hook::flag;
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [SIGINT, SIGTERM] {
        flag::register_conditional_shutdown(sig, 1, Arc::clone(&stop))?;
        flag::register(sig, Arc::clone(&stop))?;
    }
    Ok(stop)
}

/// Binds `--listen ADDR` and says where on stderr (`NAME: listening on
/// 127.0.0.1:40000`), which matters when port 0 let the system pick. A
/// listener that joins `multicast` groups shares its port with others.
pub fn listen_on(
    name: &str,
    addr: &crate::net::HostPort,
    multicast: &[std::net::IpAddr],
) -> anyhow::Result<std::net::UdpSocket> {
    use crate::net;
    let resolved = addr
        .resolve()
        .with_context(|| format!("resolving --listen {addr}"))?;
    let socket = if multicast.is_empty() {
        net::bind_udp(resolved)
    } else {
        net::bind_udp_shared(resolved)
    }
    .with_context(|| format!("listening on {resolved}"))?;
    for group in multicast {
        net::join_multicast(&socket, *group)
            .with_context(|| format!("joining multicast group {group}"))?;
    }
    eprintln!("{name}: listening on {}", socket.local_addr()?);
    Ok(socket)
}

/// Writes the man page or a shell completion script for `cmd` to stdout.
fn generate(mut cmd: clap::Command, kind: Option<&str>) -> ExitCode {
    use clap_complete::Shell;
    let name = cmd.get_name().to_owned();
    let mut out = Vec::new();
    let shell = match kind {
        Some("man") => {
            if let Err(e) = clap_mangen::Man::new(cmd.clone()).render(&mut out) {
                eprintln!("{name}: error: {e}");
                return ExitCode::FAILURE;
            }
            None
        }
        Some("bash") => Some(Shell::Bash),
        Some("zsh") => Some(Shell::Zsh),
        Some("fish") => Some(Shell::Fish),
        _ => {
            eprintln!("{name}: --generate takes one of: man, bash, zsh, fish");
            return ExitCode::from(2);
        }
    };
    if let Some(shell) = shell {
        clap_complete::generate(shell, &mut cmd, name, &mut out);
    }
    match io::stdout().write_all(&out) {
        Ok(()) => ExitCode::SUCCESS,
        Err(_) => ExitCode::FAILURE,
    }
}

/// `--every 250ms`, `--timeout 2s`: a humantime duration, never zero.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(s).map_err(|e| format!("{e} (try 500ms, 2s, 1m)"))?;
    if d.is_zero() {
        return Err("must be longer than zero".into());
    }
    Ok(d)
}

/// `--timeout 10` (seconds, as Nagios plugins take it) or `--timeout 500ms`.
pub fn parse_timeout(s: &str) -> Result<Duration, String> {
    match s.parse::<f64>() {
        Ok(secs) if secs > 0.0 && secs.is_finite() => Ok(Duration::from_secs_f64(secs)),
        Ok(_) => Err("must be longer than zero".into()),
        Err(_) => parse_duration(s),
    }
}

/// `--node NAME`: 1 to 253 bytes, no control characters.
pub fn parse_node(s: &str) -> Result<String, String> {
    crate::wire::check_node(s)
        .map(|()| s.to_owned())
        .map_err(|_| "a node name is 1 to 253 bytes with no control characters".into())
}

/// Reads a list file: one entry per line, `#` starts a comment, blank
/// lines are skipped; `-` is standard input. Returns (line number, entry).
pub fn read_list(path: &Path) -> anyhow::Result<Vec<(usize, String)>> {
    let text = if path.as_os_str() == "-" {
        io::read_to_string(io::stdin().lock()).context("reading standard input")?
    } else {
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?
    };
    Ok(text
        .lines()
        .enumerate()
        .filter_map(|(i, line)| {
            let entry = line.split('#').next().unwrap_or("").trim();
            (!entry.is_empty()).then(|| (i + 1, entry.to_owned()))
        })
        .collect())
}

/// Opens `path` for reading line by line; `-` is standard input.
pub fn open_input(path: &Path) -> anyhow::Result<Box<dyn io::BufRead + Send>> {
    if path.as_os_str() == "-" {
        return Ok(Box::new(io::BufReader::new(io::stdin())));
    }
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    Ok(Box::new(io::BufReader::new(file)))
}

/// This machine's host name, the default node name.
pub fn host_name() -> String {
    sysinfo::System::host_name()
        .ok()
        .filter(|n| crate::wire::check_node(n).is_ok())
        .unwrap_or_else(|| "localhost".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
