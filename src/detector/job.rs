//! Jobs: nodes that run now and then (a cron job, a batch) and state
//! their own next deadline, instead of beating at an interval.
//!
//! A job's messages (`start` and `done` from `hb-send --run`, or a beat)
//! carry `due_ms`, when its next run is due on the sender's wall clock,
//! and `grace_ms`. The node is then judged by that deadline plus grace,
//! never by `--misses` intervals: `late` when it passes without a `start`
//! or a `done`. The deadline is moved to the monotonic clock at arrival,
//! by the time it lies ahead of the message's own `ts_ms` (both read on
//! the sender's clock, so the two clocks need not agree; without `ts_ms`,
//! ahead of the receiver's wall clock). A run is `started`, then `ok` or
//! `failed`; one still going after its `max_run_ms` is `running-long`,
//! and a start while a run is open is an `overlap`.
//!
//! Jobs are few: what is kept of each lives in a table of its own, by
//! name, with an ordered set of their deadlines, so that nodes that beat
//! pay one flag (`Node::job`) for them.

use std::collections::{BTreeSet, HashMap};

use compact_str::CompactString;
use serde::Serialize;

use super::table::Node;
use super::{admits, Arrival, Detector, Event, State};
use crate::clock::{Millis, Moment};
use crate::output::serialize_rfc3339_opt;
use crate::replay::Claim;
use crate::wire::{Due, Ended, Message, Reject};

/// Where a job stands: its state in `status`, the state file and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum JobState {
    /// Its last run succeeded (or it beat), and it is not late.
    Ok,
    /// A run started and has not ended.
    Running,
    /// Its last run failed.
    Failed,
    /// Its deadline and grace passed without a run.
    Late,
}

impl JobState {
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Ok => "ok",
            JobState::Running => "running",
            JobState::Failed => "failed",
            JobState::Late => "late",
        }
    }
}

/// A job's `start` or `done`, and where that stands in its sender's life
/// (boot, seq and clock, for replay protection).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobReport<'a> {
    pub node: &'a str,
    pub claim: Claim<'a>,
    pub due: Option<Due>,
    pub news: News<'a>,
}

/// What a job says of its run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum News<'a> {
    /// The run starts, and may take `max_run_ms`.
    Start { max_run_ms: Option<Millis> },
    /// The run ended so, after `duration_ms`.
    Done {
        ended: Ended,
        duration_ms: Millis,
        stderr: Option<&'a str>,
    },
}

impl<'a> JobReport<'a> {
    /// The report a message carries: a `start` or a `done`.
    pub fn of(message: &'a Message<'_>) -> Option<JobReport<'a>> {
        let (node, boot, seq, ts_ms, due, news) = match message {
            Message::Start(s) => {
                let news = News::Start {
                    max_run_ms: s.max_run_ms,
                };
                (&s.node, &s.boot, s.seq, s.ts_ms, s.due, news)
            }
            Message::Done(d) => {
                let news = News::Done {
                    ended: d.ended,
                    duration_ms: d.duration_ms,
                    stderr: d.stderr.as_deref(),
                };
                (&d.node, &d.boot, d.seq, d.ts_ms, d.due, news)
            }
            _ => return None,
        };
        let claim = Claim {
            boot: Some(boot),
            seq: Some(seq),
            ts_ms,
        };
        Some(JobReport {
            node,
            claim,
            due,
            news,
        })
    }
}

/// What is kept of one job.
#[derive(Debug)]
pub(super) struct Job {
    state: JobState,
    /// Its deadline, on the monotonic clock and the receiver's wall clock,
    /// and its grace: `late` at `late_at` (deadline plus grace) unless a
    /// run starts or ends first. None once `late` was said.
    late_at: Option<Millis>,
    due_wall: Option<u64>,
    grace_ms: Millis,
    /// The run going on, if one is.
    run: Option<Run>,
    /// The last run that ended: its boot (to tell a second copy of its
    /// `done` from news), how, how long, what it said last.
    last: Option<Finished>,
    /// The entry of this job in [`Jobs::due`].
    armed: Option<Millis>,
}

#[derive(Debug)]
struct Run {
    boot: CompactString,
    started: Millis,
    /// `running-long` at this time; None without a limit or once said.
    long_at: Option<Millis>,
}

#[derive(Debug)]
struct Finished {
    boot: CompactString,
    ended: Ended,
    duration_ms: Millis,
    stderr: Option<Box<str>>,
}

impl Job {
    fn new(state: JobState) -> Self {
        Job {
            state,
            late_at: None,
            due_wall: None,
            grace_ms: 0,
            run: None,
            last: None,
            armed: None,
        }
    }

    /// Its next deadline: late, or running long.
    fn next(&self) -> Option<Millis> {
        let long = self.run.as_ref().and_then(|r| r.long_at);
        self.late_at.into_iter().chain(long).min()
    }

