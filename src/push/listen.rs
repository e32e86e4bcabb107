//! The push receiver behind `hb-listen`: beats in, verdicts out.
//!
//! Beats come from a UDP socket, or from NDJSON lines (`--from`: what
//! hb-ack and `hb-listen --beats` print, or any recorded file), judged on
//! the real clock as they arrive or (`--replay`) on the clock of the lines'
//! own `ts_ms`, which makes a recorded trace give in milliseconds exactly
//! the events the detector would have given live.

use std::io::{self, BufRead, Write};
use std::net::{SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};

use serde::{Deserialize, Serialize};

use crate::clock::{Cadence, Clock, Millis};
use crate::detector::{Detector, Event, Snapshot, State, Trust};
use crate::intake::{Counters, Intake};
use crate::metrics::Metrics;
use crate::net;
use crate::output::{wall_ms, Output};
use crate::quorum::{Group, GroupEvent, Local};
use crate::wire::{self, Message, Reject, ViewState};

/// The `status` line: membership for routing decisions, plus counters.
#[derive(Serialize)]
#[serde(tag = "type", rename = "status")]
struct Status<'a> {
    #[serde(flatten)]
    members: Snapshot<'a>,
    #[serde(flatten)]
    counters: &'a Counters,
    #[serde(skip_serializing_if = "Option::is_none")]
    group: Option<GroupStatus>,
}

/// The quorum group in a `status` line.
#[derive(Serialize)]
struct GroupStatus {
    quorum: usize,
    reachable: Vec<String>,
    has_quorum: bool,
}

/// This listener as a member of a quorum group: the peers it shares views
/// with, and the group's votes and verdicts.
pub struct Membership {
    pub group: Group,
    pub observer: String,
    /// This observer's boot id, in its views (replay protection).
    pub boot: String,
    /// The other observers' listening addresses: views go there, and only
    /// views from there count.
    pub peers: Vec<SocketAddr>,
    /// How often views are sent (also at once after a local change).
    pub view_every: Millis,
}

impl GroupLink {
    /// When a view for a local change may go out: at once, but at most ten
    /// a view interval, so a burst of changes (a fleet restarting, a flood
    /// of invented names) is not a burst of full views to every peer.
    fn next_change_view(&self) -> Millis {
        self.last_sent + (self.m.view_every / 10).max(10)
    }
}

struct GroupLink {
    m: Membership,
    next_view: Millis,
    seq: u64,
    /// A local state changed since the last view was sent.
    dirty: bool,
    last_sent: Millis,
    /// Nodes whose verdict must be re-judged.
    rejudge: Vec<String>,
    events: Vec<GroupEvent>,
}

/// Where a recorded line says its beat came from: `from` in hb-ack's
/// lines, `addr` in hb-listen's.
#[derive(Deserialize)]
struct Origin {
    from: Option<SocketAddr>,
    addr: Option<SocketAddr>,
    ts_ms: Option<u64>,
}

/// One detector, its output, and the periodic status line.
pub struct Listener<W: Write> {
    detector: Detector,
    out: Output<W>,
    status_every: Option<Millis>,
    /// When `status` lines are due.
    status: Option<Cadence>,
    intake: Intake,
    /// With a key: how far a new boot's clock may be from ours.
    max_skew_ms: Option<u64>,
    events: Vec<Event>,
    group: Option<GroupLink>,
    state_file: Option<StateFile>,
    metrics: Option<Metrics>,
}

