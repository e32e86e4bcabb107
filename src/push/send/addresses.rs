//! Which addresses of its `--to` names a sender's datagrams go to.
//!
//! A name may have several addresses (`localhost`: `::1` and `127.0.0.1`;
//! a monitor's AAAA and A records), and of an address the kernel tells
//! only that it refused a datagram (ICMP port or host unreachable, or a
//! send that fails at once): one that drops datagrams silently (a
//! firewall, a host gone) looks like one that takes them. So no refusal
//! may move a sender off an address for good, or one forged ICMP error,
//! or a listener's restart, would leave it beating into silence at the
//! next address. The rule, per name:
//!
//! - A datagram goes to the first address, in the resolver's order, that
//!   the kernel has not refused: one send, as for a name of one address.
//! - A refusal takes the address out of use, and the datagram it refused
//!   goes at once to the next address in use (so that `hb-send --once`
//!   is not lost to a first address that refuses it).
//! - An address out of use is tried again, beside the one in use, with
//!   the first datagram after its refusal, then 2 datagrams later, then
//!   every [`RETRY_EVERY`]th while it refuses; a retry that the kernel has
//!   not refused by the next datagram puts it back in use, before the
//!   addresses after it.
//! - Where every address refused, datagrams go to the first and to the
//!   retries due.
//!
//! So a refused preferred address costs a datagram in [`RETRY_EVERY`],
//! and a sender is back on it at most [`RETRY_EVERY`] beats after it
//! takes datagrams again.

use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::net::Endpoint;

/// An address out of use is tried again after 1 datagram, then 2, then
/// every this many: a sender stranded on an address that drops its beats
/// silently loses fewer beats than a listener's default 5 misses before
/// it is back, and a preferred address that keeps refusing (nothing on
/// `::1` for `localhost`) costs a datagram in 4.
pub(super) const RETRY_EVERY: u64 = 4;

/// Every `--to` name of a sender and the standing of each of its
/// addresses.
pub(super) struct Addresses {
    targets: Vec<Target>,
    /// Every address of every name, as the socket sends to it.
    all: Vec<SocketAddr>,
    /// Datagrams sent to every target so far (beats and notices): a
    /// round each, the clock of retries.
    round: u64,
    /// Whether the round is a beat, whose loss the exit code counts.
    counted: bool,
    /// Whether the round's losses were counted already.
    closed: bool,
    /// Beats some target lost: every address they went to refused them.
    lost: u64,
}

/// One name: its addresses, and what stderr was told of them.
struct Target {
    name: String,
    addrs: Vec<Address>,
    outage: Outage,
}

/// One address of a name.
struct Address {
    /// As the name resolved, for messages.
    shown: SocketAddr,
    /// As the socket sends to it (IPv4-mapped on a dual-stack socket).
    to: SocketAddr,
    /// Out of use: when it is tried again.
    refused: Option<Retry>,
    /// The last round sent to it (0: none yet).
    sent: u64,
    /// Whether that datagram left and nothing was reported of it since.
    took: bool,
}

/// When an address out of use is tried again.
#[derive(Debug, Clone, Copy)]
struct Retry {
    /// The round the refused datagram was sent in.
    of: u64,
    /// Rounds from then to the retry.
    wait: u64,
}

impl Retry {
    fn due(&self, round: u64) -> bool {
        self.of + self.wait <= round
    }
}

/// Whether `a` may take a datagram of `round`: in use, or due to be
/// tried again.
fn usable(a: &Address, round: u64) -> bool {
    a.refused.is_none_or(|r| r.due(round))
}

impl Target {
    /// The address datagrams go to: the first not refused.
    fn in_use(&self) -> Option<usize> {
        self.addrs.iter().position(|a| a.refused.is_none())
    }
}

