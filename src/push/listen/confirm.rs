//! Confirming a suspicion before it becomes a verdict (SWIM's suspicion
//! probes): a node whose beats say it answers (`"answers":true`, as
//! hb-send's do) is asked "are you alive?" as soon as it turns `suspect`,
//! at the address its beats come from, and again every quarter interval
//! while it stays suspect (more often on a lossy path, where each
//! unanswered probe says less: [`probe_gap`]). An answer refutes the suspicion (`up`,
//! `"refuted":true`); a closed port, reported by the node's kernel as ICMP
//! port unreachable on this listener's socket, makes it `down` at once
//! (`"cause":"unreachable"`); probes that went unanswered make it `down`
//! once a live node would stay that silent with a chance below
//! `false_down_chance` (`"cause":"no-answer"`, weighed by the detector
//! from the loss measured on the node's path); else its deadline decides.
//!
//! Probes are hb-poll's, signed the same way, padded to the size of the
//! answer they ask for (a node never answers with more bytes than it was
//! asked with); they are rate-limited per node ([`MIN_GAP_MS`]) and in
//! total ([`MAX_PER_SECOND`]), so a whole fleet turning suspect at once
//! (this listener's own link failing) is no flood. Without a key a beat's
//! source may be forged, so an address is sent at most three times the
//! bytes that came from it (its credit, [`Detector::spend`]): a forger
//! gains nothing by making the listener probe a victim.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::io;
use std::net::{IpAddr, SocketAddr, UdpSocket};

use crate::auth::Codec;
use crate::clock::{Millis, Moment};
use crate::detector::{answer_rate_after, probe_gap, Asked, Detector, Event};
use crate::net::pktinfo;
use crate::net::unreachable::Unreachable;
use crate::wire::{Message, Nonces, Probe, Reject, Reply};

/// A node is probed at most once per this many milliseconds, however short
/// its interval: 20 probes a second at most.
pub const MIN_GAP_MS: Millis = 50;
/// Probes sent per second at most, over all nodes; probes over it wait for
/// the next second (a node not asked in time is judged by its silence).
pub const MAX_PER_SECOND: usize = 1000;
/// Nonces kept per suspect node: an answer to any of its last probes
/// refutes (a slow answer to the first is as good as one to the last).
const NONCES_PER_NODE: usize = 16;
/// Probes a suspicion remembers the sending time of, the newest: enough
/// for the evidence of the longest suspicion its deadline allows, at most
/// 20 probes a second.
const SENT_PER_NODE: usize = 128;
/// Nonces kept of suspicions already settled, so that a late second answer
/// is taken quietly instead of counted as unexpected.
const SETTLED_NONCES: usize = 256;

/// How a listener confirms suspicions.
pub struct ConfirmOptions {
    /// This listener's name in its probes.
    pub name: String,
    /// With a key: whether an ICMP port unreachable (which no key signs)
    /// may declare a node down early. Without a key it always may.
    pub trust_unreachable: bool,
    /// The chance, per suspicion, that unanswered probes make a live node
    /// `down` which this listener accepts; 0: they never do.
    pub false_down_chance: f64,
}

/// One suspect node being asked.
struct Asking {
    addr: SocketAddr,
    /// Between two probes: a quarter of the node's interval on a clean
    /// path, less on a lossy one ([`probe_gap`]), at least [`MIN_GAP_MS`].
    gap: Millis,
    /// A probe not answered within it (a quarter of the node's interval,
    /// at least [`MIN_GAP_MS`]: more than any round trip the node's
    /// interval is meant for) counts as unanswered.
    wait: Millis,
    /// When its next probe is due.
    next: Millis,
    /// Its last probes' nonces and when each was taken to be sent, newest
    /// last.
    nonces: VecDeque<(u64, Millis)>,
    /// When its probes were sent (those that left), newest last.
    sent: VecDeque<Millis>,
    /// How many left in all.
    count: u32,
    /// This host's address the node beats to, which it answers: probes
    /// leave from it (None: from the kernel's choice).
    from: Option<IpAddr>,
}