    /// Takes the deadline `due` a message received at `at` stated at `ts_ms` (sender clock).
    fn schedule(&mut self, due: Due, ts_ms: Option<u64>, at: Moment) {
        let now = at.mono;
        let ahead = due.due_ms.saturating_sub(ts_ms.unwrap_or(at.wall));
        self.due_wall = Some(at.wall.saturating_add(ahead));
        self.grace_ms = due.grace_ms;
        self.late_at = Some(now.saturating_add(ahead).saturating_add(due.grace_ms));
    }
}

/// The jobs, by name, and their deadlines.
#[derive(Debug, Default)]
pub(super) struct Jobs {
    by_node: HashMap<CompactString, Job>,
    due: BTreeSet<(Millis, CompactString)>,
}

impl Jobs {
    /// The earliest deadline.
    pub(super) fn next(&self) -> Option<Millis> {
        self.due.first().map(|(at, _)| *at)
    }

    /// Drops all that is kept of `name`: the node is forgotten, or no
    /// longer a job.
    pub(super) fn forget(&mut self, name: &str) {
        if let Some(job) = self.by_node.remove(name) {
            if let Some(at) = job.armed {
                self.due.remove(&(at, name.into()));
            }
        }
    }

    fn entry(&mut self, name: &str) -> &mut Job {
        self.by_node
            .entry(name.into())
            .or_insert_with(|| Job::new(JobState::Ok))
    }

    /// Moves the job's entry in the deadlines to its next deadline.
    fn rearm(&mut self, name: &str) {
        let Some(job) = self.by_node.get_mut(name) else {
            return;
        };
        let next = job.next();
        if job.armed == next {
            return;
        }
        if let Some(at) = std::mem::replace(&mut job.armed, next) {
            self.due.remove(&(at, name.into()));
        }
        if let Some(at) = next {
            self.due.insert((at, name.into()));
        }
    }
}

/// A job's details in a `status` object and the state file.
#[derive(Debug, Serialize)]
pub struct JobView<'a> {
    /// When its next run is due, receiver wall clock.
    #[serde(serialize_with = "serialize_rfc3339_opt")]
    pub due: Option<u64>,
    pub due_ms: Option<u64>,
    pub grace_ms: Millis,
    /// How long the run going on has been.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub running_ms: Option<Millis>,
    /// The last run that ended: `exit` or `signal`, duration, stderr.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub ended: Option<Ended>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<Millis>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stderr: Option<&'a str>,
}

impl Detector {
    /// A job's `start` or `done`, as it arrives, checked like a beat (the
    /// node limit; from the network, replay protection on its claim: each
    /// run is a process of its own, a boot of its own). The deadlines that
    /// passed while it was on its way are fired first. A second copy of a
    /// message changes nothing.
    pub(super) fn job(
        &mut self,
        report: &JobReport<'_>,
        came: Arrival,
        out: &mut Vec<Event>,
    ) -> Result<(), Reject> {
        let (at, addr, trust) = (came.at, came.from, came.trust);
        let now = at.mono;
        let position = self.nodes.find(report.node);
        self.room_for(position)?;
        let known = position.map(|i| &self.nodes[i].last);
        admits(known, &report.claim, at.wall, trust)?;
        self.expire(now, out);
        let idx = match position {
            Some(idx) => idx,
            None => self.insert(report.node, State::Pending),
        };
        let to = self.locals.number(came.to);
        let node = &mut self.nodes[idx];
        node.last.remember(&report.claim);
        node.addr = addr;
        node.to = to;
        node.last_seen = Some(now);
        node.wall_at_last_beat = at.wall;
        node.job = true;
        if node.state != State::Up {
            node.state = State::Up;
            node.since = now;
        }
        let boot = report.claim.boot.unwrap_or_default();
        let job = self.jobs.entry(report.node);
        // The second copy of a message: its deadline is the first's.
        let copy = match report.news {
            News::Start { .. } => job.run.as_ref().is_some_and(|r| r.boot == boot),
            News::Done { .. } => job.last.as_ref().is_some_and(|l| l.boot == boot),
        };
        if copy {
            return Ok(());
        }
        if let Some(due) = report.due {
            job.schedule(due, report.claim.ts_ms, at);
        }
        let name = || report.node.to_owned();
        match report.news {
            News::Start { max_run_ms } => {
                let run = Run {
                    boot: boot.into(),
                    started: now,
                    long_at: max_run_ms.map(|ms| now.saturating_add(ms)),
                };
                if let Some(open) = job.run.replace(run) {
                    out.push(Event::Overlap {
                        node: name(),
                        addr,
                        running_ms: now.saturating_sub(open.started),
                    });
                }
                job.state = JobState::Running;
                out.push(Event::Started {
                    node: name(),
                    addr,
                    due: job.due_wall,
                    due_ms: job.due_wall,
                    max_run_ms,
                });
            }
            News::Done {
                ended,
                duration_ms,
                stderr,
            } => {
                // Another run may still be going (they overlapped).
                if job.run.as_ref().is_none_or(|r| r.boot == boot) {
                    job.run = None;
                    job.state = if ended.ok() {
                        JobState::Ok
                    } else {
                        JobState::Failed
                    };
                }
                job.last = Some(Finished {
                    boot: boot.into(),
                    ended,
                    duration_ms,
                    stderr: stderr.map(Into::into),
                });
                out.push(match ended.ok() {
                    true => Event::Ok {
                        node: name(),
                        addr,
                        duration_ms,
                        due: job.due_wall,
                        due_ms: job.due_wall,
                    },
                    false => Event::Failed {
                        node: name(),
                        addr,
                        ended,
                        duration_ms,
                        stderr: stderr.map(str::to_owned),
                        due: job.due_wall,
                        due_ms: job.due_wall,
                    },
                });
            }
        }
        self.jobs.rearm(report.node);
        self.arm(idx);
        Ok(())
    }

