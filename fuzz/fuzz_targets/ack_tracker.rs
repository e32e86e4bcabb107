#![no_main]
//! The sender's ack bookkeeping (`ack::tracker::Tracker`) fed a sequence
//! of beats sent, acks received (for beats awaited, repeated, unknown, or
//! for targets that do not exist) and clock steps. After every step:
//!
//! - nothing panicked;
//! - each target's path goes `up` and `down` in turn: `down` only after
//!   `misses` missed beats in a row, `up` with a `down_for` exactly when it
//!   was down;
//! - the counts are consistent: acks in time plus beats missed never exceed
//!   the beats sent, late acks never exceed the beats missed, the missed
//!   count never goes down; and once every timeout has passed, each beat
//!   is accounted for exactly (acked in time, or missed), unless more beats
//!   were awaited at once than the tracker remembers;
//! - after `expire(now)`, the next deadline is not in the past;
//! - memory is bounded: at most 256 beats awaited per target.

use std::time::Duration;

use arbitrary::Arbitrary;
use hb::ack::tracker::{Config, Observation, Tracker};
use libfuzzer_sys::fuzz_target;

/// Beats a target's tracker remembers (the tracker's own bound).
const REMEMBERED: usize = 256;

#[derive(Arbitrary, Debug)]
struct Input {
    targets: u8,
    misses: u8,
    timeout_ms: u16,
    ops: Vec<Op>,
}

#[derive(Arbitrary, Debug)]
enum Op {
    /// The next beat (seq one more than the last) to a target.
    Send {
        target: u8,
    },
    /// A beat with a seq of the sender's choosing (a restart, a repeat).
    SendSeq {
        target: u8,
        seq: u16,
    },
    /// Many beats to a target in a row.
    Burst {
        target: u8,
        count: u16,
    },
    /// An ack from any target index (out of range: ignored) for a seq near
    /// the last one sent.
    Ack {
        target: u8,
        back: u16,
    },
    Step {
        ms: u16,
    },
}

#[derive(Default, Clone)]
struct Counts {
    sent: u64,
    in_time: u64,
    late: u64,
    missed: u64,
    /// Beats the model knows are awaited (sent, not acked, not forgotten).
    awaited: usize,
    /// Whether the tracker had to forget a beat.
    forgot: bool,
    down: bool,
    up: bool,
    next_seq: u64,
}

fuzz_target!(|input: Input| {
    let n = usize::from(input.targets % 4) + 1;
    let cfg = Config {
        misses: u32::from(input.misses).max(1),
        timeout: Duration::from_millis(u64::from(input.timeout_ms).max(1)),
    };
    let mut tracker = Tracker::new(cfg, n);
    let mut counts = vec![Counts::default(); n];
    let mut now = Duration::ZERO;
    let mut out = Vec::new();
    let send = |tracker: &mut Tracker, c: &mut Counts, target: usize, seq: u64, now| {
        tracker.sent(target, seq, now);
        c.sent += 1;
        c.next_seq = seq + 1;
        c.awaited += 1;
        if c.awaited > REMEMBERED {
            c.awaited -= 1;
            c.forgot = true;
        }
    };
    for op in input.ops {
        let mut expired = false;
        match op {
            Op::Send { target } => {
                let t = usize::from(target) % n;
                let seq = counts[t].next_seq;
                send(&mut tracker, &mut counts[t], t, seq, now);
            }
            Op::SendSeq { target, seq } => {
                let t = usize::from(target) % n;
                send(&mut tracker, &mut counts[t], t, seq.into(), now);
            }
            Op::Burst { target, count } => {
                let t = usize::from(target) % n;
                for _ in 0..count % 600 {
                    let seq = counts[t].next_seq;
                    send(&mut tracker, &mut counts[t], t, seq, now);
                }
            }
            Op::Ack { target, back } => {
                let t = usize::from(target);
                let last = counts.get(t).map_or(0, |c| c.next_seq);
                tracker.acked(t, last.saturating_sub(back.into()), now, &mut out);
            }
            Op::Step { ms } => {
                now += Duration::from_millis(ms.into());
                tracker.expire(now, &mut out);
                expired = true;
            }
        }
        for o in out.drain(..) {
            match o {
                Observation::Ack { target, late, .. } => {
                    let c = &mut counts[target];
                    if late {
                        c.late += 1;
                    } else {
                        c.in_time += 1;
                    }
                    c.awaited -= 1;
                }
                Observation::Up {
                    target, down_for, ..
                } => {
                    let c = &mut counts[target];
                    assert!(!c.up, "up twice for target {target}");
                    assert_eq!(down_for.is_some(), c.down, "down_for iff it was down");
                    (c.up, c.down) = (true, false);
                }
                Observation::Down { target, missed, .. } => {
                    let c = &mut counts[target];
                    assert!(!c.down, "down twice for target {target}");
                    assert!(missed >= cfg.misses, "down after {missed} missed");
                    (c.up, c.down) = (false, true);
                }
            }
        }
        for (t, c) in counts.iter_mut().enumerate() {
            let missed = tracker.missed(t);
            assert!(missed >= c.missed, "missed went down for target {t}");
            c.missed = missed;
            assert!(
                c.in_time + missed <= c.sent,
                "target {t}: more outcomes than beats"
            );
            assert!(
                c.late <= missed,
                "target {t}: more late acks than missed beats"
            );
        }
        if expired {
            if let Some(due) = tracker.next_deadline() {
                assert!(due > now, "next deadline {due:?} not after now {now:?}");
            }
        }
        assert_eq!(tracker.settled(), tracker.next_deadline().is_none());
    }
    // Every timeout passes: each beat is acked in time or missed.
    now += cfg.timeout;
    tracker.expire(now, &mut out);
    assert!(tracker.settled(), "beats still awaited after their timeout");
    for (t, c) in counts.iter().enumerate() {
        if !c.forgot {
            assert_eq!(c.in_time + tracker.missed(t), c.sent, "target {t}");
        }
    }
    let awaited = format!("{tracker:?}").matches("Awaited {").count();
    assert!(
        awaited <= REMEMBERED * n,
        "{awaited} beats awaited by {n} targets"
    );
});
