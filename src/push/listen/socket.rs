//! The socket loop: everything queued is read before any deadline fires,
//! and each beat is judged at the instant the kernel received it, so a
//! listener that was slow (stopped, starved, blocked on its output) does
//! not blame the nodes for beats that were waiting in its socket. Stalls
//! and the socket's drops are noticed and told to the detector.

use std::io::{self, Write};
use std::net::UdpSocket;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::Listener;
use crate::clock::{duration_ms, Clock, Millis, Moment};
use crate::net::{self, pktinfo, unreachable, Received};
use crate::self_watch::stall_tolerance;

/// Batches read in one turn at most before deadlines are judged: under a
/// flood the loop still turns, judging up to what it has read.
const BATCHES_PER_TURN: usize = 64;

impl<W: Write> Listener<W> {
    /// Receives datagrams until `stop` is set or output fails.
    pub fn run_socket(
        &mut self,
        socket: &UdpSocket,
        clock: &Clock,
        stop: &AtomicBool,
    ) -> io::Result<()> {
        let mut receiver = net::Receiver::default();
        if self.confirm.is_some() {
            // A probe to a closed port comes back as an error report.
            unreachable::report(socket)?;
            // A node is asked from the address it beats to, the one it
            // answers (this host may have several).
            pktinfo::note_destinations(socket)?;
        }
        // A turn's lines in one write: under a flood, a write per event
        // (and a wakeup of the reader each) would cost the loop more than
        // judging the beats.
        self.out.hold_lines();
        self.tick(clock.moment())?;
        while !stop.load(Ordering::Relaxed) {
            self.share_view(socket, clock.now());
            if let Some(confirm) = &mut self.confirm {
                confirm.probe(
                    socket,
                    &self.intake.codec,
                    &mut self.detector,
                    clock.now(),
                    &mut self.events,
                );
            }
            let wait = self
                .next_wake()
                .map_or(net::STOP_CHECK, |at| clock.until(at))
                .min(net::STOP_CHECK);
            let tolerance = stall_tolerance(self.detector.shortest_interval());
            let now = clock.now();
            let working = self
                .watch
                .waiting(now, duration_ms(wait), tolerance, &mut self.observed);
            self.note_stall(working, now);
            self.flush(clock.moment())?;
            self.out.flush()?;
            receiver.fill(socket, wait)?;
            let at = clock.moment();
            let now = at.mono;
            let waiting = self.watch.back(now, tolerance, &mut self.observed);
            self.note_stall(waiting, now);
            self.flush(at)?;
            let mut judged_to = None;
            let mut batches = 0;
            loop {
                // Drops first: the beats of this batch are judged knowing
                // that others were lost at this observer.
                self.note_drops(at, receiver.dropped())?;
                self.judge(receiver.timed(), at, &mut judged_to)?;
                batches += 1;
                if !receiver.batch_was_full() || batches >= BATCHES_PER_TURN {
                    break;
                }
                receiver.fill(socket, Duration::ZERO)?;
            }
            self.note_unreachable(&mut receiver, now);
            // All that was queued is judged: time goes on to now. Else only
            // as far as what was read.
            let drained = !receiver.batch_was_full();
            let until = if drained {
                now
            } else {
                judged_to.unwrap_or(now)
            };
            self.tick(Moment::new(until, at.wall))?;
        }
        self.finish_state(clock.moment());
        self.out.flush()
    }

    /// Judges a batch of datagrams, each at the instant it arrived (at the
    /// latest `now`), in the order they arrived.
    fn judge<'a>(
        &mut self,
        batch: impl Iterator<Item = Received<'a>>,
        at: Moment,
        judged_to: &mut Option<Millis>,
    ) -> io::Result<()> {
        for datagram in batch {
            let arrived = arrival(datagram.arrived_ns, at, *judged_to);
            let received = Moment::new(arrived, at.wall);
            *judged_to = Some(received.mono);
            // Said as a person reads it, in every line and table; sent
            // back to in the socket's own words (`net::sent_to`).
            let from = net::canonical(datagram.from);
            let bytes = datagram.bytes.len();
            if let Some(message) = self.intake.open(datagram.bytes, from, received.mono) {
                self.accept(received, message, Some(from), datagram.to, bytes, true)?;
            }
            self.flush(received)?;
        }
        Ok(())
    }

    /// What the kernel reported undeliverable: a probe of a suspect node
    /// met a closed port. Nothing to do, and no cost, when no report came;
    /// the verdicts are printed by the tick that follows.
    fn note_unreachable(&mut self, receiver: &mut net::Receiver, now: Millis) {
        let Some(confirm) = &mut self.confirm else {
            return;
        };
        let keyed = self.intake.codec.is_keyed();
        for report in receiver.unreachable() {
            confirm.on_unreachable(&report, keyed, now, &mut self.detector, &mut self.events);
        }
    }

    /// A stall the listener's watch noticed: pending deadlines move by it.
    fn note_stall(&mut self, stall: Option<Millis>, now: Millis) {
        let Some(stall) = stall else {
            return;
        };
        self.detector.stalled(stall, now);
        if let Some(m) = &self.metrics {
            m.stalled(stall);
        }
    }

    /// The socket's drop count after a batch: drops are beats lost at this
    /// observer, which the detector must not count against the nodes.
    fn note_drops(&mut self, at: Moment, count: Option<u32>) -> io::Result<()> {
        let now = at.mono;
        let before = self.watch.status().dropped;
        if self.watch.drops(now, count, &mut self.observed) {
            self.detector.dropped_beats(now);
            if let Some(m) = &self.metrics {
                m.dropped(self.watch.status().dropped - before);
            }
        }
        self.flush(at)
    }
}

/// When a datagram counts as received, on the monotonic clock: when the
/// kernel received it (its wall-clock stamp, measured back from `now` and
/// `wall`), never later than now nor earlier than the one before it (a
/// wall clock that steps must not reorder beats), or now when the kernel
/// does not say.
fn arrival(arrived_ns: Option<u64>, at: Moment, previous: Option<Millis>) -> Millis {
    let now = at.mono;
    let floor = previous.unwrap_or(0);
    let Some(ns) = arrived_ns else {
        return now.max(floor);
    };
    let ago = at.wall.saturating_sub(ns / 1_000_000);
    now.saturating_sub(ago).max(floor).min(now)
}

#[cfg(test)]
mod tests;
