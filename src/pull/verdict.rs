//! Judging a round against Nagios thresholds: each target's state, the
//! round's state, its problems worst first, and the one-line plugin output
//! of `hb-poll --format nagios`.

use serde_json::value::RawValue;

use crate::checks::CheckStatus;
use crate::health::mem_used_pct;
use crate::nagios::{PerfDatum, State, Thresholds};
use crate::output::round;

use super::probe::Outcome;

/// The thresholds a round is judged by.
#[derive(Debug, Clone, Default)]
pub struct Limits {
    /// On the number of targets down.
    pub down: Thresholds,
    /// On each reply's round-trip time, in seconds.
    pub rtt: Thresholds,
    /// On each reply's `cpu_pct`.
    pub cpu: Thresholds,
    /// On each reply's memory in use, percent.
    pub mem: Thresholds,
}

/// A round judged.
#[derive(Debug, Clone)]
pub struct Verdict {
    pub state: State,
    /// Each target's own state: CRITICAL when down, else its metrics'.
    pub states: Vec<State>,
    pub up: usize,
    pub down: usize,
    pub rtt_max: Option<f64>,
    pub cpu_max: Option<f64>,
    pub mem_max: Option<f64>,
    /// What is wrong, one phrase per problem, worst first.
    pub problems: Vec<String>,
}

fn is_set(t: &Thresholds) -> bool {
    t.warning.is_some() || t.critical.is_some()
}

/// Judges a round: the count of down targets against `limits.down`, and
/// each answered target's metrics against the others.
pub fn judge(outcomes: &[Outcome], limits: &Limits) -> Verdict {
    let mut problems: Vec<(State, String)> = Vec::new();
    let mut states = Vec::with_capacity(outcomes.len());
    let (mut rtt_max, mut cpu_max, mut mem_max) = (None::<f64>, None::<f64>, None::<f64>);
    let max = |m: &mut Option<f64>, v: f64| *m = Some(m.map_or(v, |x| x.max(v)));
    for o in outcomes {
        let Some(rtt) = o.rtt else {
            let why = o.error.as_deref().unwrap_or("down");
            problems.push((State::Critical, format!("{} down ({why})", o.target)));
            states.push(State::Critical);
            continue;
        };
        let mut state = State::Ok;
        let mut check =
            |state: &mut State, what: &str, value: Option<f64>, t: &Thresholds, unit: &str| {
                match value {
                    Some(v) => {
                        let s = t.state(v);
                        if s != State::Ok {
                            problems.push((s, format!("{} {what} {}{unit}", o.target, trim(v))));
                        }
                        *state = state.worst(s);
                    }
                    None if is_set(t) => {
                        problems.push((State::Unknown, format!("{} sent no {what}", o.target)));
                        *state = state.worst(State::Unknown);
                    }
                    None => {}
                }
            };
        let secs = rtt.as_secs_f64();
        max(&mut rtt_max, secs);
        check(&mut state, "rtt", Some(secs), &limits.rtt, "s");
        let (cpu, mem) = o.health.as_deref().map_or((None, None), figures);
        if o.node.is_some() {
            // TCP targets have no health to judge.
            check(&mut state, "cpu", cpu, &limits.cpu, "%");
            check(&mut state, "mem", mem, &limits.mem, "%");
        }
        cpu.inspect(|&v| max(&mut cpu_max, v));
        mem.inspect(|&v| max(&mut mem_max, v));
        // A failing plugin check counts as its own Nagios state.
        for c in o
            .checks
            .iter()
            .flatten()
            .filter(|c| c.status != CheckStatus::Ok)
        {
            let s = match c.status {
                CheckStatus::Ok => State::Ok,
                CheckStatus::Warning => State::Warning,
                CheckStatus::Critical => State::Critical,
                CheckStatus::Unknown => State::Unknown,
            };
            problems.push((s, format!("{} check {}: {}", o.target, c.name, c.output)));
            state = state.worst(s);
        }
        states.push(state);
    }
    let down = outcomes.iter().filter(|o| !o.is_up()).count();
    let count_state = limits.down.state(down as f64);
    // Down targets count through the down thresholds, not as CRITICAL each.
    let state = outcomes
        .iter()
        .zip(&states)
        .filter(|(o, _)| o.is_up())
        .fold(count_state, |acc, (_, s)| acc.worst(*s));
    problems.sort_by_key(|(s, _)| std::cmp::Reverse(severity(*s)));
    Verdict {
        state,
        states,
        up: outcomes.len() - down,
        down,
        rtt_max,
        cpu_max,
        mem_max,
        problems: problems.into_iter().map(|(_, p)| p).collect(),
    }
}

