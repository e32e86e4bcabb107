//! Nagios/Icinga plugin conventions (threshold ranges, states, perfdata) as
//! the Monitoring Plugins Development Guidelines define them and the reference
//! C code (`parse_range_string`, `check_range`, `get_status`, `max_state_alt`)
//! implements them, so `hb-poll` behaves like any plugin operators know.
//! <https://www.monitoring-plugins.org/doc/guidelines.html>

use std::fmt;
use std::str::FromStr;

/// A threshold range, `[@]start:end`: alert when the value is outside
/// `[start, end]`, or inside it with `@`; both ends inclusive. An infinite
/// bound (`~` start, empty end) is `None`, not a sentinel a real value could
/// hit. Bounds are finite and `start <= end`, so `Display` inverts parsing.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Range {
    start: Option<f64>,
    end: Option<f64>,
    inside: bool,
}

/// Why a `-w`/`-c` argument is not a valid range; carries the text as given so
/// the operator sees exactly which argument to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RangeError {
    #[error("invalid range {0:?}: expected [@]start:end, e.g. 10, 10:, ~:10, 10:20 or @10:20")]
    Syntax(String),
    #[error("invalid range {0:?}: start is greater than end (a bare N means 0:N)")]
    StartAfterEnd(String),
}

impl Range {
    /// Whether `value` should raise an alert, with `check_range` semantics.
    ///
    /// NaN lies outside every range with a finite bound (so a plain range
    /// alerts on it) and inside `~:`, exactly as the C comparisons behave.
    pub fn alerts(&self, value: f64) -> bool {
        // `map_or(true, ..)` rather than `is_none_or`, which needs Rust 1.82.
        let within = self.start.is_none_or(|s| s <= value) && self.end.is_none_or(|e| value <= e);
        within == self.inside
    }
}

impl FromStr for Range {
    type Err = RangeError;

    /// Unlike C's unchecked `strtod`, which reads `abc` or `@` as 0, anything
    /// but a finite number is rejected: a typo must not become a silent `0`.
    /// Surrounding whitespace (quoting leftovers) is trimmed; inner is an error.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let number = |part: &str| match part.parse::<f64>() {
            Ok(v) if v.is_finite() => Ok(v),
            _ => Err(RangeError::Syntax(text.to_owned())),
        };
        let body = text.trim();
        let inside = body.starts_with('@');
        let body = body.strip_prefix('@').unwrap_or(body);
        // `~` is the only spelling of -infinity; an empty end is +infinity.
        let bound = |part: &str, infinity: &str| match part {
            p if p == infinity => Ok(None),
            p => number(p).map(Some),
        };
        let (start, end) = match body.split_once(':') {
            Some((start, end)) => (bound(start, "~")?, bound(end, "")?),
            // "start and ':' is not required if start=0"; the end still is.
            None => (Some(0.0), Some(number(body)?)),
        };
        if matches!((start, end), (Some(s), Some(e)) if s > e) {
            return Err(RangeError::StartAfterEnd(text.to_owned()));
        }
        Ok(Range { start, end, inside })
    }
}

/// Canonical text: the shortest form that parses back to the same range, so a
/// threshold can be echoed in perfdata (`0:10` is written `10`, `0:` keeps
/// its colon because a bare `0` would mean `0:0`).
impl fmt::Display for Range {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.inside { "@" } else { "" })?;
        match self.start {
            None => f.write_str("~:")?,
            Some(s) if s == 0.0 && self.end.is_some() => {}
            Some(s) => write!(f, "{}:", Num(s))?,
        }
        self.end.map_or(Ok(()), |e| write!(f, "{}", Num(e)))
    }
}

/// A plugin's result; the exit code (discriminant) is how Nagios learns it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    Ok = 0,
    Warning = 1,
    Critical = 2,
    Unknown = 3,
}

impl State {
    /// Exit code defined by the plugin API. `u8` fits both
    /// `ExitCode::from` and `process::exit(code.into())`.
    pub fn code(self) -> u8 {
        self as u8
    }

