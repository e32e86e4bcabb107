//! UDP sockets and addresses.

use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs, UdpSocket};
use std::str::FromStr;
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};

pub mod pktinfo;
pub mod unreachable;

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
    fn split(s: &str) -> Result<(String, Option<u16>), AddrError> {
        let syntax = || AddrError::Syntax(s.to_owned());
        if s.is_empty() {
            return Err(syntax());
        }
        if let Ok(ip) = s.parse::<IpAddr>() {
            return Ok((ip.to_string(), None));
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
        Ok((host.to_owned(), port))
    }

    /// Resolves to the first address the system gives (DNS for names).
    pub fn resolve(&self) -> io::Result<SocketAddr> {
        Ok(self.resolve_all()?[0])
    }

    /// Every address the name resolves to (at least one), in the system's
    /// order of preference, each once.
    pub fn resolve_all(&self) -> io::Result<Vec<SocketAddr>> {
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
    use std::os::fd::AsRawFd;
    let on: libc::c_int = 1;
    // SAFETY: a plain int option on a socket this function borrows.
    let done = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            level,
            option,
            std::ptr::from_ref(&on).cast(),
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
        return Ok((socket, targets.to_vec()));
    }
    // The unspecified IPv6 address makes bind_udp's socket dual-stack.
    let socket = bind_udp((Ipv6Addr::UNSPECIFIED, 0).into())?;
    let mapped = targets.iter().map(|&t| sent_to(&socket, t)).collect();
    Ok((socket, mapped))
}

/// The address a socket from [`sending_socket`] sends to for `target`:
/// IPv4-mapped on a dual-stack socket.
/// `addr` as a person reads it: an IPv4 peer of a dual-stack socket (which
/// the kernel reports as `[::ffff:10.0.0.7]:port`) as its IPv4 address.
/// What is sent back to it goes through [`sent_to`].
pub fn canonical(addr: SocketAddr) -> SocketAddr {
    SocketAddr::new(addr.ip().to_canonical(), addr.port())
}

pub fn sent_to(socket: &UdpSocket, target: SocketAddr) -> SocketAddr {
    match (socket.local_addr(), target) {
        (Ok(SocketAddr::V6(_)), SocketAddr::V4(v4)) => {
            SocketAddr::from((v4.ip().to_ipv6_mapped(), v4.port()))
        }
        _ => target,
    }
}

/// Datagrams one receive call takes at most.
pub const BATCH: usize = 32;

/// Room for one datagram: more than any valid one (`wire::MAX_DATAGRAM`),
/// so a datagram too large to be valid arrives cut to `SLOT` bytes and is
/// still refused as `too-large`.
const SLOT: usize = 2048;
const _: () = assert!(SLOT > crate::wire::MAX_DATAGRAM);

/// How every receive loop waits and takes datagrams: up to `wait` (at most
/// [`STOP_CHECK`]) for the first, then whatever else is already queued, up
/// to [`BATCH`], in one `recvmmsg(2)`. An empty batch means "nothing yet,
/// look at the clock and the stop flag again": a timeout, a signal, or an
/// ICMP error reported for an earlier send, which must never stop a
/// heartbeat tool.
///
/// Batching is what lets one listener keep up with a fleet: a system call
/// and a clock reading per batch instead of per datagram. Waiting is in
/// `poll(2)`, whose timeout is precise (a socket receive timeout is
/// rounded up to the kernel's tick, which made deadlines several
/// milliseconds late), and only when the queue is empty.
pub struct Receiver {
    slots: Box<[[u8; SLOT]]>,
    /// Each datagram of the last batch.
    got: Vec<Got>,
    /// The socket's count of datagrams dropped for want of room, as the
    /// kernel last said it (None until it says).
    dropped: Option<u32>,
    /// What the kernel reported undeliverable, not taken yet (sockets that
    /// asked with [`unreachable::report`]).
    unreachable: Vec<unreachable::Unreachable>,
}

/// Where one received datagram is, and what the kernel said of it.
#[derive(Debug, Clone, Copy)]
struct Got {
    slot: usize,
    len: usize,
    from: SocketAddr,
    /// Which of this host's addresses to answer it from (sockets that
    /// asked, with [`pktinfo::note_destinations`]).
    to: Option<IpAddr>,
    /// When the kernel received it: wall clock, ns since the epoch.
    arrived_ns: Option<u64>,
}

/// One datagram of a batch [`Receiver::fill`] took, with what the kernel
/// said of it.
#[derive(Debug, Clone, Copy)]
pub struct Received<'a> {
    pub bytes: &'a [u8],
    pub from: SocketAddr,
    /// Which of this host's addresses to answer it from: the one it was
    /// sent to (see [`pktinfo`]); None where the socket did not ask.
    pub to: Option<IpAddr>,
    /// When the kernel received it: wall clock, ns since the epoch; None
    /// where it does not say.
    pub arrived_ns: Option<u64>,
}

