//! Making plugin checks fit one datagram. A beat or a reply that would be
//! too large loses its least important parts first, and never the worst
//! status:
//!
//! 1. the output of passing checks is cut, down to the cut mark alone;
//! 2. the output of the others is cut, down to [`FAILING_FLOOR`] bytes;
//! 3. health is left out;
//! 4. the output of the others is cut down to the mark alone;
//! 5. checks are left out, passing ones first, then by severity (unknown,
//!    warning), so the most severe one always stays.
//!
//! Each step goes only as far as it must: the longest cut that fits is
//! found by bisection. A cut output ends with [`CUT_MARK`].

use super::{CheckResult, CheckStatus, MAX_OUTPUT};
use crate::text::{cut, CUT_MARK};

/// Output kept of a failing check before health is given up: room for a
/// plugin's verdict, such as "DISK CRITICAL - free space: / 1% (42 MB)".
pub const FAILING_FLOOR: usize = 48;

/// What a message that fits carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fitted {
    /// Whether health stays in.
    pub health: bool,
    pub checks: Vec<CheckResult>,
    /// Whether anything was cut or left out.
    pub cut: bool,
}

/// How much of each part is kept.
#[derive(Debug, Clone, Copy)]
struct Shape {
    /// Bytes of output kept per passing check, and per other check.
    passing: usize,
    failing: usize,
    health: bool,
    /// Checks kept, the most severe ones.
    keep: usize,
}

/// Fits `checks` (and health, if the message has any) into a message:
/// `fits(health, checks)` says whether a message with them fits. None if
/// not even the most severe check alone, without health, fits.
pub fn fit(
    checks: &[CheckResult],
    mut fits: impl FnMut(bool, &[CheckResult]) -> bool,
) -> Option<Fitted> {
    let whole = Shape {
        passing: MAX_OUTPUT,
        failing: MAX_OUTPUT,
        health: true,
        keep: checks.len(),
    };
    let mut try_shape = |shape: Shape| fits(shape.health, &shaped(checks, shape));
    if try_shape(whole) {
        return Some(Fitted {
            health: true,
            checks: checks.to_vec(),
            cut: false,
        });
    }
    let mark = CUT_MARK.len();
    // Each step: the shape at a parameter, and the parameter's range; the
    // largest parameter that fits wins, else the step's smallest shape is
    // where the next one starts.
    type Step = (fn(Shape, usize) -> Shape, usize, usize);
    let steps: [Step; 5] = [
        (|s, n| Shape { passing: n, ..s }, mark, MAX_OUTPUT),
        (|s, n| Shape { failing: n, ..s }, FAILING_FLOOR, MAX_OUTPUT),
        (
            |s, n| Shape {
                health: n == 1,
                ..s
            },
            0,
            0,
        ),
        (|s, n| Shape { failing: n, ..s }, mark, FAILING_FLOOR),
        (|s, n| Shape { keep: n, ..s }, 1, checks.len()),
    ];
    let mut shape = whole;
    for (at, lo, hi) in steps {
        if let Some(n) = largest(lo, hi, |n| try_shape(at(shape, n))) {
            let shape = at(shape, n);
            return Some(Fitted {
                health: shape.health,
                checks: shaped(checks, shape),
                cut: true,
            });
        }
        shape = at(shape, lo);
    }
    None
}

/// The checks as `shape` keeps them, in their own order.
fn shaped(checks: &[CheckResult], shape: Shape) -> Vec<CheckResult> {
    let mut by_severity: Vec<usize> = (0..checks.len()).collect();
    by_severity.sort_by_key(|&i| std::cmp::Reverse(checks[i].status));
    let mut kept = by_severity[..shape.keep.min(checks.len())].to_vec();
    kept.sort_unstable();
    kept.into_iter()
        .map(|i| {
            let c = &checks[i];
            let max = match c.status {
                CheckStatus::Ok => shape.passing,
                _ => shape.failing,
            };
            CheckResult {
                name: c.name.clone(),
                status: c.status,
                output: cut(&c.output, max),
            }
        })
        .collect()
}

/// The largest `n` in `lo..=hi` for which `ok(n)`, where `ok` holds up to
/// some point and not beyond; None if not even `ok(lo)`.
fn largest(lo: usize, hi: usize, mut ok: impl FnMut(usize) -> bool) -> Option<usize> {
    if !ok(lo) {
        return None;
    }
    let (mut good, mut bad) = (lo, hi + 1);
    while bad - good > 1 {
        let mid = good + (bad - good) / 2;
        if ok(mid) {
            good = mid;
        } else {
            bad = mid;
        }
    }
    Some(good)
}

#[cfg(test)]
mod tests;
