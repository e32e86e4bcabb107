//! `hb-poll --every`: rounds on a fixed cadence, fed into the failure
//! detector as beats.

use std::collections::HashMap;
use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::clock::{duration_ms, Cadence, Clock, Millis, Moment};
use crate::detector::NodeSamples;
use crate::detector::{Config, Detector, Event};
use crate::metrics::nodes::NodeTable;
use crate::metrics::Metrics;
use crate::net;
use crate::output::Sink;
use crate::self_watch::{stall_tolerance, SelfWatch, SelfWatchLine};
use crate::wire::Beat;

use super::lines::emit_round;
use super::probe::Prober;
use super::verdict::{judge, Limits};

mod real_time;
use real_time::RealTime;

const NO_LIMIT: &str = "the poller's detector has no node limit";

/// `hb-poll --every`: polls on a fixed cadence and reports transitions as
/// hb-listen does. Each answered round counts as a beat to the same
/// failure detector, on a clock that advances one interval per round, so
/// `suspect` follows one failed round and `down` exactly `misses` failed
/// rounds, however long the rounds themselves take; the durations the
/// lines carry are real ([`RealTime`]). Targets a reload
/// (SIGHUP) adds are judged from the reload on; those it removes are
/// forgotten at once, from the output and the metrics too. The interval
/// is the detector's `default_every_ms`. Every line goes to `out`, whose
/// subscribers (metrics, hooks, reminders) the caller chose; `metrics`
/// also gets the targets' series and the poller's stalls.
pub fn watch<W: Write>(
    prober: &mut Prober,
    detector: Config,
    limits: Option<&Limits>,
    metrics: Option<&Metrics>,
    out: &mut Sink<W>,
    stop: &AtomicBool,
) -> io::Result<()> {
    let every_ms = detector.default_every_ms;
    let mut detector = Detector::new(
        Config {
            emit_beats: false,
            // No limit of its own: the detector hears only of the targets
            // (the poller makes a beat of each answer), however many a
            // reload brings.
            max_nodes: usize::MAX,
            ..detector
        },
        0,
    );
    let clock = Clock::new();
    let mut real = RealTime::default();
    for target in prober.targets() {
        detector.expect(&target.name).expect(NO_LIMIT);
        real.watch(&target.name, clock.now());
    }
    let mut events = Vec::new();
    // Each target's responder's own name, as its replies say: the `node`
    // label of its metrics.
    let mut responders: HashMap<String, String> = HashMap::new();
    // `rounds` schedules rounds on the monotonic clock (skipping the slots
    // that passed before a round began; a round that overran its slot is
    // followed at once by the next); `judged` counts rounds for the
    // detector, whose clock advances exactly one interval per round.
    let mut rounds = Cadence::new(0, every_ms);
    let mut watch = SelfWatch::default();
    let mut said = Vec::new();
    let tolerance = stall_tolerance(Some(every_ms));
    let mut judged: Millis = 0;
    while !stop.load(Ordering::Relaxed) {
        if let Some(event) = prober.reloaded() {
            // Between rounds: the targets' verdicts so far stand at the
            // time of the last round judged.
            let now = judged * every_ms;
            let at = clock.moment();
            for name in event.targets_removed.iter().flatten() {
                detector.forget(name, now, &mut events);
                responders.remove(name);
            }
            real.restate(at.mono, &mut events);
            for name in event.targets_removed.iter().flatten() {
                real.forget(name);
            }
            for name in event.targets_added.iter().flatten() {
                detector.expect_from(name, now).expect(NO_LIMIT);
                real.watch(name, at.mono);
            }
            out.emit(at, &event)?;
            emit_events(out, at, &mut events)?;
        }
        out.tick(clock.moment())?;
        if let Some(m) = metrics.filter(|m| m.nodes_wanted()) {
            // A handful of targets: copied whole, at once.
            let mut samples = NodeSamples::default();
            detector.sample_nodes(0, usize::MAX, &mut samples);
            m.answer_nodes(NodeTable {
                nodes: Arc::new(samples),
                responders: Some(responders.clone()),
            });
        }
        let due = rounds.due();
        if clock.now() < due {
            // Stray late replies are read here, keeping the wait interruptible;
            // a reminder or a hook's report may end it early.
            let wake = out.next_wake().map_or(due, |at| at.min(due));
            let wait = clock.until(wake).min(net::STOP_CHECK);
            watch.waiting(clock.now(), duration_ms(wait), tolerance, &mut said);
            prober.discard_replies(wait)?;
            watch.back(clock.now(), tolerance, &mut said);
            emit_observed(out, metrics, clock.moment(), &mut said)?;
            continue;
        }
        // A round that took longer than it can (the poller was stopped or
        // starved), or during which the socket dropped replies, says
        // nothing reliable about the silent targets: their silence is not
        // judged this round.
        let budget = duration_ms(prober.round_budget());
        let began = clock.now();
        watch.waiting(began, budget, tolerance, &mut said);
        let outcomes = prober.round()?;
        let at = clock.moment();
        let stalled = watch.back(at.mono, tolerance, &mut said).is_some();
        let dropped = watch.drops(at.mono, prober.dropped(), &mut said);
        emit_observed(out, metrics, at, &mut said)?;
        // Round k is judged at virtual time (k + 1) intervals, so a target
        // that never answers is down after exactly `misses` rounds too.
        judged += 1;
        let now = judged * every_ms;
        if let Some(m) = metrics {
            m.received_many(outcomes.iter().filter(|o| o.is_up()).count() as u64);
        }
        for o in outcomes.iter().filter(|o| o.is_up()) {
            // Seen when its answer came: its `last_seen`.
            let ago = o.answered.map_or(0, |t| t.elapsed().as_millis() as Millis);
            let answered = at.earlier(ago);
            real.answered(&o.target, answered.mono);
            let beat = Beat {
                node: o.target.as_str().into(),
                seq: None,
                boot: o.boot.as_deref().map(Into::into),
                every_ms: Some(every_ms),
                ts_ms: None,
                health: o.health.as_deref(),
                ack: false,
                answers: false,
                checks: o.checks.clone(),
                due: None,
            };
            let judged_at = Moment::new(now, answered.wall);
            detector.observe(judged_at, o.addr, &beat, &mut events);
            if let Some(node) = &o.node {
                if responders.get(o.target.as_str()).map(String::as_str) != Some(node.as_str()) {
                    responders.insert(o.target.to_string(), node.to_string());
                }
            }
        }
        // A target that never answered is still where its name resolved:
        // its `suspect` and `down` say so.
        for o in outcomes.iter().filter(|o| !o.is_up()) {
            if let Some(addr) = o.addr {
                detector.locate(&o.target, addr);
            }
        }
        if !stalled && !dropped {
            detector.expire(now + every_ms / 2, &mut events);
        }
        real.restate(at.mono, &mut events);
        emit_events(out, at, &mut events)?;
        if let Some(limits) = limits {
            emit_round(out, at, &outcomes, &judge(&outcomes, limits))?;
        }
        // Not from now: a round that fills its interval ends a moment after
        // the next slot, which would be skipped, and with it every other
        // round.
        rounds.advance(began);
    }
    Ok(())
}

/// Prints the detector's events.
fn emit_events<W: Write>(out: &mut Sink<W>, at: Moment, events: &mut Vec<Event>) -> io::Result<()> {
    for event in events.drain(..) {
        out.emit(at, &event)?;
    }
    Ok(())
}

/// Prints the poller's `observer` lines; its stalls are counted in
/// `metrics` as they are said.
fn emit_observed<W: Write>(
    out: &mut Sink<W>,
    metrics: Option<&Metrics>,
    at: Moment,
    said: &mut Vec<SelfWatchLine>,
) -> io::Result<()> {
    for line in said.drain(..) {
        if let (Some(m), Some(stall)) = (metrics, line.stall_ms) {
            m.stalled(stall);
        }
        out.emit(at, &line)?;
    }
    Ok(())
}
