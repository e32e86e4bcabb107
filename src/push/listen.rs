//! The push receiver behind `hb-listen`: beats in, verdicts out.
//!
//! Beats come from a UDP socket, or from NDJSON lines (`recorded`); the
//! membership they make is printed as `status` lines and kept in the
//! `--state` file (`state`). In a quorum group, local verdicts are votes
//! and the group's verdicts are printed ([`crate::quorum::link`]).

use std::io::{self, Write};
use std::net::{IpAddr, SocketAddr, UdpSocket};

use crate::clock::{Cadence, Millis, Moment};
use crate::detector::{Arrival, Detector, Event, SnapshotStream, Trust};
use crate::hooks::Actions;
use crate::intake::Intake;
use crate::metrics::Metrics;
use crate::output::Sink;
use crate::quorum::link::{GroupLink, Membership};
use crate::self_watch::{SelfWatch, SelfWatchLine};
use crate::web::WebSide;
use crate::wire::{Message, Reject};

mod confirm;
mod recorded;
mod reload;
mod restore;
mod sampling;
mod socket;
mod state;

pub use confirm::ConfirmOptions;
use confirm::Confirmer;
pub use recorded::spawn_line_reader;
pub use reload::ReadExpected;
use reload::Reloading;
pub use restore::restore_state;
use sampling::Sampling;
use state::{Destination, StateFile};

/// One detector, its output, and the periodic status line.
pub struct Listener<W: Write> {
    detector: Detector,
    /// Where every line goes: stdout, metrics, hooks.
    out: Sink<W>,
    status_every: Option<Millis>,
    /// When `status` lines are due.
    status: Option<Cadence>,
    /// The membership of `status` lines, written a piece at a time.
    status_stream: SnapshotStream,
    intake: Intake,
    /// With a key: how far a new boot's clock may be from ours.
    max_skew_ms: Option<u64>,
    events: Vec<Event>,
    group: Option<GroupLink>,
    state_file: Option<StateFile>,
    /// The web side's `/status`, snapshotted when a client asks.
    web_status: Option<StateFile>,
    metrics: Option<Metrics>,
    /// Node samples being copied out for a scrape.
    sampling: Option<Sampling>,
    /// The listener's watch over its own stalls and overload.
    watch: SelfWatch,
    observed: Vec<SelfWatchLine>,
    /// What SIGHUP reads again.
    reload: Option<Reloading>,
    /// Suspect nodes asked before they are declared down (`--confirm`).
    confirm: Option<Confirmer>,
}

impl<W: Write> Listener<W> {
    /// `start` is the detector's start on the clock the listener will be
    /// driven by. `max_skew_ms` applies when the intake's codec is keyed.
    pub fn new(
        detector: Detector,
        out: Sink<W>,
        intake: Intake,
        max_skew_ms: u64,
        status_every: Option<Millis>,
        start: Millis,
    ) -> Self {
        Listener {
            detector,
            out,
            status_every,
            status: status_every.map(|every| Cadence::new(start + every, every)),
            status_stream: SnapshotStream::default(),
            max_skew_ms: intake.codec.is_keyed().then_some(max_skew_ms),
            intake,
            events: Vec::new(),
            group: None,
            state_file: None,
            web_status: None,
            metrics: None,
            sampling: None,
            watch: SelfWatch::default(),
            observed: Vec::new(),
            reload: None,
            confirm: None,
        }
    }

    /// Asks suspect nodes that answer before declaring them down (see
    /// `confirm`). Needs a socket (`run_socket`): a recording has no one
    /// to ask.
    pub fn confirm_suspicions(&mut self, opts: ConfirmOptions) -> io::Result<()> {
        self.confirm = Some(Confirmer::new(opts)?);
        Ok(())
    }

    /// Runs hooks on the lines printed (`--on`), and reminds of nodes
    /// still down (`--remind-every`).
    pub fn act(&mut self, actions: Actions) {
        self.out.subscribe(Box::new(actions));
    }

    /// Makes this listener one observer of a quorum group: its `up` and
    /// `down` become group verdicts. Needs a socket (`run_socket`).
    pub fn join_group(&mut self, m: Membership, start: Millis) {
        self.group = Some(GroupLink::new(m, start));
    }

    /// Sends this observer's view to its peers when it is due.
    pub(super) fn share_view(&mut self, socket: &UdpSocket, now: Millis) {
        if let Some(g) = &mut self.group {
            g.share_view(socket, now, &self.detector, &self.intake.codec);
        }
    }

    /// Fires what is due at `at`.
    fn tick(&mut self, at: Moment) -> io::Result<()> {
        let now = at.mono;
        self.reload_if_asked(at)?;
        self.watch.tick(now, &mut self.observed);
        self.detector.expire(now, &mut self.events);
        // Forgetting moves nodes: not while a copy of the table is under way.
        let copying = self.sampling.is_some()
            || [&self.state_file, &self.web_status]
                .into_iter()
                .flatten()
                .any(StateFile::is_writing);
        if self.detector.has_forgettable() && !copying {
            self.detector.forget_due(now, &mut self.events);
        }
        if let Some(g) = &mut self.group {
            g.tick(now, &self.detector);
        }
        self.flush(at)?;
        self.out.tick(at)?;
        if let Some(cadence) = self.status.as_mut().filter(|c| c.due() <= now) {
            cadence.advance(now);
            self.emit_status(at)?;
        }
        self.step_state(at);
        self.step_sampling();
        Ok(())
    }

