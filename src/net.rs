//! UDP sockets and addresses.

use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs, UdpSocket};
use std::str::FromStr;
use std::time::Duration;

use compact_str::CompactString;
use socket2::{Domain, Protocol, Socket, Type};

mod outbox;
pub mod pktinfo;
mod receiver;
pub mod unreachable;

pub use outbox::Outbox;
pub use receiver::{Received, Receiver, BATCH};

/// The longest a receive loop waits before it looks at its stop flag
/// again. A signal usually interrupts the wait at once (`poll(2)` is never
/// restarted after a signal handler); this bound covers a signal delivered
/// to another thread.
pub const STOP_CHECK: Duration = Duration::from_millis(250);

/// `HOST[:PORT]` as the user wrote it: a name or an IP literal (IPv6 in
/// brackets when a port follows), resolved only when used. The host is
/// inline when short, as an IPv4 address is: a file of ten thousand
/// targets is not ten thousand allocations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPort {
    pub host: CompactString,
    pub port: u16,
}

/// A name the user gave (`--to monitor`) and every address it resolved
/// to, in the resolver's order of preference: the addresses for the
/// socket, the name for messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub name: String,
    /// At least one.
    pub addrs: Vec<SocketAddr>,
}

impl Endpoint {
    /// `name` and every address it resolved to.
    pub fn new(name: String, addrs: Vec<SocketAddr>) -> Endpoint {
        assert!(!addrs.is_empty(), "an endpoint has an address");
        Endpoint { name, addrs }
    }
}

/// A `HOST[:PORT]` that cannot be understood.
#[derive(Debug, thiserror::Error)]
pub enum AddrError {
    #[error("'{0}' is not HOST:PORT (an IPv6 address with a port is written [ADDR]:PORT)")]
    Syntax(String),
    #[error("'{0}' has an invalid port (1-65535, or 0 to let the system pick when listening)")]
    Port(String),
    #[error("'{0}' has port 0, which nothing can be sent to (1-65535)")]
    TargetPort(String),
}

impl HostPort {
    /// Parses `HOST`, `HOST:PORT`, `[V6]:PORT` or a bare IPv6 literal; a
    /// missing port is `default_port`.
    pub fn parse(s: &str, default_port: u16) -> Result<Self, AddrError> {
        let (host, port) = HostPort::split(s)?;
        Ok(HostPort {
            host,
            port: port.unwrap_or(default_port),
        })
    }

    /// Parses a target to send to: like [`HostPort::parse`], but an
    /// explicit port 0, which no datagram can be sent to, is refused.
    pub fn parse_target(s: &str, default_port: u16) -> Result<Self, AddrError> {
        match HostPort::split(s)? {
            (_, Some(0)) => Err(AddrError::TargetPort(s.to_owned())),
            (host, port) => Ok(HostPort {
                host,
                port: port.unwrap_or(default_port),
            }),
        }
    }

    /// The host, and the port if one is written.
    fn split(s: &str) -> Result<(CompactString, Option<u16>), AddrError> {
        let syntax = || AddrError::Syntax(s.to_owned());
        if s.is_empty() {
            return Err(syntax());
        }
        // An IPv4 address and a port, read in one pass: what a file of
        // thousands of targets mostly holds. The host is kept as written,
        // as below.
        if let Ok(SocketAddr::V4(addr)) = s.parse::<SocketAddr>() {
            let colon = s.bytes().rposition(|b| b == b':').ok_or_else(syntax)?;
            return Ok((s[..colon].into(), Some(addr.port())));
        }
        if let Ok(ip) = s.parse::<IpAddr>() {
            return Ok((compact_str::format_compact!("{ip}"), None));
        }
        let (host, port) = if let Some(rest) = s.strip_prefix('[') {
            let (host, after) = rest.split_once(']').ok_or_else(syntax)?;
            host.parse::<Ipv6Addr>().map_err(|_| syntax())?;
            match after {
                "" => (host, None),
                p => (host, Some(p.strip_prefix(':').ok_or_else(syntax)?)),
            }
        } else {
            match s.rsplit_once(':') {
                Some((h, _)) if h.contains(':') => return Err(syntax()),
                Some((h, p)) => (h, Some(p)),
                None => (s, None),
            }
        };
        if host.is_empty() || host.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(syntax());
        }
        let port = match port {
            None => None,
            Some(p) => Some(p.parse().map_err(|_| AddrError::Port(s.to_owned()))?),
        };
        Ok((host.into(), port))
    }

    /// Resolves to the first address the system gives (DNS for names).
    pub fn resolve(&self) -> io::Result<SocketAddr> {
        Ok(self.resolve_all()?[0])
    }

    /// Every address the name resolves to (at least one), in the system's
    /// order of preference, each once.
    pub fn resolve_all(&self) -> io::Result<Vec<SocketAddr>> {
        // An address is its own: no resolver, nothing to put in order.
        if let Ok(ip) = self.host.parse::<IpAddr>() {
            return Ok(vec![SocketAddr::new(ip, self.port)]);
        }
        let mut all: Vec<SocketAddr> = Vec::new();
        for addr in (self.host.as_str(), self.port).to_socket_addrs()? {
            if !all.contains(&addr) {
                all.push(addr);
            }
        }
        if all.is_empty() {
            return Err(io::Error::new(io::ErrorKind::NotFound, "no address found"));
        }
        Ok(all)
    }
}