/// The suspect nodes being asked, and what their answers do.
pub struct Confirmer {
    opts: ConfirmOptions,
    asking: HashMap<String, Asking>,
    /// The suspect asked at each address (in its canonical form: a
    /// dual-stack socket reports IPv4 peers mapped), for the kernel's
    /// reports of closed ports.
    by_addr: HashMap<SocketAddr, String>,
    /// (when due, node): at most one live entry per node, the one whose
    /// time is its `next`; others are stale and skipped.
    due: BinaryHeap<Reverse<(Millis, String)>>,
    /// When the probes of the last second were sent, oldest first.
    sent: VecDeque<Millis>,
    settled: VecDeque<u64>,
    /// The share of each node's probes that went unanswered in the
    /// suspicions it answered (see [`answer_rate_after`]): kept until the
    /// node is forgotten, so no more than the nodes tracked.
    unanswered: HashMap<String, f64>,
    nonces: Nonces,
    datagram: Vec<u8>,
}

/// A probe to send: to whom, where, with which nonce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingProbe {
    pub node: String,
    pub addr: SocketAddr,
    pub nonce: u64,
}

impl Confirmer {
    pub fn new(opts: ConfirmOptions) -> io::Result<Self> {
        Ok(Confirmer {
            opts,
            asking: HashMap::new(),
            by_addr: HashMap::new(),
            due: BinaryHeap::new(),
            sent: VecDeque::new(),
            settled: VecDeque::new(),
            unanswered: HashMap::new(),
            nonces: Nonces::new()?,
            datagram: Vec::new(),
        })
    }

    /// Follows the detector's events: a node turning suspect is asked at
    /// once if it answers; a node no longer suspect is asked no more.
    pub fn note(&mut self, event: &Event, detector: &Detector, now: Millis) {
        match event {
            Event::Suspect { node, .. } => {
                if let Some((addr, from, every_ms)) = detector.askable(node) {
                    let loss = detector.probe_loss_of(node, self.unanswered_of(node));
                    self.ask(node, addr, from, every_ms, loss, now);
                }
            }
            // A beat, a restart, a flap or new health leave the node in
            // its state; any other line ends a suspicion, whatever ended
            // it (a job's run too: `started` is no answer to a probe).
            Event::Restart { .. }
            | Event::Beat { .. }
            | Event::Flapping { .. }
            | Event::Health { .. } => {}
            // A node forgotten takes its answer rate along.
            Event::Forgotten { node, .. } => {
                self.unanswered.remove(node);
                self.stop_asking(node);
            }
            Event::Up { node, .. }
            | Event::Down { node, .. }
            | Event::Left { node, .. }
            | Event::Away { node, .. }
            | Event::Late { node, .. }
            | Event::Started { node, .. }
            | Event::Ok { node, .. }
            | Event::Failed { node, .. }
            | Event::RunningLong { node, .. }
            | Event::Overlap { node, .. } => self.stop_asking(node),
        }
    }

    /// Starts asking `node` at `addr` (from this host's address `from`),
    /// every quarter of `every_ms` or more often where its probes are lost
    /// with `probe_loss` ([`probe_gap`]), from `now`: asking more often
    /// than the node beats costs no more than a beat or two per suspicion,
    /// and gathers evidence sooner than its silence would.
    fn ask(
        &mut self,
        node: &str,
        addr: SocketAddr,
        from: Option<IpAddr>,
        every_ms: Millis,
        probe_loss: Option<f64>,
        now: Millis,
    ) {
        self.stop_asking(node);
        let asking = Asking {
            addr,
            gap: probe_gap(every_ms, probe_loss).max(MIN_GAP_MS),
            wait: (every_ms / 4).max(MIN_GAP_MS),
            next: now,
            nonces: VecDeque::new(),
            sent: VecDeque::new(),
            count: 0,
            from,
        };
        self.by_addr
            .insert(crate::net::canonical(addr), node.to_owned());
        self.asking.insert(node.to_owned(), asking);
        self.due.push(Reverse((now, node.to_owned())));
    }