impl Default for Receiver {
    fn default() -> Self {
        Receiver {
            slots: vec![[0; SLOT]; BATCH].into_boxed_slice(),
            got: Vec::with_capacity(BATCH),
            dropped: None,
            unreachable: Vec::new(),
        }
    }
}

impl Receiver {
    /// The datagrams received, each with its sender; empty after a timeout.
    pub fn recv(
        &mut self,
        socket: &UdpSocket,
        wait: Duration,
    ) -> io::Result<impl Iterator<Item = (&[u8], SocketAddr)> + '_> {
        self.got.clear();
        // A report taken now (on loopback the kernel's answer to a send is
        // queued before the send returns) is news too: no wait before it
        // is looked at.
        let reports = self.unreachable.len();
        if !self.take(socket)? && self.unreachable.len() == reports && !wait.is_zero() {
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
            // Reports of undeliverable datagrams wake poll until read.
            if fds[0].revents().contains(rustix::event::PollFlags::ERR) {
                unreachable::take(socket, &mut self.unreachable);
            }
            self.take(socket)?;
        }
        let slots = &self.slots;
        Ok(self
            .got
            .iter()
            .map(move |g| (&slots[g.slot][..g.len], g.from)))
    }

    /// Like [`Receiver::recv`], keeping the batch for [`Receiver::timed`]
    /// (and [`Receiver::dropped`] readable before it is judged).
    pub fn fill(&mut self, socket: &UdpSocket, wait: Duration) -> io::Result<()> {
        self.recv(socket, wait)?.for_each(drop);
        Ok(())
    }

    /// The batch [`Receiver::fill`] took, with what the kernel said of
    /// each datagram: when it received it, and where it was sent to.
    pub fn timed(&self) -> impl Iterator<Item = Received<'_>> + '_ {
        self.got.iter().map(|g| Received {
            bytes: &self.slots[g.slot][..g.len],
            from: g.from,
            to: g.to,
            arrived_ns: g.arrived_ns,
        })
    }

    /// How many datagrams the socket dropped so far for want of room in
    /// its buffer (a loop too slow for what arrives), as the kernel said
    /// with the last datagram read; None where the kernel does not say.
    pub fn dropped(&self) -> Option<u32> {
        self.dropped
    }

    /// The destinations the kernel reported undeliverable since the last
    /// call (only for a socket that asked, with [`unreachable::report`]).
    pub fn unreachable(&mut self) -> std::vec::Drain<'_, unreachable::Unreachable> {
        self.unreachable.drain(..)
    }

    /// Whether the last batch was a full one: more may be queued.
    pub fn batch_was_full(&self) -> bool {
        self.got.len() == BATCH
    }

    /// Takes what is queued without waiting; false if nothing was.
    fn take(&mut self, socket: &UdpSocket) -> io::Result<bool> {
        match recv_batch(socket, &mut self.slots, &mut self.got, &mut self.dropped) {
            Ok(()) => Ok(!self.got.is_empty()),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(false),
            Err(e) if is_transient(&e) => {
                // An error the network reported: what it was about is
                // queued.
                unreachable::take(socket, &mut self.unreachable);
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }
}

/// Room for what the kernel says with a datagram, in u64s for alignment:
/// its arrival time and the socket's drop count, and where it was sent to
/// (on a dual-stack socket, in IPv4's words and IPv6's): 56 bytes and 72.
const CONTROL: usize = 16;

/// One `recvmmsg(2)` without waiting (`MSG_DONTWAIT`): fills `slots` in
/// order and records each datagram's length, sender, destination and
/// arrival time in `got`, and the socket's drop count in `dropped`.
#[cfg(target_os = "linux")]
fn recv_batch(
    socket: &UdpSocket,
    slots: &mut [[u8; SLOT]],
    got: &mut Vec<Got>,
    dropped: &mut Option<u32>,
) -> io::Result<()> {
    use std::os::fd::AsRawFd;

    use std::mem::MaybeUninit;

    let count = slots.len().min(BATCH);
    // Senders' addresses are written by the kernel: 4 KiB not to clear on
    // every call.
    let mut names = [MaybeUninit::<libc::sockaddr_storage>::uninit(); BATCH];
    let mut controls = [[0u64; CONTROL]; BATCH];
    // SAFETY: all-zero is a valid value of these plain C structs.
    let mut iovecs: [libc::iovec; BATCH] = unsafe { std::mem::zeroed() };
    let mut headers: [libc::mmsghdr; BATCH] = unsafe { std::mem::zeroed() };
    for ((((slot, name), iovec), header), control) in slots
        .iter_mut()
        .zip(&mut names)
        .zip(&mut iovecs)
        .zip(&mut headers)
        .zip(&mut controls)
    {
        *iovec = libc::iovec {
            iov_base: slot.as_mut_ptr().cast(),
            iov_len: SLOT,
        };
        header.msg_hdr.msg_name = name.as_mut_ptr().cast();
        header.msg_hdr.msg_namelen = std::mem::size_of::<libc::sockaddr_storage>() as u32;
        header.msg_hdr.msg_iov = iovec;
        header.msg_hdr.msg_iovlen = 1;
        header.msg_hdr.msg_control = control.as_mut_ptr().cast();
        header.msg_hdr.msg_controllen = std::mem::size_of_val(control);
    }
    // SAFETY: each of the first `count` headers points at its own live
    // name buffer, control buffer and iovec, and each iovec at its own
    // slot of SLOT bytes; all outlive the call, which writes nothing
    // beyond them.
    let received = unsafe {
        libc::recvmmsg(
            socket.as_raw_fd(),
            headers.as_mut_ptr(),
            count as u32,
            libc::MSG_DONTWAIT,
            std::ptr::null_mut(),
        )
    };
    if received < 0 {
        return Err(io::Error::last_os_error());
    }
    let headers = headers.iter().zip(&names).take(received as usize);
    for (slot, (header, name)) in headers.enumerate() {
        // A datagram larger than its slot is cut to SLOT bytes (MSG_TRUNC),
        // which is still more than any valid one.
        let len = header.msg_len as usize;
        let mut storage = socket2::SockAddrStorage::zeroed();
        let namelen = (header.msg_hdr.msg_namelen as usize)
            .min(std::mem::size_of::<libc::sockaddr_storage>());
        // SAFETY: the kernel wrote the first `msg_namelen` bytes of `name`
        // (clamped to its size), an address of the platform's own types;
        // the rest of `storage` stays zeroed.
        let from = unsafe {
            std::ptr::copy_nonoverlapping(
                name.as_ptr().cast::<u8>(),
                std::ptr::from_mut(storage.view_as::<libc::sockaddr_storage>()).cast::<u8>(),
                namelen,
            );
            socket2::SockAddr::new(storage, namelen as libc::socklen_t)
        };
        let mut arrived_ns = None;
        let mut to = pktinfo::Destination::default();
        // SAFETY: the kernel wrote `msg_controllen` bytes of well-formed
        // control messages into this header's own control buffer; the
        // CMSG_* macros walk them within that length, and each payload is
        // read unaligned, at the size its type says.
        unsafe {
            let mut cmsg = libc::CMSG_FIRSTHDR(&header.msg_hdr);
            while !cmsg.is_null() {
                let data = libc::CMSG_DATA(cmsg);
                match ((*cmsg).cmsg_level, (*cmsg).cmsg_type) {
                    (libc::SOL_SOCKET, libc::SCM_TIMESTAMPNS) => {
                        let ts = std::ptr::read_unaligned(data.cast::<libc::timespec>());
                        arrived_ns = u64::try_from(ts.tv_sec)
                            .ok()
                            .and_then(|s| s.checked_mul(1_000_000_000))
                            .and_then(|ns| ns.checked_add(u64::try_from(ts.tv_nsec).ok()?));
                    }
                    (libc::SOL_SOCKET, libc::SO_RXQ_OVFL) => {
                        *dropped = Some(std::ptr::read_unaligned(data.cast::<u32>()));
                    }
                    (level, kind) => to.read(level, kind, data),
                }
                cmsg = libc::CMSG_NXTHDR(&header.msg_hdr, cmsg);
            }
        }
        // UDP senders are always IPv4 or IPv6.
        if let Some(from) = from.as_socket() {
            got.push(Got {
                slot,
                len,
                from,
                to: to.local(),
                arrived_ns,
            });
        }
    }
    Ok(())
}

/// Elsewhere, one `recvfrom` at a time.
#[cfg(not(target_os = "linux"))]
fn recv_batch(
    socket: &UdpSocket,
    slots: &mut [[u8; SLOT]],
    got: &mut Vec<Got>,
    _dropped: &mut Option<u32>,
) -> io::Result<()> {
    socket.set_nonblocking(true)?;
    let (len, from) = socket.recv_from(&mut slots[0])?;
    got.push(Got {
        slot: 0,
        len,
        from,
        to: None,
        arrived_ns: None,
    });
    Ok(())
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
