//! UDP sockets and addresses.

use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs, UdpSocket};
use std::str::FromStr;
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};

/// The longest a receive loop waits before it looks at its stop flag
/// again. A signal usually interrupts the wait at once (`poll(2)` is never
/// restarted after a signal handler); this bound covers a signal delivered
/// to another thread.
pub const STOP_CHECK: Duration = Duration::from_millis(250);

/// `HOST[:PORT]` as the user wrote it: a name or an IP literal (IPv6 in
/// brackets when a port follows), resolved only when used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPort {
    pub host: String,
    pub port: u16,
}

/// A `HOST[:PORT]` that cannot be understood.
#[derive(Debug, thiserror::Error)]
pub enum AddrError {
    #[error("'{0}' is not HOST:PORT (an IPv6 address with a port is written [ADDR]:PORT)")]
    Syntax(String),
    #[error("'{0}' has an invalid port (1-65535, or 0 to let the system pick when listening)")]
    Port(String),
}

impl HostPort {
    /// Parses `HOST`, `HOST:PORT`, `[V6]:PORT` or a bare IPv6 literal; a
    /// missing port is `default_port`.
    pub fn parse(s: &str, default_port: u16) -> Result<Self, AddrError> {
        let syntax = || AddrError::Syntax(s.to_owned());
        if s.is_empty() {
            return Err(syntax());
        }
        if let Ok(ip) = s.parse::<IpAddr>() {
            return Ok(HostPort {
                host: ip.to_string(),
                port: default_port,
            });
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
            None => default_port,
            Some(p) => p.parse().map_err(|_| AddrError::Port(s.to_owned()))?,
        };
        Ok(HostPort {
            host: host.to_owned(),
            port,
        })
    }

    /// Resolves to the first address the system gives (DNS for names).
    pub fn resolve(&self) -> io::Result<SocketAddr> {
        (self.host.as_str(), self.port)
            .to_socket_addrs()?
            .next()
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no address found"))
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
        let hp = HostPort::parse(s, 0)?;
        if hp.port == 0 && !s.ends_with(":0") {
            return Err(AddrError::Syntax(s.to_owned()));
        }
        Ok(hp)
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
    Ok(socket.into())
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
        return Ok((socket, targets.to_vec()));
    }
    // The unspecified IPv6 address makes bind_udp's socket dual-stack.
    let socket = bind_udp((Ipv6Addr::UNSPECIFIED, 0).into())?;
    let mapped = targets
        .iter()
        .map(|t| match t {
            SocketAddr::V4(v4) => SocketAddr::from((v4.ip().to_ipv6_mapped(), v4.port())),
            v6 => *v6,
        })
        .collect();
    Ok((socket, mapped))
}

/// How every receive loop waits: up to `wait` (at most [`STOP_CHECK`])
/// for one datagram. `Ok(None)` means "nothing yet, look at the clock and
/// the stop flag again": a timeout, a signal, or an ICMP error reported for
/// an earlier send, which must never stop a heartbeat tool.
///
/// The socket is made non-blocking: a datagram already queued is taken
/// with one `recvfrom`, and only an empty queue waits, in `poll(2)`, whose
/// timeout is precise (a socket receive timeout is rounded up to the
/// kernel's tick, which made deadlines several milliseconds late).
#[derive(Debug, Default)]
pub struct Receiver {
    nonblocking: bool,
}

impl Receiver {
    pub fn recv(
        &mut self,
        socket: &UdpSocket,
        buf: &mut [u8],
        wait: Duration,
    ) -> io::Result<Option<(usize, SocketAddr)>> {
        if !self.nonblocking {
            socket.set_nonblocking(true)?;
            self.nonblocking = true;
        }
        match socket.recv_from(buf) {
            Ok(got) => return Ok(Some(got)),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) if is_transient(&e) => return Ok(None),
            Err(e) => return Err(e),
        }
        let wait = wait.min(STOP_CHECK);
        let timeout = rustix::event::Timespec {
            tv_sec: wait.as_secs() as i64,
            tv_nsec: i64::from(wait.subsec_nanos()),
        };
        let mut fds = [rustix::event::PollFd::new(
            socket,
            rustix::event::PollFlags::IN,
        )];
        match rustix::event::poll(&mut fds, Some(&timeout)) {
            // A signal: the loop looks at its stop flag.
            Ok(_) | Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
        match socket.recv_from(buf) {
            Ok(got) => Ok(Some(got)),
            Err(e) if is_transient(&e) => Ok(None),
            Err(e) => Err(e),
        }
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
mod tests {
    use super::*;

    fn hp(host: &str, port: u16) -> HostPort {
        HostPort {
            host: host.into(),
            port,
        }
    }

    #[test]
    fn parses_the_usual_forms() {
        let d = 26722;
        assert_eq!(HostPort::parse("web-1", d).unwrap(), hp("web-1", d));
        assert_eq!(HostPort::parse("web-1:99", d).unwrap(), hp("web-1", 99));
        assert_eq!(HostPort::parse("10.0.0.1:5", d).unwrap(), hp("10.0.0.1", 5));
        assert_eq!(HostPort::parse("::1", d).unwrap(), hp("::1", d));
        assert_eq!(HostPort::parse("[::1]:7", d).unwrap(), hp("::1", 7));
        assert_eq!(HostPort::parse("[::1]", d).unwrap(), hp("::1", d));
        assert_eq!(
            HostPort::parse("[::1]:7", d).unwrap().to_string(),
            "[::1]:7"
        );
    }

    #[test]
    fn refuses_nonsense() {
        for bad in [
            "",
            ":",
            "a:b",
            "a:70000",
            "[::1",
            "[x]:1",
            "1::2::3:4",
            "a b:1",
        ] {
            assert!(HostPort::parse(bad, 1).is_err(), "{bad}");
        }
        assert!("web-1".parse::<HostPort>().is_err(), "port required");
        assert_eq!("0.0.0.0:0".parse::<HostPort>().unwrap().port, 0);
    }

    #[test]
    fn resolves_loopback() {
        let a = HostPort::parse("127.0.0.1:9", 0)
            .unwrap()
            .resolve()
            .unwrap();
        assert_eq!(a, "127.0.0.1:9".parse().unwrap());
    }

    #[test]
    fn mixed_families_share_one_dual_stack_socket() {
        let targets = ["127.0.0.1:9".parse().unwrap(), "[::1]:9".parse().unwrap()];
        let (socket, mapped) = sending_socket(&targets).unwrap();
        assert!(socket.local_addr().unwrap().is_ipv6());
        assert_eq!(mapped[0], "[::ffff:127.0.0.1]:9".parse().unwrap());
        assert_eq!(mapped[1], targets[1]);
        let (socket, same) = sending_socket(&targets[..1]).unwrap();
        assert!(socket.local_addr().unwrap().is_ipv4());
        assert_eq!(same, &targets[..1]);
    }

    #[test]
    fn dual_stack_wildcard_binds() {
        let s = bind_udp("[::]:0".parse().unwrap()).unwrap();
        assert!(s.local_addr().unwrap().is_ipv6());
    }
}