    fn stop_asking(&mut self, node: &str) {
        let Some(asking) = self.asking.remove(node) else {
            return;
        };
        self.by_addr.remove(&crate::net::canonical(asking.addr));
        for (nonce, _) in asking.nonces {
            if self.settled.len() == SETTLED_NONCES {
                self.settled.pop_front();
            }
            self.settled.push_back(nonce);
        }
        // Its heap entry goes stale (a wake for nothing, at worst); the
        // heap is rebuilt when stale entries outnumber live ones, so churn
        // cannot grow it.
        if self.asking.is_empty() {
            self.due.clear();
        } else if self.due.len() > 2 * self.asking.len() + 64 {
            let asking = &self.asking;
            self.due
                .retain(|Reverse((at, n))| asking.get(n).is_some_and(|a| a.next == *at));
        }
    }

    /// When the next probe is due (None: nobody to ask), the total limit
    /// taken into account.
    pub fn next_wake(&self) -> Option<Millis> {
        let Reverse((at, _)) = self.due.peek()?;
        let budget = match self.sent.len() >= MAX_PER_SECOND {
            true => self.sent.front().map_or(0, |&t| t + 1000),
            false => 0,
        };
        Some((*at).max(budget))
    }

    /// The probes due at `now`, within the limits, each node's next one
    /// scheduled. Pure, for tests with a fake clock; [`Confirmer::probe`]
    /// sends them.
    pub fn take_due(&mut self, now: Millis, into: &mut Vec<PendingProbe>) {
        while self
            .sent
            .front()
            .is_some_and(|&t| now.saturating_sub(t) >= 1000)
        {
            self.sent.pop_front();
        }
        while self.sent.len() < MAX_PER_SECOND {
            let Some(Reverse((at, _))) = self.due.peek() else {
                break;
            };
            if *at > now {
                break;
            }
            let Reverse((at, node)) = self.due.pop().expect("peeked");
            let Some(asking) = self.asking.get_mut(&node).filter(|a| a.next == at) else {
                continue;
            };
            let nonce = self.nonces.draw();
            if asking.nonces.len() == NONCES_PER_NODE {
                asking.nonces.pop_front();
            }
            asking.nonces.push_back((nonce, now));
            // The next probe a gap after this one, however late this one
            // was sent: never two within a gap.
            asking.next = now + asking.gap;
            self.due.push(Reverse((asking.next, node.clone())));
            self.sent.push_back(now);
            into.push(PendingProbe {
                node,
                addr: asking.addr,
                nonce,
            });
        }
    }

    /// Weighs what `node`'s probes so far went unanswered at `now`: `down`
    /// (`"cause":"no-answer"`) and asked no more if a live node would stay
    /// this silent with a chance below `false_down_chance`. Says whether
    /// it is down.
    pub fn weigh(
        &mut self,
        node: &str,
        now: Millis,
        detector: &mut Detector,
        out: &mut Vec<Event>,
    ) -> bool {
        let bound = self.opts.false_down_chance;
        let Some(asking) = self.asking.get(node).filter(|_| bound > 0.0) else {
            return false;
        };
        let asked = Asked {
            sent: &asking.sent,
            wait: asking.wait,
            unanswered: self.unanswered_of(node),
            bound,
        };
        let down = detector.no_answer(now, node, &asked, out);
        if down {
            self.stop_asking(node);
        }
        down
    }

    /// The share of `node`'s probes that went unanswered in the suspicions
    /// it answered; 0 for a node never asked.
    fn unanswered_of(&self, node: &str) -> f64 {
        self.unanswered.get(node).copied().unwrap_or(0.0)
    }

    /// Notes that a probe of `node` left at `now`.
    pub fn sent(&mut self, node: &str, now: Millis) {
        if let Some(asking) = self.asking.get_mut(node) {
            if asking.sent.len() == SENT_PER_NODE {
                asking.sent.pop_front();
            }
            asking.sent.push_back(now);
            asking.count = asking.count.saturating_add(1);
        }
    }

