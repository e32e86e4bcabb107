//! `hb-ack --haproxy-agent ADDR`: this node's health in the words of
//! HAProxy's agent check, so the balancer routes by health, pull-style:
//! HAProxy connects every `agent-inter`, reads one line, and sets the
//! server's state and weight from it.
//!
//! - A check critical: `drain`. The server takes no new requests, and the
//!   ones in flight finish: a failing check says the node should not be
//!   given more work, not that what it is doing now is lost. It is `ready`
//!   again as soon as the check is.
//! - A check warning or unknown: `ready up`, at half the weight.
//! - Every check ok (or none): `ready up`, at a weight from the node's
//!   idle CPU, so a busy server gets less: 100% idle is 100%, never below
//!   [`MIN_WEIGHT_PCT`] (a loaded server still takes its share rather than
//!   none, which would only move its load to the others at once).
//!
//! Bounded like every listener: one connection at a time on one thread,
//! at most [`SENT_MAX`] bytes of what HAProxy sends read, and
//! [`CONNECTION_TIME`] at most each. The line is one of a few words, a few
//! dozen bytes: it amplifies nothing (and TCP cannot answer a forged
//! source).

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use crate::checks::{worst, CheckResult, CheckStatus, Checks};
use crate::health::{Background, Health};

/// The least weight a healthy server is given, in percent.
pub const MIN_WEIGHT_PCT: u32 = 10;

/// What is read of HAProxy's `agent-send` text at most.
pub const SENT_MAX: usize = 256;

/// How long one connection may take, whatever the client does.
pub const CONNECTION_TIME: Duration = Duration::from_secs(1);

/// The longest pause after a failed accept (out of descriptors).
const MAX_ACCEPT_PAUSE: Duration = Duration::from_secs(1);

/// The agent's answer for this node's `health` and `checks`.
pub fn agent_line(health: Option<&Health>, checks: &[CheckResult]) -> String {
    let idle = health
        .and_then(|h| h.cpu_pct)
        .map_or(100.0, |cpu| (100.0 - f64::from(cpu)).clamp(0.0, 100.0));
    let weight = (idle.round() as u32).max(MIN_WEIGHT_PCT);
    match worst(checks) {
        Some(CheckStatus::Critical) => "drain\n".to_owned(),
        Some(CheckStatus::Warning | CheckStatus::Unknown) => {
            format!("ready up {}%\n", (weight / 2).max(MIN_WEIGHT_PCT))
        }
        Some(CheckStatus::Ok) | None => format!("ready up {weight}%\n"),
    }
}

/// Serves the agent on `addr` from a detached "hb-agent" thread; returns
/// the bound address, to print.
///
/// # Errors
///
/// When `addr` cannot be bound.
pub fn serve(
    addr: SocketAddr,
    health: Option<Background>,
    checks: Option<Checks>,
) -> io::Result<SocketAddr> {
    let listener = TcpListener::bind(addr)?;
    let bound = listener.local_addr()?;
    thread::Builder::new()
        .name("hb-agent".into())
        .spawn(move || {
            let mut pause = Duration::ZERO;
            loop {
                match listener.accept() {
                    Ok((stream, _)) => {
                        if !pause.is_zero() {
                            crate::say!("haproxy agent: accepting connections again");
                            pause = Duration::ZERO;
                        }
                        let health = health.as_ref().and_then(Background::latest);
                        let checks = checks.as_ref().map(Checks::latest).unwrap_or_default();
                        // A client gone before its answer is its loss only.
                        let _ = answer(stream, &agent_line(health.as_ref(), &checks));
                    }
                    Err(e) => {
                        if pause.is_zero() {
                            crate::say!(
                                "warning: haproxy agent: accepting a connection: {e}; retrying"
                            );
                        }
                        pause = (pause * 2).clamp(Duration::from_millis(10), MAX_ACCEPT_PAUSE);
                        thread::sleep(pause);
                    }
                }
            }
        })?;
    Ok(bound)
}

/// Answers one connection with `line`, within [`CONNECTION_TIME`].
fn answer(mut stream: TcpStream, line: &str) -> io::Result<()> {
    let deadline = Instant::now() + CONNECTION_TIME;
    // What HAProxy sent first (`agent-send`) is read and set aside: a
    // connection closed with unread bytes is reset, and a reset may
    // discard the answer before HAProxy reads it.
    stream.set_nonblocking(true)?;
    let mut sent = [0u8; SENT_MAX];
    let _ = stream.read(&mut sent);
    stream.set_nonblocking(false)?;
    stream.set_write_timeout(Some(CONNECTION_TIME))?;
    stream.write_all(line.as_bytes())?;
    stream.shutdown(Shutdown::Write)?;
    // Until HAProxy closes its side (or the time is up), so that nothing
    // it sends late resets the answer either.
    let mut read = 0;
    while read < SENT_MAX {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        stream.set_read_timeout(Some(left))?;
        match stream.read(&mut sent) {
            Ok(0) | Err(_) => break,
            Ok(n) => read += n,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
