//! The targets of `hb-poll` as the user names them, each polled once, and
//! where its probes go once its name is resolved.

use std::fmt;
use std::net::SocketAddr;

use compact_str::CompactString;
use hashbrown::HashMap;

use crate::net::{self, AddrError, HostPort};
use crate::wire::DEFAULT_ACK_PORT;

/// What to check and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    /// Probe an hb-ack responder over UDP.
    Probe(HostPort),
    /// A TCP connect, for services that run no hb-ack.
    Tcp(HostPort),
}

/// One target as the user named it: inline when short, as an
/// `ADDRESS:PORT` is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub name: CompactString,
    pub check: Check,
}

impl Target {
    /// `HOST[:PORT]` (default port 26723) or `tcp://HOST:PORT`.
    pub fn parse(s: &str) -> Result<Target, AddrError> {
        let check = match s.strip_prefix("tcp://") {
            Some(rest) => match HostPort::parse_target(rest, 0)? {
                hp if hp.port == 0 => return Err(AddrError::Syntax(s.to_owned())),
                hp => Check::Tcp(hp),
            },
            None => Check::Probe(HostPort::parse_target(s, DEFAULT_ACK_PORT)?),
        };
        Ok(Target {
            name: s.into(),
            check,
        })
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

/// Reads the targets again (`hb-poll -f FILE`), or says why they cannot be
/// read.
pub type ReadTargets = Box<dyn FnMut() -> anyhow::Result<Vec<Target>>>;

/// A target and every address its name resolved to.
pub(super) struct Resolved {
    pub target: Target,
    pub addrs: Result<Vec<SocketAddr>, String>,
}

impl Resolved {
    /// The address it is known by: its name's first.
    pub fn addr(&self) -> Option<SocketAddr> {
        self.addrs.as_ref().ok().map(|a| a[0])
    }
}

/// The targets without repeats: a target named twice (`web-1` and
/// `web-1:26723` are the same one) is polled, and counted, once, and
/// stderr says so once per reading of the targets.
fn distinct(targets: Vec<Target>) -> Vec<Target> {
    // By what is checked where, borrowed from the targets: a fleet of
    // thousands is one pass, without a copy of each name.
    let mut first: HashMap<(bool, &str, u16), usize> = HashMap::with_capacity(targets.len());
    let mut kept = vec![false; targets.len()];
    for (i, target) in targets.iter().enumerate() {
        let key = match &target.check {
            Check::Probe(hp) => (false, hp.host.as_str(), hp.port),
            Check::Tcp(hp) => (true, hp.host.as_str(), hp.port),
        };
        match first.get(&key).map(|&i| &targets[i]) {
            Some(seen) if seen.name == target.name => {
                crate::say!("target {target} is named again: polled once");
            }
            Some(seen) => {
                crate::say!("target {target} is {seen} again: polled once, as {seen}");
            }
            None => {
                first.insert(key, i);
                kept[i] = true;
            }
        }
    }
    drop(first);
    targets
        .into_iter()
        .zip(kept)
        .filter_map(|(target, kept)| kept.then_some(target))
        .collect()
}

/// Resolves each target's name (each target once, see [`distinct`]); one
/// that does not resolve keeps the error, which its target's outcomes say.
pub(super) fn resolve(targets: Vec<Target>) -> Vec<Resolved> {
    distinct(targets)
        .into_iter()
        .map(|target| {
            let hp = match &target.check {
                Check::Probe(hp) | Check::Tcp(hp) => hp,
            };
            let addrs = hp
                .resolve_all()
                .map_err(|e| format!("cannot resolve {}: {e}", hp.host));
            Resolved { target, addrs }
        })
        .collect()
}

/// Every address the socket sends probes to, as resolved.
pub(super) fn probed_addrs(targets: &[Resolved]) -> Vec<SocketAddr> {
    targets
        .iter()
        .filter(|r| matches!(r.target.check, Check::Probe(_)))
        .filter_map(|r| r.addrs.as_ref().ok())
        .flatten()
        .copied()
        .collect()
}

/// Where each target's probes go, all in one list: a list a target, of
/// one address nearly always, was an allocation a target.
pub(super) struct SendTo {
    addrs: Vec<SocketAddr>,
    /// Where each target's addresses end in `addrs`.
    ends: Vec<usize>,
}

impl SendTo {
    /// Where a socket bound as `local` sends each target's probes: every
    /// address of its name (IPv4-mapped on a dual-stack socket); none for
    /// TCP and unresolved targets. The socket's own address is asked once,
    /// not once per target: a system call each was a tenth of a large
    /// round.
    pub fn new(local: SocketAddr, targets: &[Resolved]) -> SendTo {
        let mut send_to = SendTo {
            addrs: Vec::with_capacity(targets.len()),
            ends: Vec::with_capacity(targets.len()),
        };
        for r in targets {
            if let (Check::Probe(_), Ok(addrs)) = (&r.target.check, &r.addrs) {
                let mapped = addrs.iter().map(|&a| net::mapped(local, a));
                send_to.addrs.extend(mapped);
            }
            send_to.ends.push(send_to.addrs.len());
        }
        send_to
    }

    /// Where target `i`'s probes go.
    pub fn of(&self, i: usize) -> &[SocketAddr] {
        let start = i.checked_sub(1).map_or(0, |before| self.ends[before]);
        &self.addrs[start..self.ends[i]]
    }

    /// Every target's addresses: the most probes an attempt sends.
    pub fn len(&self) -> usize {
        self.addrs.len()
    }
}

#[cfg(test)]
mod tests;