impl fmt::Display for HostPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

impl FromStr for HostPort {
    type Err = AddrError;

    /// Without a default port, a port is required.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match HostPort::split(s)? {
            (host, Some(port)) => Ok(HostPort { host, port }),
            // A bare IPv6 address such as `::0` ends in ":0" yet names no port.
            (_, None) => Err(AddrError::Syntax(s.to_owned())),
        }
    }
}

/// A UDP socket bound to `addr` for receiving: a large receive buffer so a
/// burst of beats is queued rather than dropped, and an IPv6 wildcard that
/// accepts IPv4 too.
pub fn bind_udp(addr: SocketAddr) -> io::Result<UdpSocket> {
    bind(addr, false)
}

/// Like [`bind_udp`], for a socket that joins multicast groups: several
/// listeners on one host may share the port, and each gets every beat
/// sent to the group.
pub fn bind_udp_shared(addr: SocketAddr) -> io::Result<UdpSocket> {
    bind(addr, true)
}

fn bind(addr: SocketAddr, shared: bool) -> io::Result<UdpSocket> {
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    socket.set_reuse_address(shared)?;
    if addr.is_ipv6() && addr.ip().is_unspecified() {
        socket.set_only_v6(false)?;
    }
    // Best effort: the kernel caps it at net.core.rmem_max.
    let _ = socket.set_recv_buffer_size(4 << 20);
    socket.bind(&addr.into())?;
    let socket = socket.into();
    note_arrivals(&socket);
    Ok(socket)
}

/// Asks the kernel to say, with each datagram, when it arrived and how
/// many datagrams this socket dropped so far for want of room: a loop
/// that was slow (a stall, a starved CPU) then judges each beat at the
/// instant it arrived, and knows when its own overload, not the nodes,
/// made beats go missing. Best effort: without them, datagrams count as
/// arriving when they are read.
#[cfg(target_os = "linux")]
fn note_arrivals(socket: &UdpSocket) {
    for option in [libc::SO_TIMESTAMPNS, libc::SO_RXQ_OVFL] {
        let _ = set_flag(socket, libc::SOL_SOCKET, option);
    }
}

#[cfg(not(target_os = "linux"))]
fn note_arrivals(_socket: &UdpSocket) {}

/// Turns on the IPv4 option `ipv4` (a level and an option that takes an
/// int) on an IPv4 socket, and both it and the IPv6 option `ipv6` on an
/// IPv6 one: a dual-stack socket's IPv4 peers are IPv4's to speak of.
#[cfg(target_os = "linux")]
fn set_flags(
    socket: &UdpSocket,
    ipv4: (libc::c_int, libc::c_int),
    ipv6: (libc::c_int, libc::c_int),
) -> io::Result<()> {
    set_flag(socket, ipv4.0, ipv4.1)?;
    if socket.local_addr()?.is_ipv6() {
        set_flag(socket, ipv6.0, ipv6.1)?;
    }
    Ok(())
}

/// Turns on the socket option `option` of `level`, one that takes an int.
#[cfg(target_os = "linux")]
fn set_flag(socket: &UdpSocket, level: libc::c_int, option: libc::c_int) -> io::Result<()> {
    set_int(socket, level, option, 1)
}