    /// A beat of the node at `idx` received at `at`, stated
    /// at `ts_ms`, with `due` or without: with it, the node is a job that
    /// beats (after its runs), judged by it; without it, a node judged by
    /// its interval (again).
    pub(super) fn beat_due(
        &mut self,
        idx: usize,
        at: Moment,
        ts_ms: Option<u64>,
        due: Option<Due>,
    ) {
        let node = &mut self.nodes[idx];
        let Some(due) = due else {
            if std::mem::take(&mut node.job) {
                self.jobs.forget(&node.name);
            }
            return;
        };
        node.job = true;
        let job = self.jobs.entry(&node.name);
        job.schedule(due, ts_ms, at);
        if job.state == JobState::Late {
            job.state = JobState::Ok;
        }
        let name = node.name.clone();
        self.jobs.rearm(&name);
    }

    /// Turns every job deadline reached by `now` into its verdict: `late`
    /// (the node is down: it did not run), `running-long`.
    pub(super) fn expire_jobs(&mut self, now: Millis, out: &mut Vec<Event>) {
        while let Some((at, name)) = self.jobs.due.first().cloned() {
            if at > now {
                break;
            }
            self.jobs.due.pop_first();
            let Some(job) = self.jobs.by_node.get_mut(&name) else {
                continue;
            };
            job.armed = None;
            let idx = self.nodes.find(&name);
            let addr = idx.and_then(|i| self.nodes[i].addr);
            if let Some(run) = job
                .run
                .as_mut()
                .filter(|r| r.long_at.is_some_and(|t| t <= now))
            {
                run.long_at = None;
                out.push(Event::RunningLong {
                    node: name.to_string(),
                    addr,
                    running_ms: now.saturating_sub(run.started),
                    max_run_ms: at.saturating_sub(run.started),
                });
            }
            if job.late_at.is_some_and(|t| t <= now) {
                job.late_at = None;
                job.state = JobState::Late;
                let last_seen = idx.and_then(|i| self.nodes[i].last_seen_wall());
                out.push(Event::Late {
                    node: name.to_string(),
                    addr,
                    due: job.due_wall.unwrap_or_default(),
                    due_ms: job.due_wall.unwrap_or_default(),
                    grace_ms: job.grace_ms,
                    last_seen,
                });
                if let Some(idx) = idx {
                    let node = &mut self.nodes[idx];
                    node.state = State::Down;
                    node.since = now;
                    self.arm(idx);
                }
            }
            self.jobs.rearm(&name);
        }
    }

    /// The job state of `node`, if it is a job.
    pub(super) fn job_state(&self, node: &Node) -> Option<JobState> {
        let job = self
            .jobs
            .by_node
            .get(node.name.as_str())
            .filter(|_| node.job)?;
        Some(job.state)
    }

    /// The job details of `node`, if it is a job, at `now`.
    pub(super) fn job_view(&self, node: &Node, now: Millis) -> Option<JobView<'_>> {
        let job = self
            .jobs
            .by_node
            .get(node.name.as_str())
            .filter(|_| node.job)?;
        let last = job.last.as_ref();
        Some(JobView {
            due: job.due_wall,
            due_ms: job.due_wall,
            grace_ms: job.grace_ms,
            running_ms: job.run.as_ref().map(|r| now.saturating_sub(r.started)),
            ended: last.map(|l| l.ended),
            duration_ms: last.map(|l| l.duration_ms),
            stderr: last.and_then(|l| l.stderr.as_deref()),
        })
    }

    /// A job read back from a state file: its state, and its deadline
    /// (`due_wall`, receiver wall clock, with `grace_ms`) counted from
    /// `now` (`wall_ms`); one already past is `late` at once.
    pub(super) fn restore_job(
        &mut self,
        idx: usize,
        state: JobState,
        due: Option<Due>,
        at: Moment,
    ) {
        let now = at.mono;
        let node = &mut self.nodes[idx];
        node.job = true;
        let name = node.name.clone();
        let job = self.jobs.entry(&name);
        job.state = state;
        if state == JobState::Running {
            job.run = Some(Run {
                boot: CompactString::default(),
                started: now,
                long_at: None,
            });
        }
        if let Some(due) = due.filter(|_| state != JobState::Late) {
            job.schedule(due, Some(at.wall), at);
        } else if let Some(due) = due {
            (job.due_wall, job.grace_ms) = (Some(due.due_ms), due.grace_ms);
        }
        self.jobs.rearm(&name);
    }
}

#[cfg(test)]
mod tests;