    /// Sends the probes due at `now` from `socket` (the listener's own,
    /// where answers and the kernel's reports come back), signed with
    /// `codec` when keyed, after weighing what the earlier ones found
    /// ([`Confirmer::weigh`]; its verdicts go to `out`). Without a key, a
    /// beat's source address may be forged: a probe goes out only while
    /// the node's address has credit (three times the bytes that came
    /// from it, [`Detector::spend`]).
    pub fn probe(
        &mut self,
        socket: &UdpSocket,
        codec: &Codec,
        detector: &mut Detector,
        now: Millis,
        out: &mut Vec<Event>,
    ) {
        if self.due.peek().is_none_or(|Reverse((at, _))| *at > now) {
            return;
        }
        let mut due = Vec::new();
        self.take_due(now, &mut due);
        for d in due {
            if self.weigh(&d.node, now, detector, out) {
                continue;
            }
            let probe = Message::Probe(Probe {
                node: self.opts.name.as_str().into(),
                nonce: d.nonce,
                target: None,
            });
            // As long as the node's answer, no longer: the node answers
            // with no more bytes than it was asked with.
            let answer = Message::Reply(Reply {
                node: d.node.as_str().into(),
                nonce: d.nonce,
                boot: detector.boot(&d.node).map(Into::into),
                ts_ms: None,
                health: None,
                via: None,
                checks: None,
            });
            if codec.encode(&answer, &mut self.datagram).is_err() {
                continue;
            }
            let len = self.datagram.len();
            if codec
                .encode_padded(&probe, len, &mut self.datagram)
                .is_err()
            {
                continue;
            }
            if codec.is_keyed() || detector.spend(&d.node, self.datagram.len()) {
                let from = self.asking.get(&d.node).and_then(|a| a.from);
                // Best effort: a lost probe is a probe unanswered; one
                // that did not leave is no evidence.
                if pktinfo::send_from(socket, &self.datagram, d.addr, from).is_ok() {
                    self.sent(&d.node, now);
                }
            }
        }
    }

    /// An answer received at `at`: if it answers a probe of a suspect
    /// node, by name and nonce, the suspicion is refuted. An answer not
    /// expected (neither to a probe in flight nor a late one to a
    /// suspicion already settled) is refused as `UnexpectedType`.
    pub fn on_reply(
        &mut self,
        reply: &Reply<'_>,
        at: Moment,
        detector: &mut Detector,
        out: &mut Vec<Event>,
    ) -> Result<(), Reject> {
        let asked = self.asking.get(reply.node.as_ref()).and_then(|a| {
            let (_, at) = a.nonces.iter().find(|(n, _)| *n == reply.nonce)?;
            Some((a, *at))
        });
        let Some((asking, asked_at)) = asked else {
            return match self.settled.contains(&reply.nonce) {
                true => Ok(()),
                false => Err(Reject::UnexpectedType),
            };
        };
        let rate = self.unanswered.entry(reply.node.to_string()).or_default();
        *rate = answer_rate_after(*rate, asking.count);
        detector.refute(at, &reply.node, asked_at, out);
        self.stop_asking(&reply.node);
        Ok(())
    }

    /// A report of the kernel's at `now`: a probe met a closed port. The
    /// suspect asked there is `down` at once, unless keyed without
    /// `trust_unreachable` (no key signs ICMP), where it waits for its
    /// deadline.
    pub fn on_unreachable(
        &mut self,
        report: &Unreachable,
        keyed: bool,
        now: Millis,
        detector: &mut Detector,
        out: &mut Vec<Event>,
    ) {
        if report.error.kind() != io::ErrorKind::ConnectionRefused
            || (keyed && !self.opts.trust_unreachable)
        {
            return;
        }
        let Some(node) = self.by_addr.get(&crate::net::canonical(report.to)).cloned() else {
            return;
        };
        if detector.unreachable(now, &node, report.to, out) {
            self.stop_asking(&node);
        }
    }
}

#[cfg(test)]
mod tests;