impl Addresses {
    /// `endpoints`, each address as `socket_form` says the socket sends
    /// to it.
    pub(super) fn new(
        endpoints: Vec<Endpoint>,
        socket_form: impl Fn(SocketAddr) -> SocketAddr,
    ) -> Self {
        let targets: Vec<Target> = endpoints
            .into_iter()
            .map(|e| Target {
                addrs: e
                    .addrs
                    .iter()
                    .map(|&shown| Address {
                        shown,
                        to: socket_form(shown),
                        refused: None,
                        sent: 0,
                        took: false,
                    })
                    .collect(),
                name: e.name,
                outage: Outage::default(),
            })
            .collect();
        let all = targets
            .iter()
            .flat_map(|t| t.addrs.iter().map(|a| a.to))
            .collect();
        Addresses {
            targets,
            all,
            round: 0,
            counted: false,
            closed: true,
            lost: 0,
        }
    }

    pub(super) fn len(&self) -> usize {
        self.targets.len()
    }

    /// Whether some name has several addresses: a beat refused at one
    /// has somewhere else to go.
    pub(super) fn several(&self) -> bool {
        self.all.len() > self.targets.len()
    }

    /// Every address of every name, as the socket sends to it.
    pub(super) fn all(&self) -> &[SocketAddr] {
        &self.all
    }

    /// The target `from` (as the socket names it) is an address of.
    pub(super) fn target_of(&self, from: SocketAddr) -> Option<usize> {
        self.targets
            .iter()
            .position(|t| t.addrs.iter().any(|a| a.to == from))
    }

    /// Target `i`'s name and the address it is sent to (where every
    /// address refused, its first).
    pub(super) fn shown(&self, i: usize) -> (&str, SocketAddr) {
        let t = &self.targets[i];
        (&t.name, t.addrs[t.in_use().unwrap_or(0)].shown)
    }

    /// Address `j` of target `i`: as the socket sends to it, and as shown.
    pub(super) fn address(&self, i: usize, j: usize) -> (SocketAddr, SocketAddr) {
        let a = &self.targets[i].addrs[j];
        (a.to, a.shown)
    }

    /// Starts a round, a datagram for every target (`counted`: a beat):
    /// the last one is over (see [`Addresses::close`]).
    pub(super) fn next_round(&mut self, counted: bool) {
        self.close();
        self.round += 1;
        self.counted = counted;
        self.closed = false;
    }

    /// Where this round's datagram to target `i` goes: the address in use,
    /// and the retries due (see the module's rule).
    pub(super) fn plan(&self, i: usize) -> Vec<usize> {
        let t = &self.targets[i];
        let round = self.round;
        let due = |j: &usize| t.addrs[*j].refused.is_some_and(|r| r.due(round));
        match t.in_use() {
            Some(u) => std::iter::once(u).chain((0..u).filter(due)).collect(),
            None => std::iter::once(0)
                .chain((1..t.addrs.len()).filter(due))
                .collect(),
        }
    }

    /// This round's datagram was handed to the kernel for address `j` of
    /// target `i`, or refused at once with `refused`.
    pub(super) fn sent(&mut self, i: usize, j: usize, refused: Option<&io::Error>) {
        let a = &mut self.targets[i].addrs[j];
        a.sent = self.round;
        a.took = refused.is_none();
        if let Some(e) = refused {
            self.refuse(i, j, e);
        }
    }

    /// The kernel reported a datagram to `to` undeliverable with `e`: the
    /// last one sent there, as it names no datagram.
    pub(super) fn refused(&mut self, to: SocketAddr, e: &io::Error) {
        let same = |a: SocketAddr| {
            a.ip().to_canonical() == to.ip().to_canonical() && a.port() == to.port()
        };
        for i in 0..self.targets.len() {
            for j in 0..self.targets[i].addrs.len() {
                let a = &self.targets[i].addrs[j];
                if a.sent > 0 && same(a.to) {
                    self.refuse(i, j, e);
                }
            }
        }
    }

    /// Address `j` of target `i` refused its last datagram: out of use,
    /// tried again later, and stderr told if datagrams went there.
    fn refuse(&mut self, i: usize, j: usize, e: &io::Error) {
        let t = &mut self.targets[i];
        let was_in_use = t.in_use() == Some(j);
        let a = &mut t.addrs[j];
        a.took = false;
        // One refusal per datagram: a report of one already refused at
        // once does not double the wait.
        if a.refused.is_some_and(|r| r.of == a.sent) {
            return;
        }
        let wait = a.refused.map_or(1, |r| (r.wait * 2).min(RETRY_EVERY));
        a.refused = Some(Retry { of: a.sent, wait });
        let shown = a.shown;
        if was_in_use {
            let next = t.in_use().map(|k| t.addrs[k].shown);
            t.outage.failed(&t.name, shown, e, next);
        }
    }

