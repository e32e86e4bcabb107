//! What a flag's value becomes: the value parsers clap calls (their error
//! text ends up in the one-line usage error naming the flag), the readers
//! of list and input files, and the default node name.

use std::io;
use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use anyhow::Context;

use crate::wire;

/// The longest duration any flag takes: a week, the longest interval a
/// beat may state.
pub const MAX_DURATION: Duration = Duration::from_millis(wire::MAX_EVERY_MS);
/// The shortest interval of something repeated (beats, rounds, status
/// lines, views, checks), as a beat's `every_ms` may state it.
pub const MIN_INTERVAL: Duration = Duration::from_millis(wire::MIN_EVERY_MS);
/// The shortest timeout or window: hb's clocks count whole milliseconds.
pub const MIN_DURATION: Duration = Duration::from_millis(1);

/// `--timeout 2s`, `--max-skew 30s`: a humantime duration from 1ms to 7
/// days.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    duration_within(s, MIN_DURATION)
}

/// `--every 250ms`: the interval of something repeated, 10ms to 7 days.
pub fn parse_interval(s: &str) -> Result<Duration, String> {
    duration_within(s, MIN_INTERVAL)
}

/// A duration of at least `min`, up to 7 days: one minimum, said once.
pub fn parse_duration_from(s: &str, min: Duration) -> Result<Duration, String> {
    duration_within(s, min)
}

/// `--acceptable-pause 0ms`: a duration that may be zero, up to 7 days.
pub fn parse_pause(s: &str) -> Result<Duration, String> {
    duration_within(s, Duration::ZERO)
}

/// `--timeout 10` (seconds, as Nagios plugins take it) or `--timeout 500ms`:
/// 1ms to 7 days.
pub fn parse_timeout(s: &str) -> Result<Duration, String> {
    match s.parse::<f64>() {
        Ok(secs) if secs < 0.0 => Err(NEGATIVE.into()),
        Ok(secs) if secs.is_finite() && secs <= MAX_DURATION.as_secs_f64() => {
            within(Duration::from_secs_f64(secs), MIN_DURATION)
        }
        Ok(_) => Err(too_long()),
        Err(_) => parse_duration(s),
    }
}

/// What a negative duration is told. Such values reach the parser because
/// duration flags take values starting with '-' (`allow_hyphen_values`),
/// which clap would otherwise read as flags ("unexpected argument '-1'").
const NEGATIVE: &str = "durations cannot be negative";

/// A humantime duration from `min` to [`MAX_DURATION`].
fn duration_within(s: &str, min: Duration) -> Result<Duration, String> {
    if let Some(rest) = s.trim_start().strip_prefix('-') {
        return Err(
            match rest.starts_with(|c: char| c.is_ascii_digit() || c == '.') {
                true => NEGATIVE.into(),
                // `--every --once`: the value was forgotten.
                false => "expected a duration (try 500ms, 2s, 1m), not a flag".into(),
            },
        );
    }
    let d = humantime::parse_duration(s).map_err(|e| format!("{e} (try 500ms, 2s, 1m)"))?;
    within(d, min)
}

fn within(d: Duration, min: Duration) -> Result<Duration, String> {
    if d < min {
        return Err(format!(
            "must be at least {}",
            humantime::format_duration(min)
        ));
    }
    if d > MAX_DURATION {
        return Err(too_long());
    }
    Ok(d)
}

fn too_long() -> String {
    format!(
        "must be at most {}",
        humantime::format_duration(MAX_DURATION)
    )
}

/// `--node NAME`: 1 to 253 bytes, as [`wire::check_node`] takes them.
pub fn parse_node(s: &str) -> Result<String, String> {
    wire::check_node(s)
        .map(|()| s.to_owned())
        .map_err(|_| NODE_RULE.into())
}

/// What a node name must be, for messages.
const NODE_RULE: &str = "a node name is 1 to 253 bytes, with no control or invisible characters (zero-width, bidirectional) and no space at either end";

/// A phi level: a positive number.
pub fn parse_phi(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v > 0.0 && v.is_finite() => Ok(v),
        _ => Err("a phi level is a positive number (1 = 10%, 8 = 1e-8)".into()),
    }
}

/// A chance: a number from 0 to 1, 1 excluded.
pub fn parse_chance(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if (0.0..1.0).contains(&v) => Ok(v),
        _ => Err("a chance is a number from 0 up to 1 (1e-6: one in a million)".into()),
    }
}

/// `--join GROUP`: a multicast address.
pub fn parse_multicast(s: &str) -> Result<IpAddr, String> {
    let ip: IpAddr = s
        .parse()
        .map_err(|_| format!("'{s}' is not an IP address"))?;
    if !ip.is_multicast() {
        return Err(format!(
            "{ip} is not a multicast group (224.0.0.0/4, ff00::/8)"
        ));
    }
    Ok(ip)
}

/// Reads a list file: one entry per line, `#` starts a comment, blank
/// lines are skipped; `-` is standard input. Its entries are read from
/// the text, not copied: a poller reads a file of thousands of targets
/// at every start.
pub fn read_list(path: &Path) -> anyhow::Result<List> {
    let text = if path.as_os_str() == "-" {
        io::read_to_string(io::stdin().lock()).context("reading standard input")?
    } else {
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?
    };
    Ok(List(text))
}

/// A list file's text (see [`read_list`]).
pub struct List(String);

impl List {
    /// Each entry, with its line number: a line up to its `#`, trimmed.
    /// Lines and comments are found a byte at a time: in a list of ten
    /// thousand short lines, the standard library's searches cost more to
    /// set up than to run.
    pub fn entries(&self) -> impl Iterator<Item = (usize, &str)> {
        let text = self.0.as_str();
        let mut start = 0;
        let lines = std::iter::from_fn(move || {
            let rest = text.get(start..).filter(|rest| !rest.is_empty())?;
            let len = rest.bytes().position(|b| b == b'\n').unwrap_or(rest.len());
            start += len + 1;
            Some(&rest[..len])
        });
        lines.enumerate().filter_map(|(i, line)| {
            let comment = line.bytes().position(|b| b == b'#');
            let entry = line[..comment.unwrap_or(line.len())].trim();
            (!entry.is_empty()).then_some((i + 1, entry))
        })
    }
}

/// Opens `path` for reading line by line; `-` is standard input.
pub fn open_input(path: &Path) -> anyhow::Result<Box<dyn io::BufRead + Send>> {
    if path.as_os_str() == "-" {
        return Ok(Box::new(io::BufReader::new(io::stdin())));
    }
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    // Opening a directory succeeds; reading it fails later with an error
    // that names nothing.
    if file.metadata().is_ok_and(|m| m.is_dir()) {
        anyhow::bail!("{} is a directory, not a file of lines", path.display());
    }
    Ok(Box::new(io::BufReader::new(file)))
}

/// This machine's host name, the default node name.
pub fn host_name() -> String {
    sysinfo::System::host_name()
        .ok()
        .filter(|n| wire::check_node(n).is_ok())
        .unwrap_or_else(|| "localhost".to_owned())
}
