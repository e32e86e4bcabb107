//! What a flag's value becomes: the value parsers clap calls (their error
//! text ends up in the one-line usage error naming the flag), the readers
//! of list and input files, and the default node name.

use std::io;
use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use anyhow::Context;

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

/// A phi level: a positive number.
pub fn parse_phi(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v > 0.0 && v.is_finite() => Ok(v),
        _ => Err("a phi level is a positive number (1 = 10%, 8 = 1e-8)".into()),
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