    /// Where this round's datagram to target `i` goes next, if every
    /// address it went to refused it: the next address in use, or due to
    /// be tried again, that it did not go to.
    pub(super) fn fail_over(&self, i: usize) -> Option<usize> {
        let addrs = &self.targets[i].addrs;
        let round = self.round;
        let went = addrs.iter().any(|a| a.sent == round);
        let taken = addrs.iter().any(|a| a.sent == round && a.took);
        if !went || taken {
            return None;
        }
        addrs
            .iter()
            .position(|a| a.sent != round && usable(a, round))
    }

    /// Ends the round: a retry nothing was reported of puts its address
    /// back in use (stderr told if it is sent to again), and a beat every
    /// address of a name refused is lost.
    pub(super) fn close(&mut self) {
        let mut lost = false;
        for t in &mut self.targets {
            let was = t.in_use();
            for a in &mut t.addrs {
                if a.took {
                    a.refused = None;
                }
            }
            if let Some(k) = t.in_use().filter(|&k| Some(k) != was) {
                t.outage.reached(&t.name, t.addrs[k].shown);
            }
            let went = t.addrs.iter().any(|a| a.sent == self.round);
            lost |= went && !t.addrs.iter().any(|a| a.sent == self.round && a.took);
        }
        if lost && self.counted && !self.closed {
            self.lost += 1;
        }
        self.closed = true;
    }

    /// Beats some target lost, up to the last round closed.
    pub(super) fn lost(&self) -> u64 {
        self.lost
    }
}

/// How often at most a target's failing sends are reported on stderr: a
/// firewall that drops some packets must not flood the log.
const WARN_EVERY: Duration = Duration::from_secs(60);

/// What stderr has been told about one target's refused datagrams: a
/// warning when the address in use refuses one (at most once per
/// [`WARN_EVERY`], with how many refusals went unreported), and a notice
/// when a refused address is sent to again.
#[derive(Debug, Default)]
struct Outage {
    /// No address is in use: every one refused.
    failing: bool,
    /// A warning was printed that no notice has answered yet.
    warned: bool,
    last_warning: Option<Instant>,
    unreported: u64,
}

impl Outage {
    /// The address in use of `name`, `addr`, refused a datagram with `e`;
    /// `next` is the one in use from now on, if any is.
    fn failed(&mut self, name: &str, addr: SocketAddr, e: &io::Error, next: Option<SocketAddr>) {
        if self.failing {
            self.unreported += 1;
            return;
        }
        self.failing = next.is_none();
        if self.last_warning.is_some_and(|t| t.elapsed() < WARN_EVERY) {
            self.unreported += 1;
            return;
        }
        let also = match std::mem::take(&mut self.unreported) {
            0 => String::new(),
            n => format!(" ({n} failed sends not reported since the last warning)"),
        };
        let then = match next {
            Some(next) => format!("trying its next address, {next}"),
            None => "no other address to try".to_owned(),
        };
        crate::say!("warning: {}: {e}; {then}{also}", shown(name, addr));
        self.warned = true;
        self.last_warning = Some(Instant::now());
    }

    /// `addr` of `name`, refused before, is sent to again.
    fn reached(&mut self, name: &str, addr: SocketAddr) {
        self.failing = false;
        if std::mem::take(&mut self.warned) {
            crate::say!("{}: sending again", shown(name, addr));
        }
    }
}

/// A target as a person wrote it, with the address meant when the name
/// is not that address already: `monitor (10.0.0.9:26722)`, `10.0.0.9:26722`.
fn shown(name: &str, addr: SocketAddr) -> String {
    match name == addr.to_string() {
        true => name.to_owned(),
        false => format!("{name} ({addr})"),
    }
}

#[cfg(test)]
mod tests;
