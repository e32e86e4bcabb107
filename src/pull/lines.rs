//! The JSON lines of a round: one `poll` line per target, then a `summary`.

use std::io::{self, Write};
use std::net::SocketAddr;

use serde::Serialize;
use serde_json::value::RawValue;

use crate::checks::CheckResult;
use crate::clock::Moment;
use crate::output::{ms, round, Sink};

use super::probe::Outcome;
use super::verdict::Verdict;

/// A `poll` line: one target's outcome.
#[derive(Serialize)]
#[serde(tag = "type", rename = "poll")]
struct PollLine<'a> {
    target: &'a str,
    addr: Option<SocketAddr>,
    node: Option<&'a str>,
    status: &'static str,
    rtt_ms: Option<f64>,
    attempts: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    boot: Option<&'a str>,
    health: Option<&'a RawValue>,
    error: Option<&'a str>,
    /// Which path answered: "direct", or the relay; null when down.
    path: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    checks: Option<&'a [CheckResult]>,
    state: &'static str,
}

/// The `summary` line closing a round.
#[derive(Serialize)]
#[serde(tag = "type", rename = "summary")]
struct SummaryLine<'a> {
    up: usize,
    down: usize,
    total: usize,
    state: &'static str,
    rtt_max_ms: Option<f64>,
    problems: &'a [String],
}

/// Writes a round as `poll` lines and a `summary` line, stamped `at`:
/// reports, printed only.
pub fn emit_round<W: Write>(
    out: &mut Sink<W>,
    at: Moment,
    outcomes: &[Outcome],
    v: &Verdict,
) -> io::Result<()> {
    for (o, state) in outcomes.iter().zip(&v.states) {
        out.emit_report(
            at,
            &PollLine {
                target: &o.target,
                addr: o.addr,
                node: o.node.as_deref(),
                status: if o.is_up() { "up" } else { "down" },
                rtt_ms: o.rtt.map(ms),
                attempts: o.attempts,
                boot: o.boot.as_deref(),
                health: o.health.as_deref(),
                error: o.error.as_deref(),
                path: o.is_up().then(|| o.via.as_deref().unwrap_or("direct")),
                checks: o.checks.as_deref(),
                state: state.as_str(),
            },
        )?;
    }
    out.emit_report(
        at,
        &SummaryLine {
            up: v.up,
            down: v.down,
            total: v.up + v.down,
            state: v.state.as_str(),
            rtt_max_ms: v.rtt_max.map(|secs| round(secs * 1000.0, 3)),
            problems: &v.problems,
        },
    )
}