impl<W: Write> Listener<W> {
    /// `start` is the detector's start on the clock the listener will be
    /// driven by. `max_skew_ms` applies when the intake's codec is keyed.
    pub fn new(
        detector: Detector,
        out: Output<W>,
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
            max_skew_ms: intake.codec.is_keyed().then_some(max_skew_ms),
            intake,
            events: Vec::new(),
            group: None,
            state_file: None,
            metrics: None,
        }
    }

    /// Makes this listener one observer of a quorum group: its `up` and
    /// `down` become group verdicts. Needs a socket (`run_socket`).
    pub fn join_group(&mut self, m: Membership, start: Millis) {
        self.group = Some(GroupLink {
            next_view: start,
            m,
            seq: 0,
            dirty: false,
            last_sent: 0,
            rejudge: Vec::new(),
            events: Vec::new(),
        });
    }

    /// Receives datagrams until `stop` is set or output fails.
    pub fn run_socket(
        &mut self,
        socket: &UdpSocket,
        clock: &Clock,
        stop: &AtomicBool,
    ) -> io::Result<()> {
        let mut receiver = net::Receiver::default();
        while !stop.load(Ordering::Relaxed) {
            let now = clock.now();
            self.tick(now, wall_ms())?;
            self.share_view(socket, now);
            let wait = self
                .next_wake()
                .map_or(net::STOP_CHECK, |at| clock.until(at));
            let batch = receiver.recv(socket, wait)?;
            // A batch arrived at one instant: the clocks are read once for
            // all of it.
            let (now, wall) = (clock.now(), wall_ms());
            for (datagram, from) in batch {
                if let Some(message) = self.intake.open(datagram, from, now) {
                    self.accept(now, wall, message, Some(from), true)?;
                }
                self.flush_rejects(wall)?;
            }
        }
        Ok(())
    }

    /// Sends this observer's view to every peer when it is due, or at once
    /// after a local change, so agreement takes at most one view interval.
    fn share_view(&mut self, socket: &UdpSocket, now: Millis) {
        let Some(g) = &mut self.group else {
            return;
        };
        if now < g.next_view && !(g.dirty && now >= g.next_change_view()) {
            return;
        }
        g.last_sent = now;
        g.seq += 1;
        let states = self.detector.states().filter_map(|(name, state)| {
            let shared = match state {
                State::Up => ViewState::Up,
                State::Suspect => ViewState::Suspect,
                State::Down => ViewState::Down,
                State::Pending => return None,
            };
            Some((name, shared))
        });
        let parts = wire::encode_views(&g.m.observer, &g.m.boot, g.seq, wall_ms(), states);
        g.seq += parts.len() as u64 - 1;
        for mut part in parts {
            if self.intake.codec.seal(&mut part).is_err() {
                continue; // views are split with room for the MAC
            }
            for peer in &g.m.peers {
                // Best effort: a peer that is down is what views detect.
                let _ = socket.send_to(&part, peer);
            }
        }
        g.dirty = false;
        g.next_view = now + g.m.view_every;
    }

    /// Judges lines as they arrive (from a reader thread), on the real
    /// clock, until the input ends or `stop` is set.
    pub fn run_lines(
        &mut self,
        lines: &Receiver<String>,
        clock: &Clock,
        stop: &AtomicBool,
    ) -> io::Result<()> {
        while !stop.load(Ordering::Relaxed) {
            self.tick(clock.now(), wall_ms())?;
            let wait = self
                .next_wake()
                .map_or(net::STOP_CHECK, |at| clock.until(at));
            match lines.recv_timeout(wait.min(net::STOP_CHECK)) {
                Ok(line) => {
                    if let (Some(message), origin) = parse_line(&line) {
                        let from = origin.and_then(|o| o.from.or(o.addr));
                        self.accept_line(clock.now(), wall_ms(), message, from)?;
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
        }
        Ok(())
    }

    /// Replays recorded lines on their own clock: every line's `ts_ms`
    /// (beat or not) moves time forward, firing each deadline at its own
    /// instant on the way, and beats are judged at their `ts_ms`. Lines
    /// without `ts_ms` happen at the current replay time. Ends with the
    /// input: nothing is judged past the last line.
    pub fn replay(&mut self, input: impl BufRead, stop: &AtomicBool) -> io::Result<()> {
        let mut now: Option<Millis> = None;
        for line in input.split(b'\n') {
            if stop.load(Ordering::Relaxed) {
                break;
            }
            // Invalid UTF-8 makes that line bad JSON, not the input unreadable.
            let line = String::from_utf8_lossy(&line?).into_owned();
            if line.trim().is_empty() {
                continue;
            }
            let (message, origin) = parse_line(&line);
            let origin = origin.unwrap_or(Origin {
                from: None,
                addr: None,
                ts_ms: None,
            });
            // Lines slightly out of order never move time backwards.
            let at = match (now, origin.ts_ms) {
                (Some(now), Some(ts)) => now.max(ts),
                (Some(now), None) => now,
                (None, ts) => ts.unwrap_or(0),
            };
            if now.is_none() {
                // The first line's time is the replay's start.
                self.detector.set_start(at);
                self.status = self
                    .status_every
                    .map(|every| Cadence::new(at + every, every));
            }
            while let Some(due) = self.next_wake().filter(|&due| due < at) {
                self.tick(due, due)?;
            }
            self.tick(at, at)?;
            now = Some(at);
            if let Some(message) = message {
                self.accept_line(at, at, message, origin.from.or(origin.addr))?;
            }
        }
        Ok(())
    }

    /// Fires what is due at `now` (`wall`: the same instant on the wall
    /// clock, for timestamps).
    fn tick(&mut self, now: Millis, wall: u64) -> io::Result<()> {
        self.detector.expire(now, &mut self.events);
        if let Some(g) = &mut self.group {
            if g.m.group.check_reachability(now, &mut g.events) {
                // Verdicts were held: judge everything again.
                g.rejudge
                    .extend(self.detector.states().map(|(n, _)| n.to_owned()));
            }
        }
        self.flush_events(now, wall)?;
        if let Some(cadence) = self.status.as_mut().filter(|c| c.due() <= now) {
            cadence.advance(now);
            let status = status(&self.detector, &self.intake, self.group.as_ref(), now);
            self.out.emit(wall, &status)?;
        }
        Ok(())
    }

    /// Exports counters, events and each node's state as Prometheus
    /// metrics (`--metrics`).
    pub fn export(&mut self, metrics: Metrics) {
        self.intake.metrics = Some(metrics.clone());
        self.metrics = Some(metrics);
    }

    /// Keeps `path` holding the membership snapshot (a `status` object),
    /// rewritten whenever a node's state or check status changes: for load
    /// balancers and scripts that read a file rather than a stream.
    pub fn keep_state_file(&mut self, path: PathBuf) {
        self.state_file = Some(StateFile { path, dirty: true });
    }

    /// Writes the state file if something changed, atomically: a reader
    /// sees the old snapshot or the new one, never half of one.
    fn write_state(&mut self, now: Millis, wall: u64) -> io::Result<()> {
        let Some(state) = &self.state_file else {
            return Ok(());
        };
        if !state.dirty {
            return Ok(());
        }
        let mut out = Output::new(Vec::new());
        out.emit(
            wall,
            &status(&self.detector, &self.intake, self.group.as_ref(), now),
        )?;
        let tmp = state
            .path
            .with_extension(format!("tmp.{}", std::process::id()));
        std::fs::write(&tmp, out.into_inner())
            .and_then(|()| std::fs::rename(&tmp, &state.path))
            .map_err(|e| {
                io::Error::new(e.kind(), format!("writing {}: {e}", state.path.display()))
            })?;
        if let Some(state) = &mut self.state_file {
            state.dirty = false;
        }
        Ok(())
    }

    fn next_wake(&self) -> Option<Millis> {
        let group = self.group.as_ref();
        [
            self.detector.next_deadline(),
            self.status.map(|c| c.due()),
            group.map(|g| match g.dirty {
                true => g.next_view.min(g.next_change_view()),
                false => g.next_view,
            }),
            group.and_then(|g| g.m.group.next_deadline()),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Judges a message. `live`: it came from the network, so replay
    /// protection applies (a recording is trusted); the node limit always.
    fn accept(
        &mut self,
        now: Millis,
        wall: u64,
        message: Message<'_>,
        from: Option<SocketAddr>,
        live: bool,
    ) -> io::Result<()> {
        match message {
            Message::Beat(beat) => {
                let trust = match live {
                    true => Trust::Network {
                        max_skew_ms: self.max_skew_ms,
                    },
                    false => Trust::Recording,
                };
                let received =
                    self.detector
                        .receive(now, wall, from, &beat, trust, &mut self.events);
                match received {
                    Ok(()) => {
                        self.intake.accepted();
                        if let Some(m) = &self.metrics {
                            m.node_beat(&beat.node, wall, beat.health);
                        }
                    }
                    Err(why) => self.intake.reject(why, from, now),
                }
            }
            Message::View(view) => {
                let peer = self.group.as_ref().and_then(|g| {
                    let from = from.map(canonical)?;
                    g.m.peers.iter().position(|&p| canonical(p) == from)
                });
                match (peer, &mut self.group) {
                    (Some(peer), Some(g)) => {
                        match g.m.group.on_view(peer, &view, now, wall, self.max_skew_ms) {
                            Ok(nodes) => {
                                self.intake.accepted();
                                g.rejudge.extend(nodes.into_iter().map(str::to_owned));
                                if g.m.group.check_reachability(now, &mut g.events) {
                                    g.rejudge
                                        .extend(self.detector.states().map(|(n, _)| n.to_owned()));
                                }
                            }
                            Err(why) => self.intake.reject(why, from, now),
                        }
                    }
                    _ => self.intake.reject(Reject::UnknownPeer, from, now),
                }
            }
            Message::Probe(_) | Message::Reply(_) | Message::Ack(_) => {
                self.intake.reject(Reject::UnexpectedType, from, now)
            }
        }
        self.flush_rejects(wall)?;
        self.flush_events(now, wall)
    }

    /// A recorded line: a message, or garbage to count.
    fn accept_line(
        &mut self,
        now: Millis,
        wall: u64,
        message: Result<Message<'_>, Reject>,
        from: Option<SocketAddr>,
    ) -> io::Result<()> {
        match message {
            Ok(message) => self.accept(now, wall, message, from, false),
            Err(why) => {
                self.intake.reject(why, from, now);
                self.flush_rejects(wall)
            }
        }
    }

    /// Prints the `rejected` lines `--log-rejects` asked for.
    fn flush_rejects(&mut self, wall: u64) -> io::Result<()> {
        for line in self.intake.pending.drain(..) {
            if let Some(m) = &self.metrics {
                m.event("rejected");
            }
            self.out.emit(wall, &line)?;
        }
        Ok(())
    }

    /// Prints the detector's events; in a group, its `up`, `suspect` and
    /// `down` are only this observer's vote: they are judged with the
    /// peers' votes and the group's verdicts printed instead.
    fn flush_events(&mut self, now: Millis, wall: u64) -> io::Result<()> {
        if let Some(state) = &mut self.state_file {
            // Beats alone change no membership.
            state.dirty |= self.events.iter().any(|e| !matches!(e, Event::Beat { .. }));
        }
        if let Some(m) = &self.metrics {
            m.node_states(&self.detector, &self.events);
        }
        for event in self.events.drain(..) {
            if let Some(g) = &mut self.group {
                match &event {
                    Event::Up { node, .. } | Event::Down { node, .. } => {
                        g.dirty = true;
                        g.rejudge.push(node.clone());
                        continue;
                    }
                    // A local suspicion is a vote, shared in views; printed,
                    // it would never be closed, as local `up`s are not.
                    Event::Suspect { .. } => {
                        g.dirty = true;
                        continue;
                    }
                    Event::Restart { .. }
                    | Event::Beat { .. }
                    | Event::Flapping { .. }
                    | Event::Health { .. } => {}
                }
            }
            if let Some(m) = &self.metrics {
                m.event(event.kind());
            }
            self.out.emit(wall, &event)?;
        }
        let Some(g) = &mut self.group else {
            return self.write_state(now, wall);
        };
        for node in g.rejudge.drain(..) {
            let local = self.detector.node(&node, now).map(|v| Local {
                state: v.state,
                addr: v.addr,
                silent_ms: v.silent_ms,
            });
            g.m.group.judge(&node, local, now, &mut g.events);
        }
        if let Some(state) = &mut self.state_file {
            state.dirty |= !g.events.is_empty();
        }
        for event in g.events.drain(..) {
            if let Some(m) = &self.metrics {
                m.event(event.kind());
            }
            self.out.emit(wall, &event)?;
        }
        self.write_state(now, wall)
    }
}

/// The `status` object: membership, counters, and the group if any.
fn status<'a>(
    detector: &'a Detector,
    intake: &'a Intake,
    group: Option<&GroupLink>,
    now: Millis,
) -> Status<'a> {
    Status {
        members: detector.snapshot(now),
        counters: &intake.counters,
        group: group.map(|g| GroupStatus {
            quorum: g.m.group.quorum(),
            reachable: g.m.group.reachable(now),
            has_quorum: g.m.group.has_quorum(),
        }),
    }
}

struct StateFile {
    path: PathBuf,
    /// Membership changed since the file was written.
    dirty: bool,
}

/// IPv4 addresses as such, even when a dual-stack socket reports them
/// IPv4-mapped, so peers compare equal however they were written.
fn canonical(addr: SocketAddr) -> SocketAddr {
    SocketAddr::new(addr.ip().to_canonical(), addr.port())
}

/// Reads lines on a thread of their own, so the listener can wait for a
/// line and a deadline at once. The channel closes at end of input.
pub fn spawn_line_reader(input: impl BufRead + Send + 'static) -> Receiver<String> {
    let (tx, rx) = std::sync::mpsc::sync_channel(1024);
    std::thread::Builder::new()
        .name("hb-lines".into())
        .spawn(move || {
            for line in input.split(b'\n').map_while(Result::ok) {
                if tx
                    .send(String::from_utf8_lossy(&line).into_owned())
                    .is_err()
                {
                    break;
                }
            }
        })
        .expect("spawning the line reader thread");
    rx
}

/// A recorded line as a message, and where and when it says it was seen.
/// Lines that are other events (`up`, `down`, `status` in a recorded
/// hb-listen output) are not beats but not garbage either: they come back
/// as `None`, to be skipped without counting.
fn parse_line(line: &str) -> (Option<Result<Message<'_>, Reject>>, Option<Origin>) {
    let message = match wire::decode_record(line.as_bytes()) {
        Ok(Message::Beat(beat)) => Some(Ok(Message::Beat(beat))),
        Ok(_) | Err(Reject::UnknownType) => None,
        Err(why) => Some(Err(why)),
    };
    let origin = serde_json::from_str(line).ok();
    (message, origin)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Codec;
    use crate::detector::{Config, Rule};
    use crate::quorum;
    use crate::wire::{Beat, View};

    /// A listener in a group of two (the other observer at `peer`), with a
    /// view every second, driven by a fake clock from 0.
    fn member(peer: SocketAddr) -> Listener<Vec<u8>> {
        let cfg = Config {
            rule: Rule::Fixed { misses: 5 },
            default_every_ms: 1000,
            emit_beats: false,
            up_after: 1,
            flap: None,
            max_nodes: 1000,
        };
        let intake = Intake::new(Codec::default(), Vec::new(), false);
        let mut l = Listener::new(
            Detector::new(cfg, 0),
            Output::new(Vec::new()),
            intake,
            30_000,
            None,
            0,
        );
        let group = Group::new(
            quorum::Config {
                observer: "me".into(),
                quorum: 2,
                peer_timeout: 3000,
                max_votes: 1000,
            },
            1,
        );
        let m = Membership {
            group,
            observer: "me".into(),
            boot: "boot".into(),
            peers: vec![peer],
            view_every: 1000,
        };
        l.join_group(m, 0);
        l
    }

    /// A first beat from `node`: a local `up`, so a change to share.
    fn first_beat(l: &mut Listener<Vec<u8>>, now: Millis, node: &str) {
        let beat = Beat {
            node: node.into(),
            seq: Some(1),
            boot: Some("b".into()),
            every_ms: Some(60_000),
            ts_ms: None,
            health: None,
            ack: false,
            checks: None,
        };
        l.accept(now, now, Message::Beat(beat), None, false)
            .unwrap();
        assert!(l.group.as_ref().unwrap().dirty);
    }

    /// View datagrams sent so far (each takes one seq).
    fn views_sent(l: &Listener<Vec<u8>>) -> u64 {
        l.group.as_ref().unwrap().seq
    }

    /// The `n` view datagrams `peer` got, as their seqs.
    fn received(peer: &UdpSocket, n: usize) -> Vec<u64> {
        peer.set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .unwrap();
        let mut buf = [0; wire::MAX_DATAGRAM];
        (0..n)
            .map(|_| {
                let (len, _) = peer.recv_from(&mut buf).unwrap();
                match wire::decode(&buf[..len]).unwrap() {
                    Message::View(v) => v.seq,
                    other => panic!("{other:?}"),
                }
            })
            .collect()
    }

    /// A local change sends a view before the interval is over, but not
    /// sooner than a tenth of the interval after the last view: a burst of
    /// changes is a few views, not one per change.
    #[test]
    fn views_for_changes_go_early_but_at_most_ten_an_interval() {
        let peer = UdpSocket::bind("127.0.0.1:0").unwrap();
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        let mut l = member(peer.local_addr().unwrap());
        l.share_view(&socket, 0);
        assert_eq!(views_sent(&l), 1);
        assert_eq!(l.next_wake(), Some(1000), "a full view each interval");

        // A change 50 ms after the last view waits until 100 ms.
        first_beat(&mut l, 50, "web");
        assert_eq!(l.next_wake(), Some(100));
        for now in [50, 99] {
            l.share_view(&socket, now);
        }
        assert_eq!(views_sent(&l), 1);
        l.share_view(&socket, 100);
        assert_eq!(views_sent(&l), 2);

        // Nothing changed since: the next one a full interval later.
        assert_eq!(l.next_wake(), Some(1100));
        l.share_view(&socket, 1099);
        assert_eq!(views_sent(&l), 2);
        l.share_view(&socket, 1100);
        assert_eq!(views_sent(&l), 3);

        // A change every millisecond for 150 ms: one view, at 1200, and
        // the changes since then wait until 1300.
        for now in 1101..1251 {
            first_beat(&mut l, now, &format!("n{now}"));
            l.share_view(&socket, now);
        }
        assert_eq!(views_sent(&l), 4);
        assert_eq!(l.next_wake(), Some(1300));
        assert_eq!(received(&peer, 4), [1, 2, 3, 4]);
    }

    /// Driven as `run_socket` drives it (wake, tick, share views, sleep
    /// until the next wake), a listener whose peer went silent wakes for
    /// its views and once for the peer's timeout, never at once again.
    #[test]
    fn a_gone_peer_does_not_keep_the_listener_awake() {
        let peer = UdpSocket::bind("127.0.0.1:0").unwrap();
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        let peer_addr = peer.local_addr().unwrap();
        let mut l = member(peer_addr);
        let view = View {
            node: "p1".into(),
            seq: 1,
            boot: None,
            ts_ms: None,
            up: Vec::new(),
            suspect: Vec::new(),
            down: Vec::new(),
        };
        l.accept(0, 0, Message::View(view), Some(peer_addr), true)
            .unwrap();
        let group = |l: &Listener<Vec<u8>>| l.group.as_ref().unwrap().m.group.has_quorum();
        assert!(group(&l));
        let (mut now, mut wakes) = (0, Vec::new());
        while now < 6000 && wakes.len() < 100 {
            l.tick(now, now).unwrap();
            l.share_view(&socket, now);
            let next = l.next_wake().unwrap();
            assert!(next > now, "woken again at once at {now}: {wakes:?}");
            wakes.push(next);
            now = next;
        }
        assert!(!group(&l), "the peer timed out");
        assert_eq!(wakes, [1000, 2000, 3000, 3001, 4000, 5000, 6000]);
    }
}