    /// Exports counters and events as Prometheus metrics (`--metrics`), and
    /// hands the node table to scrapes for the node series.
    pub fn export(&mut self, metrics: Metrics) {
        self.intake.metrics = Some(metrics.clone());
        self.out.subscribe(Box::new(metrics.clone()));
        self.metrics = Some(metrics);
    }

    /// Serves the web side (`--metrics`): its metrics, every line printed
    /// on `/events`, and the membership on `/status` when a client asks.
    pub fn serve_web(&mut self, web: &WebSide) -> io::Result<()> {
        self.export(web.metrics().clone());
        if let Some(feed) = web.events() {
            self.out.subscribe(Box::new(feed));
        }
        if let Some(share) = web.status() {
            // Snapshots for /status are due on demand: no period.
            self.web_status = Some(StateFile::new(Destination::Web(share), 0)?);
        }
        Ok(())
    }

    fn next_wake(&self) -> Option<Millis> {
        self.status
            .map(|c| c.due())
            .into_iter()
            .chain(self.next_work())
            .min()
    }

    /// When something other than a `status` line is due: a deadline, a
    /// view, the state file, a copy, the listener's watch over itself, a
    /// reminder or the hooks' reports.
    fn next_work(&self) -> Option<Millis> {
        [
            self.detector.next_deadline(),
            self.out.next_wake(),
            self.group.as_ref().and_then(GroupLink::next_wake),
            self.confirm.as_ref().and_then(Confirmer::next_wake),
            self.state_file
                .as_ref()
                .and_then(|s| s.next_wake(&self.detector)),
            self.web_status
                .as_ref()
                .and_then(|s| s.next_wake(&self.detector)),
            // A copy under way goes on at once.
            self.sampling.as_ref().map(|_| 0),
            self.watch.next_wake(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Judges a message from `from`, sent to this host's address `to`, in
    /// a datagram of `bytes` (0 for a recorded line). `live`: it came from
    /// the network, so replay protection applies (a recording is trusted);
    /// the node limit always.
    fn accept(
        &mut self,
        at: Moment,
        message: Message<'_>,
        from: Option<SocketAddr>,
        to: Option<IpAddr>,
        bytes: usize,
        live: bool,
    ) -> io::Result<()> {
        let trust = match live {
            true => Trust::Network {
                max_skew_ms: self.max_skew_ms,
            },
            false => Trust::Recording,
        };
        let judged = match message {
            Message::View(view) => match &mut self.group {
                Some(g) => g.on_view(&view, from, at, self.max_skew_ms, &self.detector),
                None => Err(Reject::UnknownPeer),
            },
            Message::Reply(reply) if live => match &mut self.confirm {
                Some(c) => {
                    let answered = c.on_reply(&reply, at, &mut self.detector, &mut self.events);
                    if answered.is_ok() {
                        // An answer came from the node's address as surely
                        // as a beat: it pays for the next probes.
                        self.detector.earn(&reply.node, from, bytes);
                    }
                    answered
                }
                None => Err(Reject::UnexpectedType),
            },
            message => {
                let came = Arrival::new(at, from, trust).to(to).in_datagram(bytes);
                self.detector.take(&message, came, &mut self.events)
            }
        };
        match judged {
            Ok(()) => self.intake.accepted(),
            Err(why) => {
                if why == Reject::TooManyNodes {
                    self.watch.table_full(at.mono, &mut self.observed);
                }
                self.intake.reject(why, from, at.mono)
            }
        }
        self.flush(at)
    }

    /// A recorded line: a message, or garbage to count.
    fn accept_line(
        &mut self,
        at: Moment,
        message: Result<Message<'_>, Reject>,
        from: Option<SocketAddr>,
    ) -> io::Result<()> {
        match message {
            Ok(message) => self.accept(at, message, from, None, 0, false),
            Err(why) => {
                self.intake.reject(why, from, at.mono);
                self.flush(at)
            }
        }
    }

    /// Prints what was said since the last flush, in this order: the
    /// listener's own `observer` lines, the `rejected` lines
    /// `--log-rejects` asked for, and the detector's events. In a group,
    /// the detector's `up`, `suspect` and `down` are only this observer's
    /// vote: they are judged with the peers' votes and the group's
    /// verdicts printed instead.
    fn flush(&mut self, at: Moment) -> io::Result<()> {
        for line in self.observed.drain(..) {
            self.out.emit(at, &line)?;
        }
        for line in self.intake.pending.drain(..) {
            self.out.emit(at, &line)?;
        }
        if self.events.is_empty() && self.group.is_none() {
            return Ok(());
        }
        if let Some(state) = &mut self.state_file {
            // Beats alone change no membership.
            state.dirty |= self.events.iter().any(|e| !matches!(e, Event::Beat { .. }));
        }
        for event in self.events.drain(..) {
            if let Some(confirm) = &mut self.confirm {
                confirm.note(&event, &self.detector, at.mono);
            }
            if self.group.as_mut().is_some_and(|g| g.take_vote(&event)) {
                continue;
            }
            self.out.emit(at, &event)?;
        }
        let Some(g) = &mut self.group else {
            return Ok(());
        };
        g.judge(&self.detector, at.mono);
        if let Some(state) = &mut self.state_file {
            state.dirty |= g.has_events();
        }
        for event in g.drain_events() {
            self.out.emit(at, &event)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
