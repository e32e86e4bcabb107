//! The push receiver behind `hb-listen`: datagrams in, verdicts out.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};

use serde::Serialize;

use crate::clock::{Clock, Millis};
use crate::detector::{Detector, Event, Snapshot};
use crate::net;
use crate::output::{wall_ms, Output};
use crate::wire::{self, Message, Reject};

/// What arrived, and what was refused and why.
#[derive(Debug, Default, Serialize)]
pub struct Counters {
    /// Datagrams accepted.
    pub received: u64,
    /// Datagrams refused, by reason.
    pub rejected: BTreeMap<&'static str, u64>,
}

impl Counters {
    pub fn reject(&mut self, why: Reject) {
        *self.rejected.entry(why.as_str()).or_default() += 1;
    }
}

/// The `status` line: membership for routing decisions, plus counters.
#[derive(Serialize)]
#[serde(tag = "type", rename = "status")]
struct Status<'a> {
    #[serde(flatten)]
    members: Snapshot<'a>,
    #[serde(flatten)]
    counters: &'a Counters,
}

/// A heartbeat listener: one socket, one detector, one output.
pub struct Listener<W: Write> {
    socket: UdpSocket,
    detector: Detector,
    clock: Clock,
    out: Output<W>,
    status_every: Option<Millis>,
    counters: Counters,
    events: Vec<Event>,
}

impl<W: Write> Listener<W> {
    /// `clock` must be the one the detector was created with.
    pub fn new(
        socket: UdpSocket,
        detector: Detector,
        clock: Clock,
        out: Output<W>,
        status_every: Option<Millis>,
    ) -> Self {
        Listener {
            socket,
            detector,
            clock,
            out,
            status_every,
            counters: Counters::default(),
            events: Vec::new(),
        }
    }

    /// Receives and judges until `stop` is set or output fails.
    pub fn run(&mut self, stop: &AtomicBool) -> io::Result<()> {
        let mut buf = vec![0u8; 65536];
        let mut next_status = self.status_every;
        while !stop.load(Ordering::Relaxed) {
            let now = self.clock.now();
            self.detector.expire(now, &mut self.events);
            self.flush_events()?;
            if let Some(due) = next_status.filter(|&due| due <= now) {
                self.emit_status(now)?;
                let every = self.status_every.unwrap_or(1);
                // Skip missed slots rather than bursting after a stall.
                next_status = Some(due + every * ((now - due) / every + 1));
            }
            let wake = [self.detector.next_deadline(), next_status]
                .into_iter()
                .flatten()
                .min();
            let wait = wake.map_or(net::STOP_CHECK, |at| self.clock.until(at));
            if let Some((len, from)) = net::recv_within(&self.socket, &mut buf, wait)? {
                self.handle(&buf[..len], from);
                self.flush_events()?;
            }
        }
        Ok(())
    }

    fn handle(&mut self, datagram: &[u8], from: SocketAddr) {
        match wire::decode(datagram) {
            Ok(Message::Beat(beat)) => {
                self.counters.received += 1;
                let now = self.clock.now();
                // A deadline that passed while this datagram was on its way
                // is judged first: the silence did reach it.
                self.detector.expire(now, &mut self.events);
                self.detector
                    .observe(now, wall_ms(), Some(from), &beat, &mut self.events);
            }
            Ok(Message::Probe(_) | Message::Reply(_) | Message::Ack(_)) => {
                self.counters.reject(Reject::UnexpectedType)
            }
            Err(why) => self.counters.reject(why),
        }
    }

    fn flush_events(&mut self) -> io::Result<()> {
        if self.events.is_empty() {
            return Ok(());
        }
        let at = wall_ms();
        for event in self.events.drain(..) {
            self.out.emit(at, &event)?;
        }
        Ok(())
    }

    fn emit_status(&mut self, now: Millis) -> io::Result<()> {
        let status = Status {
            members: self.detector.snapshot(now),
            counters: &self.counters,
        };
        self.out.emit(wall_ms(), &status)
    }
}
