//! What a sender says of itself beside its beats: that it stops on
//! purpose (`leave`), that it will be away (`away`), that its job starts
//! and ends (`start`, `done`). Each is a notice, sent in copies.

use std::io::{self, Write};
use std::thread;
use std::time::Duration;

use super::{Beater, Sends};
use crate::clock::wall_ms;
use crate::clock::Millis;
use crate::wire::{Away, Done, Due, Ended, Leave, Message, Start};

/// A notice (`leave`, `away`) is sent this many times, [`NOTICE_GAP`]
/// apart, so that one lost datagram does not lose it. Each copy has the
/// next seq, so a copy that arrives after the first is no replay.
const NOTICE_COPIES: u64 = 2;
const NOTICE_GAP: Duration = Duration::from_millis(10);

impl<W: Write> Beater<W> {
    /// Tells every target that this sender stops on purpose, after `beats`
    /// beats (its seqs go on from theirs); returns how many targets no
    /// copy could be sent to.
    pub(super) fn say_leave(&mut self, beats: u64) -> io::Result<u64> {
        let (node, boot) = (self.node.clone(), self.boot.clone());
        self.notify(beats, move |seq| {
            Message::Leave(Leave {
                node: node.clone().into(),
                seq,
                boot: boot.clone().into(),
                ts_ms: Some(wall_ms()),
            })
        })
    }

    /// Tells every target that this node will be away for `for_ms`, for
    /// `reason`; returns how many targets no copy could be sent to. A
    /// one-shot sender (`hb-send --away`) has a boot of its own, which
    /// listeners take as another process speaking for the node.
    pub fn say_away(&mut self, for_ms: Millis, reason: Option<&str>) -> io::Result<u64> {
        let (node, boot) = (self.node.clone(), self.boot.clone());
        let reason = reason.map(str::to_owned);
        self.notify(0, move |seq| {
            Message::Away(Away {
                node: node.clone().into(),
                seq,
                boot: boot.clone().into(),
                ts_ms: Some(wall_ms()),
                for_ms,
                reason: reason.clone().map(Into::into),
            })
        })
    }

    /// Tells every target that this node's job starts, due again at `due`,
    /// to run at most `max_run_ms`; returns how many targets no copy could
    /// be sent to. Each run is a process, and so a boot, of its own.
    pub fn say_start(&mut self, due: Option<Due>, max_run_ms: Option<Millis>) -> io::Result<u64> {
        let (node, boot) = (self.node.clone(), self.boot.clone());
        self.notify(0, move |seq| {
            Message::Start(Start {
                node: node.clone().into(),
                seq,
                boot: boot.clone().into(),
                ts_ms: Some(wall_ms()),
                due,
                max_run_ms,
            })
        })
    }

    /// Tells every target that this node's job ended so, after
    /// `duration_ms`, its last line of standard error `stderr`, due again
    /// at `due`; returns how many targets no copy could be sent to.
    pub fn say_done(
        &mut self,
        due: Option<Due>,
        ended: Ended,
        duration_ms: Millis,
        stderr: Option<&str>,
    ) -> io::Result<u64> {
        let (node, boot) = (self.node.clone(), self.boot.clone());
        let stderr = stderr.map(str::to_owned);
        self.notify(NOTICE_COPIES, move |seq| {
            Message::Done(Done {
                node: node.clone().into(),
                seq,
                boot: boot.clone().into(),
                ts_ms: Some(wall_ms()),
                due,
                ended,
                duration_ms,
                stderr: stderr.clone().map(Into::into),
            })
        })
    }

    /// Sends [`NOTICE_COPIES`] copies of a notice to every target, with
    /// seqs following `after`; returns how many targets none reached.
    fn notify(&mut self, after: u64, notice: impl Fn(u64) -> Message<'static>) -> io::Result<u64> {
        let mut reached = vec![false; self.addresses.len()];
        for copy in 1..=NOTICE_COPIES {
            if copy > 1 {
                thread::sleep(NOTICE_GAP);
            }
            self.codec
                .encode(&notice(after + copy), &mut self.datagram)
                .map_err(io::Error::other)?;
            self.next_round(false);
            for (i, reached) in reached.iter_mut().enumerate() {
                let mut sends = Sends::default();
                let plan = self.addresses.plan(i);
                self.deliver(i, plan, &mut sends);
                *reached |= !sends.to.is_empty();
            }
        }
        Ok(reached.iter().filter(|r| !**r).count() as u64)
    }
}