/// The figures of a reply's health a round is judged on: its CPU and its
/// memory in use, percent. Each from the fields it needs only: a reply
/// that sends `cpu_pct` alone is judged on its CPU.
fn figures(health: &RawValue) -> (Option<f64>, Option<f64>) {
    let json = health.get();
    let [cpu, total, avail] = as_hb_ack_writes(json)
        .or_else(|| fields(json))
        .unwrap_or_default();
    let cpu = cpu.and_then(number);
    // A JSON number that is a whole u64 is written as Rust writes one.
    let whole = |v: &str| v.parse::<u64>().unwrap_or(0);
    let mem = match (total, avail) {
        (Some(total), Some(avail)) => mem_used_pct(whole(total), whole(avail)),
        _ => None,
    };
    (cpu, mem)
}

/// The value of `json`, a JSON value, if it is a number a double holds:
/// what serde reads from it, without setting up a JSON reader for each
/// figure, which cost a large round's judging more than finding them. Of
/// JSON's values only numbers read as a double (strings start with a
/// quote, and `true`, `false` and `null` are no numbers); serde refuses a
/// number too large for a double, as out of range.
fn number(json: &str) -> Option<f64> {
    json.parse::<f64>().ok().filter(|v| v.is_finite())
}

/// The figures of health in the form hb-ack writes it: `cpu_pct`,
/// `mem_total` and `mem_avail` first, each a number, without white space,
/// and no later field that may name one again. Read by their places, not
/// stepped through a byte at a time: most of what judging a large round
/// cost. None when not in that form: [`fields`] reads it then.
fn as_hb_ack_writes(json: &str) -> Option<[Option<&str>; 3]> {
    let mut rest = json.strip_prefix(r#"{"cpu_pct":"#)?;
    let mut found = [None; 3];
    for (which, next) in [(0, r#","mem_total":"#), (1, r#","mem_avail":"#), (2, "")] {
        // A number's bytes; a value of any other kind starts with none.
        let end = rest
            .bytes()
            .position(|b| !matches!(b, b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E'))?;
        (end > 0).then_some(())?;
        found[which] = Some(&rest[..end]);
        rest = rest[end..].strip_prefix(next)?;
    }
    let ends_the_value = matches!(rest.as_bytes().first(), Some(b',' | b'}'));
    (ends_the_value && !may_name_a_figure(rest)).then_some(found)
}

/// Which figure a health field's name (its contents, unescaped) is.
fn figure(name: &str) -> Option<usize> {
    match name {
        "cpu_pct" => Some(0),
        "mem_total" => Some(1),
        "mem_avail" => Some(2),
        _ => None,
    }
}

/// The values of the fields `cpu_pct`, `mem_total` and `mem_avail` in
/// `json`, as written (the last of a name given twice); None if it is not
/// an object. The other fields are stepped over, not read: `json` is valid
/// JSON (a [`RawValue`]'s), so a value ends at the first comma or closing
/// bracket outside its strings and brackets. serde reading the object,
/// names, numbers and all, was most of what judging a large round cost.
fn fields(json: &str) -> Option<[Option<&str>; 3]> {
    let bytes = json.as_bytes();
    let at = |i: usize| bytes.get(i).copied();
    let blank = |b: Option<u8>| matches!(b, Some(b' ' | b'\t' | b'\n' | b'\r'));
    let mut found = [None; 3];
    let mut i = 0;
    while blank(at(i)) {
        i += 1;
    }
    if at(i) != Some(b'{') {
        return None;
    }
    i += 1;
    loop {
        while blank(at(i)) || at(i) == Some(b',') {
            i += 1;
        }
        if at(i) != Some(b'"') {
            return Some(found);
        }
        let name_start = i;
        let escaped;
        (i, escaped) = string_end(bytes, i)?;
        let name = &json[name_start..i];
        while at(i)? != b':' {
            i += 1;
        }
        i += 1;
        while blank(at(i)) {
            i += 1;
        }
        let value_start = i;
        let mut depth = 0usize;
        loop {
            match at(i)? {
                b'"' => i = string_end(bytes, i)?.0 - 1,
                b'{' | b'[' => depth += 1,
                b',' | b'}' | b']' if depth == 0 => break,
                b'}' | b']' => depth -= 1,
                _ => {}
            }
            i += 1;
        }
        let mut value_end = i;
        while blank(at(value_end - 1)) {
            value_end -= 1;
        }
        // A name with escapes is read as JSON reads it: the same name.
        let which = match escaped {
            false => figure(&name[1..name.len() - 1]),
            true => figure(&serde_json::from_str::<String>(name).ok()?),
        };
        if let Some(which) = which {
            found[which] = Some(&json[value_start..value_end]);
            // All three found (hb-ack writes them first): the rest is
            // stepped over only if it may name one again, as a later name
            // is the one JSON reads.
            if found.iter().all(Option::is_some) && !may_name_a_figure(&json[i..]) {
                return Some(found);
            }
        }
    }
}

/// Whether the `rest` of a health object may name a figure: it holds an
/// escape (which could spell a name) or a figure's name in quotes (the
/// two of memory share `"mem_`). The standard library's searches, with
/// vector instructions every x86-64 has, are a fraction of stepping over
/// the rest. Not memchr's: its first search asks the CPU which vector
/// instructions it has, which a virtual machine's hypervisor answers, and
/// a one-target probe paid more for that than for its judging.
fn may_name_a_figure(rest: &str) -> bool {
    rest.contains('\\') || rest.contains("\"cpu_pct\"") || rest.contains("\"mem_")
}

/// Where the JSON string that starts (with its quote) at `start` ends,
/// just past its closing quote, and whether it has escapes.
fn string_end(bytes: &[u8], start: usize) -> Option<(usize, bool)> {
    let (mut i, mut escaped) = (start + 1, false);
    loop {
        match *bytes.get(i)? {
            b'"' => return Some((i + 1, escaped)),
            b'\\' => (i, escaped) = (i + 2, true),
            _ => i += 1,
        }
    }
}

fn severity(s: State) -> u8 {
    match s {
        State::Ok => 0,
        State::Unknown => 1,
        State::Warning => 2,
        State::Critical => 3,
    }
}

/// A number without needless digits: 0.0004, 12.5, 3.
fn trim(v: f64) -> String {
    round(v, 4).to_string()
}

/// The one-line Nagios plugin output:
/// `HB OK - 3/3 up | up=3;;;0;3 down=0;;0;0;3 rtt_max=0.0004s;0.5;1;0;`
pub fn nagios_line(v: &Verdict, limits: &Limits) -> String {
    let total = v.up + v.down;
    let mut text = format!("HB {} - {}/{total} up", v.state, v.up);
    const SHOWN: usize = 5;
    if !v.problems.is_empty() {
        text.push_str(": ");
        text.push_str(&v.problems[..v.problems.len().min(SHOWN)].join(", "));
        if v.problems.len() > SHOWN {
            text.push_str(&format!(" and {} more", v.problems.len() - SHOWN));
        }
    }
    let datum = |label: &str, value: f64, uom, t: &Thresholds, max| PerfDatum {
        label: label.to_owned(),
        value,
        uom,
        warn: t.warning,
        crit: t.critical,
        min: Some(0.0),
        max,
    };
    let none = Thresholds::default();
    let mut perf = vec![
        datum("up", v.up as f64, "", &none, Some(total as f64)),
        datum("down", v.down as f64, "", &limits.down, Some(total as f64)),
    ];
    // A figure no reply gave is left out, not written `U`: Icinga 2 cannot
    // parse `U` (the whole perfdata is lost) and Monitoring::Plugin drops
    // the label anyway; a graph shows the round as a gap either way.
    if let Some(rtt) = v.rtt_max {
        perf.push(datum("rtt_max", round(rtt, 6), "s", &limits.rtt, None));
    }
    if let Some(cpu) = v.cpu_max {
        perf.push(datum(
            "cpu_max",
            round(cpu, 1),
            "%",
            &limits.cpu,
            Some(100.0),
        ));
    }
    if let Some(mem) = v.mem_max {
        perf.push(datum(
            "mem_max",
            round(mem, 1),
            "%",
            &limits.mem,
            Some(100.0),
        ));
    }
    let perf: Vec<String> = perf.iter().map(ToString::to_string).collect();
    // Plugin output must not contain '|' before the perfdata separator.
    format!("{} | {}", text.replace('|', "/"), perf.join(" "))
}

#[cfg(test)]
mod tests;
