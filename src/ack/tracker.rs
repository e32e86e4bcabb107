//! Heartbeats with acknowledgement, the sender's side: per target, which
//! beats were acknowledged (in time or late) and whether the path to the
//! receiver is up.
//!
//! A beat is missed when its ack has not come within the timeout. After
//! `misses` missed beats in a row the target is `down` (the receiver, or
//! the path in either direction, is gone); any ack, even a late one, proves
//! both ends alive again. Pure: time is passed in, as a [`Duration`] since
//! the sender started, so tests use a fake clock.

use std::collections::VecDeque;
use std::time::Duration;

/// How acks are judged.
#[derive(Debug, Clone, Copy)]
pub struct Config {
    /// Missed beats in a row before `down`.
    pub misses: u32,
    /// How long a beat's ack may take before the beat counts as missed.
    pub timeout: Duration,
}

/// Missed beats are remembered this long (in beats) so a late ack is still
/// recognised; older ones are forgotten, which bounds memory per target.
const REMEMBERED: usize = 256;

/// What the tracker observed, for one target (by index).
#[derive(Debug, Clone, PartialEq)]
pub enum Observation {
    /// An ack for one of our beats (first one per beat only).
    Ack {
        target: usize,
        seq: u64,
        rtt: Duration,
        /// It came after its timeout: the beat had already been counted
        /// as missed. It still proves life.
        late: bool,
    },
    /// Acks (again) come back. `down_for` is set when the target was down.
    Up {
        target: usize,
        rtt: Duration,
        down_for: Option<Duration>,
    },
    /// `missed` beats in a row without an ack in time.
    Down {
        target: usize,
        missed: u32,
        /// Since the last ack (or since the start, if none ever came).
        silent: Duration,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Path {
    Unknown,
    Up,
    Down,
}

#[derive(Debug)]
struct Awaited {
    seq: u64,
    sent: Duration,
    missed: bool,
}

#[derive(Debug)]
struct TargetState {
    /// Beats not acked yet, oldest first.
    awaited: VecDeque<Awaited>,
    streak: u32,
    path: Path,
    since: Duration,
    last_ack: Option<Duration>,
    /// Beats whose ack did not come in time, over the whole run.
    missed_total: u64,
    /// The highest seq acknowledged: older beats timing out after it say
    /// nothing about the path now.
    last_acked: Option<u64>,
}

/// Tracks acks for every target of one sender.
#[derive(Debug)]
pub struct Tracker {
    cfg: Config,
    targets: Vec<TargetState>,
}

impl Tracker {
    pub fn new(cfg: Config, targets: usize) -> Self {
        let state = || TargetState {
            awaited: VecDeque::new(),
            streak: 0,
            path: Path::Unknown,
            since: Duration::ZERO,
            last_ack: None,
            missed_total: 0,
            last_acked: None,
        };
        Tracker {
            cfg,
            targets: (0..targets).map(|_| state()).collect(),
        }
    }

    /// Beat `seq` went to `target` at `now`.
    pub fn sent(&mut self, target: usize, seq: u64, now: Duration) {
        let t = &mut self.targets[target];
        t.awaited.push_back(Awaited {
            seq,
            sent: now,
            missed: false,
        });
        if t.awaited.len() > REMEMBERED {
            t.awaited.pop_front();
        }
    }

    /// `target` acknowledged beat `seq` at `now`. Acks for beats we do not
    /// await (duplicates, or unknown) are ignored.
    pub fn acked(&mut self, target: usize, seq: u64, now: Duration, out: &mut Vec<Observation>) {
        let Some(t) = self.targets.get_mut(target) else {
            return;
        };
        let Some(pos) = t.awaited.iter().position(|a| a.seq == seq) else {
            return;
        };
        let beat = t.awaited.remove(pos).expect("position is in range");
        let rtt = now.saturating_sub(beat.sent);
        out.push(Observation::Ack {
            target,
            seq,
            rtt,
            late: beat.missed,
        });
        t.streak = 0;
        t.last_ack = Some(now);
        t.last_acked = Some(t.last_acked.map_or(seq, |s| s.max(seq)));
        if t.path != Path::Up {
            let down_for = (t.path == Path::Down).then(|| now.saturating_sub(t.since));
            out.push(Observation::Up {
                target,
                rtt,
                down_for,
            });
            t.path = Path::Up;
            t.since = now;
        }
    }

    /// Counts every beat whose timeout has passed by `now` as missed.
    pub fn expire(&mut self, now: Duration, out: &mut Vec<Observation>) {
        let timeout = self.cfg.timeout;
        for (target, t) in self.targets.iter_mut().enumerate() {
            for beat in t.awaited.iter_mut().filter(|a| !a.missed) {
                if beat.sent + timeout > now {
                    break; // sent in order, so the rest are younger
                }
                beat.missed = true;
                t.missed_total += 1;
                if t.last_acked.is_some_and(|acked| beat.seq < acked) {
                    continue;
                }
                t.streak += 1;
                if t.streak >= self.cfg.misses && t.path != Path::Down {
                    out.push(Observation::Down {
                        target,
                        missed: t.streak,
                        silent: now.saturating_sub(t.last_ack.unwrap_or_default()),
                    });
                    t.path = Path::Down;
                    t.since = now;
                }
            }
        }
    }

    /// The sender was not running for `stall`: the acks it awaits had that
    /// much more time to come, as it could not read them.
    pub fn stalled(&mut self, stall: Duration) {
        for t in &mut self.targets {
            for beat in t.awaited.iter_mut().filter(|a| !a.missed) {
                beat.sent += stall;
            }
        }
    }

    /// When the next beat's timeout runs out, if any beat is awaited.
    pub fn next_deadline(&self) -> Option<Duration> {
        self.targets
            .iter()
            .filter_map(|t| t.awaited.iter().find(|a| !a.missed))
            .map(|a| a.sent + self.cfg.timeout)
            .min()
    }

    /// True when no beat is still within its timeout.
    pub fn settled(&self) -> bool {
        self.next_deadline().is_none()
    }

    /// Beats to `target` whose ack did not come in time.
    pub fn missed(&self, target: usize) -> u64 {
        self.targets[target].missed_total
    }
}

#[cfg(test)]
mod tests;
