//! Heartbeats with acknowledgement, the sender's side on the wire
//! (`hb-send --ack`): acks matched to the beats they answer, and the lines
//! about each path to a receiver (`ack`, `up`, `down`). The bookkeeping
//! itself is the pure [`Tracker`].

use std::io::{self, Write};
use std::net::SocketAddr;
use std::time::Duration;

use serde::Serialize;

use crate::ack::tracker::{Observation, Tracker};
use crate::ack::Config;
use crate::auth::Codec;
use crate::clock::{wall_ms, Millis, Moment};
use crate::output::{ms, Sink};
use crate::wire::Message;

/// What `--ack` prints about a target: `node` is the receiver's own name,
/// once one of its acks told it.
#[derive(Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
enum PathEvent<'a> {
    Ack {
        target: &'a str,
        addr: SocketAddr,
        node: Option<&'a str>,
        seq: u64,
        rtt_ms: f64,
        late: bool,
    },
    Up {
        target: &'a str,
        addr: SocketAddr,
        node: Option<&'a str>,
        rtt_ms: f64,
        #[serde(skip_serializing_if = "Option::is_none")]
        was: Option<&'static str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        down_ms: Option<u64>,
    },
    Down {
        target: &'a str,
        addr: SocketAddr,
        node: Option<&'a str>,
        missed: u32,
        silent_ms: u64,
    },
}

/// Which lines [`AckedPaths::report`] prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lines {
    /// `up` and `down` of a path.
    pub transitions: bool,
    /// One `ack` line per ack.
    pub acks: bool,
}

/// The paths from one sender to its receivers, judged by their acks.
pub struct AckedPaths {
    tracker: Tracker,
    /// The receivers' names, as their acks say.
    receivers: Vec<Option<String>>,
    observations: Vec<Observation>,
    /// The time of the last [`AckedPaths::expire`], in milliseconds since
    /// the sender started.
    now: Millis,
}

impl AckedPaths {
    /// Paths to `targets` receivers, by index.
    pub fn new(cfg: Config, targets: usize) -> Self {
        AckedPaths {
            tracker: Tracker::new(cfg.judging, targets),
            receivers: vec![None; targets],
            observations: Vec::new(),
            now: 0,
        }
    }

    /// Beat `seq` went to target `target` at `now` (since the sender
    /// started); a beat that could not even be sent is awaited all the
    /// same: no ack will come, and that is what the tracker must see.
    pub fn sent(&mut self, target: usize, seq: u64, now: Duration) {
        self.tracker.sent(target, seq, now);
    }

    /// Turns the acks that did not come in time into misses.
    pub fn expire(&mut self, now: Duration) {
        self.now = now.as_millis() as Millis;
        self.tracker.expire(now, &mut self.observations);
    }

    /// The sender was not running for `stall`: awaited acks get that much
    /// longer.
    pub fn stalled(&mut self, stall: Duration) {
        self.tracker.stalled(stall);
    }

    /// When the next ack times out, if one is awaited.
    pub fn next_deadline(&self) -> Option<Duration> {
        self.tracker.next_deadline()
    }

    /// Every beat acknowledged or timed out.
    pub fn settled(&self) -> bool {
        self.tracker.settled()
    }

    /// Per target, the beats not acknowledged in time.
    pub fn unacked(&self) -> Vec<u64> {
        (0..self.receivers.len())
            .map(|i| self.tracker.missed(i))
            .collect()
    }

    /// A datagram that came back to the beating socket from `from`, an
    /// address of target `target` (None: of none): an ack for one of
    /// `node`'s beats, matched by seq; anything else is ignored.
    pub fn on_datagram(
        &mut self,
        datagram: &[u8],
        target: Option<usize>,
        now: Duration,
        codec: &Codec,
        node: &str,
    ) {
        let Ok(Message::Ack(ack)) = codec.decode(datagram) else {
            return;
        };
        if ack.of != node {
            return;
        }
        let Some(target) = target else {
            return;
        };
        if self.receivers[target].as_deref() != Some(ack.node.as_ref()) {
            self.receivers[target] = Some(ack.node.into_owned());
        }
        self.tracker
            .acked(target, ack.seq, now, &mut self.observations);
    }

    /// Prints what the tracker saw since the last call, as `lines` asks,
    /// each target by its name and the address it is sent to, as `target`
    /// says; with transitions, what the sink's subscribers have to say too
    /// (the reminders due and the hooks' reports).
    pub fn report<'t, W: Write>(
        &mut self,
        out: &mut Sink<W>,
        target: impl Fn(usize) -> (&'t str, SocketAddr),
        lines: Lines,
    ) -> io::Result<()> {
        let (transitions, verbose) = (lines.transitions, lines.acks);
        for obs in self.observations.drain(..) {
            let receiver = |i: usize| self.receivers[i].as_deref();
            let event = match obs {
                Observation::Ack {
                    target: i,
                    seq,
                    rtt,
                    late,
                } if verbose => {
                    let (name, addr) = target(i);
                    PathEvent::Ack {
                        target: name,
                        addr,
                        node: receiver(i),
                        seq,
                        rtt_ms: ms(rtt),
                        late,
                    }
                }
                Observation::Up {
                    target: i,
                    rtt,
                    down_for,
                } if transitions => {
                    let (name, addr) = target(i);
                    PathEvent::Up {
                        target: name,
                        addr,
                        node: receiver(i),
                        rtt_ms: ms(rtt),
                        was: down_for.map(|_| "down"),
                        down_ms: down_for.map(|d| d.as_millis() as u64),
                    }
                }
                Observation::Down {
                    target: i,
                    missed,
                    silent,
                } if transitions => {
                    let (name, addr) = target(i);
                    PathEvent::Down {
                        target: name,
                        addr,
                        node: receiver(i),
                        missed,
                        silent_ms: silent.as_millis() as u64,
                    }
                }
                _ => continue,
            };
            out.emit(Moment::new(self.now, wall_ms()), &event)?;
        }
        if transitions {
            out.tick(Moment::new(self.now, wall_ms()))?;
        }
        Ok(())
    }
}