    /// The word that starts the plugin's first output line.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Ok => "OK",
            State::Warning => "WARNING",
            State::Critical => "CRITICAL",
            State::Unknown => "UNKNOWN",
        }
    }

    /// The more severe state per `max_state_alt` (CRITICAL, WARNING, UNKNOWN,
    /// OK), not the larger exit code: a problem one check found must not be
    /// masked by another check that could not decide.
    pub fn worst(self, other: State) -> State {
        [State::Critical, State::Warning, State::Unknown]
            .into_iter()
            .find(|&s| s == self || s == other)
            .unwrap_or(State::Ok)
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The `-w`/`-c` pair of a plugin; an absent range never alerts.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Thresholds {
    pub warning: Option<Range>,
    pub critical: Option<Range>,
}

impl Thresholds {
    /// Like `get_status`: critical is checked first, so a value in both
    /// ranges is CRITICAL.
    pub fn state(&self, value: f64) -> State {
        let alerts = |r: Option<Range>| r.is_some_and(|r| r.alerts(value));
        match (alerts(self.critical), alerts(self.warning)) {
            (true, _) => State::Critical,
            (false, true) => State::Warning,
            (false, false) => State::Ok,
        }
    }
}

/// One performance data item, rendered as `'label'=value[UOM];warn;crit;min;max`.
///
/// `uom` is `&'static str` because the guidelines define a fixed vocabulary
/// (none, `s`, `ms`, `us`, `%`, `B`, `KB`, `MB`, `TB`, `c`).
#[derive(Debug, Clone, PartialEq)]
pub struct PerfDatum {
    pub label: String,
    pub value: f64,
    pub uom: &'static str,
    pub warn: Option<Range>,
    pub crit: Option<Range>,
    pub min: Option<f64>,
    pub max: Option<f64>,
}

/// Field rule: the guidelines allow dropping trailing unfilled semicolons, so
/// empty trailing warn/crit slots are dropped (`x=1`, `x=1;5`), but min and
/// max are written as a pair: once either is known both slots appear, the
/// unknown one empty. That yields `up=3;;;0;3`, `down=0;;0;0;3` and
/// `rtt_max=0.0004s;0.5;1;0;` (min 0, no max).
///
/// A non-finite value is written as the guidelines' `U` ("value could not be
/// determined", without UOM); a non-finite min/max is left empty, since
/// perfdata numbers must be in class `[-0-9.]`.
impl fmt::Display for PerfDatum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Quotes are required for spaces, '=' and quotes; other whitespace
        // would also split the perfdata list, so it is quoted too.
        let quote = |c: char| c.is_whitespace() || c == '=' || c == '\'';
        if self.label.contains(quote) {
            write!(f, "'{}'=", self.label.replace('\'', "''"))?;
        } else {
            write!(f, "{}=", self.label)?;
        }
        if self.value.is_finite() {
            write!(f, "{}{}", Num(self.value), self.uom)?;
        } else {
            f.write_str("U")?;
        }
        let range = |r: Option<Range>| r.map_or(String::new(), |r| r.to_string());
        let num = |v: Option<f64>| match v {
            Some(v) if v.is_finite() => Num(v).to_string(),
            _ => String::new(),
        };
        let (warn, crit) = (range(self.warn), range(self.crit));
        let (min, max) = (num(self.min), num(self.max));
        if min.is_empty() && max.is_empty() {
            f.write_str(format!(";{warn};{crit}").trim_end_matches(';'))
        } else {
            write!(f, ";{warn};{crit};{min};{max}")
        }
    }
}

/// A finite number as plain decimal: `f64`'s `Display` never uses exponent
/// notation and prints the shortest text that round-trips (`3`, `0.0004`),
/// so there are no trailing zeros. `-0` is folded to `0`.
struct Num(f64);

impl fmt::Display for Num {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v = if self.0 == 0.0 { 0.0 } else { self.0 };
        write!(f, "{v}")
    }
}

#[cfg(test)]
mod tests;