/// Sets the socket option `option` of `level`, one that takes an int.
#[cfg(target_os = "linux")]
fn set_int(
    socket: &UdpSocket,
    level: libc::c_int,
    option: libc::c_int,
    value: libc::c_int,
) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: a plain int option on a socket this function borrows.
    let done = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            level,
            option,
            std::ptr::from_ref(&value).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    match done {
        0 => Ok(()),
        _ => Err(io::Error::last_os_error()),
    }
}

/// One socket for sending to all of `targets` (and reading their answers),
/// bound to an ephemeral port.
///
/// With an IPv6 target among them it is a dual-stack IPv6 socket, and
/// returns each IPv4 target as its IPv4-mapped IPv6 address (what such a
/// socket sends to); otherwise a plain IPv4 socket and the targets as given.
pub fn sending_socket(targets: &[SocketAddr]) -> io::Result<(UdpSocket, Vec<SocketAddr>)> {
    if !targets.iter().any(SocketAddr::is_ipv6) {
        let socket = bind_udp((Ipv4Addr::UNSPECIFIED, 0).into())?;
        unfragmented(&socket);
        return Ok((socket, targets.to_vec()));
    }
    // The unspecified IPv6 address makes bind_udp's socket dual-stack.
    let socket = bind_udp((Ipv6Addr::UNSPECIFIED, 0).into())?;
    unfragmented(&socket);
    let mapped = targets.iter().map(|&t| sent_to(&socket, t)).collect();
    Ok((socket, mapped))
}

/// Sends the socket's IPv4 datagrams with Don't Fragment set, whatever
/// path MTU the kernel learnt: a poller sends requests of 512 bytes
/// ([`crate::auth::REQUEST_LEN`]), which no path splits, and the kernel
/// then numbers them 0 rather than drawing an IP identifier for each from
/// its shared table, which was a twelfth of a large round's CPU.
/// Best effort: without it, datagrams go as before.
#[cfg(target_os = "linux")]
fn unfragmented(socket: &UdpSocket) {
    let _ = set_int(
        socket,
        libc::IPPROTO_IP,
        libc::IP_MTU_DISCOVER,
        libc::IP_PMTUDISC_PROBE,
    );
}

#[cfg(not(target_os = "linux"))]
fn unfragmented(_socket: &UdpSocket) {}

/// `addr` as a person reads it: an IPv4 peer of a dual-stack socket (which
/// the kernel reports as `[::ffff:10.0.0.7]:port`) as its IPv4 address.
/// What is sent back to it goes through [`sent_to`].
pub fn canonical(addr: SocketAddr) -> SocketAddr {
    SocketAddr::new(addr.ip().to_canonical(), addr.port())
}

/// The address a socket from [`sending_socket`] sends to for `target`:
/// IPv4-mapped on a dual-stack socket.
pub fn sent_to(socket: &UdpSocket, target: SocketAddr) -> SocketAddr {
    match socket.local_addr() {
        Ok(local) => mapped(local, target),
        Err(_) => target,
    }
}

/// Like [`sent_to`], for a socket whose own address `local` is known: a
/// poller asks it once for all its targets.
pub fn mapped(local: SocketAddr, target: SocketAddr) -> SocketAddr {
    match (local, target) {
        (SocketAddr::V6(_), SocketAddr::V4(v4)) => {
            SocketAddr::from((v4.ip().to_ipv6_mapped(), v4.port()))
        }
        _ => target,
    }
}

/// Joins the multicast `group` on `socket` (on the interface the system
/// picks), so beats sent to the group reach this listener.
pub fn join_multicast(socket: &UdpSocket, group: IpAddr) -> io::Result<()> {
    match group {
        IpAddr::V4(g) => socket.join_multicast_v4(&g, &Ipv4Addr::UNSPECIFIED),
        IpAddr::V6(g) => socket.join_multicast_v6(&g, 0),
    }
}

/// Errors after which a UDP loop carries on: timeouts, signals, and the
/// network errors a flaky or missing peer produces.
pub fn is_transient(e: &io::Error) -> bool {
    use io::ErrorKind::*;
    matches!(
        e.kind(),
        WouldBlock
            | TimedOut
            | Interrupted
            | ConnectionRefused
            | ConnectionReset
            | HostUnreachable
            | NetworkUnreachable
            | NetworkDown
    )
}

#[cfg(test)]
mod tests;
