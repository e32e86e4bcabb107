//! Judging a round against Nagios thresholds: each target's state, the
//! round's state, its problems worst first, and the one-line plugin output
//! of `hb-poll --format nagios`.

use std::fmt;

use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::Deserialize;
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
/// that sends `cpu_pct` alone is judged on its CPU. The other fields are
/// skipped, not built: a whole object built per target was a third of a
/// large round's work.
fn figures(health: &RawValue) -> (Option<f64>, Option<f64>) {
    let Ok(Figures(fields)) = serde_json::from_str::<Figures>(health.get()) else {
        return (None, None);
    };
    let [cpu, total, avail] = fields.map(|f| f.map(RawValue::get));
    let cpu = cpu.and_then(|v| serde_json::from_str::<f64>(v).ok());
    let whole = |v: &str| serde_json::from_str::<u64>(v).unwrap_or(0);
    let mem = match (total, avail) {
        (Some(total), Some(avail)) => mem_used_pct(whole(total), whole(avail)),
        _ => None,
    };
    (cpu, mem)
}

/// The health fields of [`FIGURES`], as the reply wrote them (the last
/// of a name given twice).
struct Figures<'a>([Option<&'a RawValue>; 3]);

const FIGURES: [&str; 3] = ["cpu_pct", "mem_total", "mem_avail"];

/// A health field's name: which of [`FIGURES`] it is, if any. Told apart
/// as it is read, without a copy of each name.
struct Which(Option<usize>);

impl<'de> Deserialize<'de> for Which {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Name;
        impl Visitor<'_> for Name {
            type Value = Which;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a field name")
            }
            fn visit_str<E>(self, name: &str) -> Result<Which, E> {
                Ok(Which(FIGURES.iter().position(|&f| f == name)))
            }
        }
        d.deserialize_str(Name)
    }
}

impl<'de> Deserialize<'de> for Figures<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Fields;
        impl<'de> Visitor<'de> for Fields {
            type Value = Figures<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a health object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Figures<'de>, A::Error> {
                let mut fields = [None; 3];
                while let Some(Which(which)) = map.next_key()? {
                    match which {
                        Some(at) => fields[at] = Some(map.next_value()?),
                        None => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(Figures(fields))
            }
        }
        d.deserialize_map(Fields)
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
