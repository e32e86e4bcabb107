//! Which of this host's addresses a datagram was sent to, and answering
//! from that one. A listener with several addresses (a second interface,
//! a service address, an address added for the monitor) must ask a node
//! from the address the node beats to: hb-send answers only the hosts it
//! beats to, and left to itself the kernel picks the source by its routes,
//! which may well be another address of the listener's. The kernel says a
//! datagram's local address when asked (`IP_PKTINFO`, `IPV6_RECVPKTINFO`),
//! and takes a source in the same words (`sendmsg(2)` with `IP_PKTINFO` or
//! `IPV6_PKTINFO`).

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};

/// Asks the kernel to say, with each datagram `socket` receives, which
/// local address it was sent to: [`super::Received::to`].
#[cfg(target_os = "linux")]
pub fn note_destinations(socket: &UdpSocket) -> io::Result<()> {
    // A dual-stack socket's IPv4 datagrams are said in IPv4's words too,
    // which name the address to answer a multicast or broadcast datagram
    // from (IPv6's name only the group).
    super::set_flags(
        socket,
        (libc::SOL_IP, libc::IP_PKTINFO),
        (libc::SOL_IPV6, libc::IPV6_RECVPKTINFO),
    )
}

#[cfg(not(target_os = "linux"))]
pub fn note_destinations(_socket: &UdpSocket) -> io::Result<()> {
    Ok(())
}

/// What the control messages of one datagram said of its destination.
#[derive(Debug, Default)]
pub(super) struct Destination {
    v4: Option<Ipv4Addr>,
    v6: Option<Ipv6Addr>,
}

impl Destination {
    /// Takes a control message of `level` and `kind` if it says where the
    /// datagram was sent to.
    ///
    /// # Safety
    ///
    /// `data` points at the payload of a control message of that level
    /// and kind, whole, as the kernel wrote it.
    #[cfg(target_os = "linux")]
    pub(super) unsafe fn read(&mut self, level: libc::c_int, kind: libc::c_int, data: *const u8) {
        match (level, kind) {
            (libc::SOL_IP, libc::IP_PKTINFO) => {
                // SAFETY: the caller's: the payload is an in_pktinfo.
                let info = unsafe { std::ptr::read_unaligned(data.cast::<libc::in_pktinfo>()) };
                // The local address to answer from: the destination itself,
                // or for a multicast or broadcast one, this host's address
                // on the link it came by.
                self.v4 = Some(Ipv4Addr::from(u32::from_be(info.ipi_spec_dst.s_addr)));
            }
            (libc::SOL_IPV6, libc::IPV6_PKTINFO) => {
                // SAFETY: the caller's: the payload is an in6_pktinfo.
                let info = unsafe { std::ptr::read_unaligned(data.cast::<libc::in6_pktinfo>()) };
                self.v6 = Some(Ipv6Addr::from(info.ipi6_addr.s6_addr));
            }
            _ => {}
        }
    }

    /// The address to answer from, if the kernel named one a datagram can
    /// come from (a multicast group or a broadcast address cannot).
    pub(super) fn local(&self) -> Option<IpAddr> {
        let ip = match (self.v4, self.v6) {
            (Some(v4), _) => IpAddr::V4(v4),
            (None, Some(v6)) => IpAddr::V6(v6).to_canonical(),
            (None, None) => return None,
        };
        let unicast =
            !ip.is_multicast() && !ip.is_unspecified() && ip != IpAddr::V4(Ipv4Addr::BROADCAST);
        unicast.then_some(ip)
    }
}

/// Sends `datagram` to `to` from this host's address `from`, or from the
/// address the kernel picks where `from` is None or no longer this host's
/// (a service address moved to another host).
#[cfg(target_os = "linux")]
pub fn send_from(
    socket: &UdpSocket,
    datagram: &[u8],
    to: SocketAddr,
    from: Option<IpAddr>,
) -> io::Result<usize> {
    use std::os::fd::AsRawFd;
    let to = super::sent_to(socket, to);
    // An IPv4 peer of a dual-stack socket is answered in IPv4's words.
    let Some(from) = from.filter(|f| f.is_ipv4() == to.ip().to_canonical().is_ipv4()) else {
        return socket.send_to(datagram, to);
    };
    let (level, kind, len) = match from {
        IpAddr::V4(_) => (
            libc::SOL_IP,
            libc::IP_PKTINFO,
            std::mem::size_of::<libc::in_pktinfo>(),
        ),
        IpAddr::V6(_) => (
            libc::SOL_IPV6,
            libc::IPV6_PKTINFO,
            std::mem::size_of::<libc::in6_pktinfo>(),
        ),
    };
    let name = socket2::SockAddr::from(to);
    // Room for one control message with an in6_pktinfo (40 bytes), in u64s
    // for alignment.
    let mut control = [0u64; 5];
    let mut iovec = libc::iovec {
        iov_base: datagram.as_ptr().cast_mut().cast(),
        iov_len: datagram.len(),
    };
    // SAFETY: all-zero is a valid msghdr; its pointers are set below.
    let mut header: libc::msghdr = unsafe { std::mem::zeroed() };
    header.msg_name = name.as_ptr().cast_mut().cast();
    header.msg_namelen = name.len();
    header.msg_iov = &mut iovec;
    header.msg_iovlen = 1;
    header.msg_control = control.as_mut_ptr().cast();
    // SAFETY: CMSG_SPACE computes a size from a length; no memory is read.
    header.msg_controllen = unsafe { libc::CMSG_SPACE(len as u32) } as usize;
    debug_assert!(header.msg_controllen <= std::mem::size_of_val(&control));
    // SAFETY: the header's control buffer holds one control message of
    // `len` bytes (CMSG_SPACE, checked above); its payload is written
    // unaligned, at the size its type says.
    unsafe {
        let cmsg = libc::CMSG_FIRSTHDR(&header);
        (*cmsg).cmsg_level = level;
        (*cmsg).cmsg_type = kind;
        (*cmsg).cmsg_len = libc::CMSG_LEN(len as u32) as usize;
        let data = libc::CMSG_DATA(cmsg);
        match from {
            IpAddr::V4(ip) => std::ptr::write_unaligned(
                data.cast::<libc::in_pktinfo>(),
                libc::in_pktinfo {
                    // No interface named: the routes choose, as for any
                    // datagram; only the source is set.
                    ipi_ifindex: 0,
                    ipi_spec_dst: libc::in_addr {
                        s_addr: u32::from(ip).to_be(),
                    },
                    ipi_addr: libc::in_addr { s_addr: 0 },
                },
            ),
            IpAddr::V6(ip) => std::ptr::write_unaligned(
                data.cast::<libc::in6_pktinfo>(),
                libc::in6_pktinfo {
                    ipi6_addr: libc::in6_addr {
                        s6_addr: ip.octets(),
                    },
                    ipi6_ifindex: 0,
                },
            ),
        }
    }
    // SAFETY: the header points at live buffers of the sizes it states
    // (the address, the datagram, the control message), which outlive the
    // call; the kernel only reads them.
    let sent = unsafe { libc::sendmsg(socket.as_raw_fd(), &header, 0) };
    if let Ok(sent) = usize::try_from(sent) {
        return Ok(sent);
    }
    let e = io::Error::last_os_error();
    match e.raw_os_error() {
        // Not this host's address any more: no route leaves from it.
        Some(libc::EINVAL | libc::EADDRNOTAVAIL | libc::ENETUNREACH) => {
            socket.send_to(datagram, to)
        }
        _ => Err(e),
    }
}

#[cfg(not(target_os = "linux"))]
pub fn send_from(
    socket: &UdpSocket,
    datagram: &[u8],
    to: SocketAddr,
    _from: Option<IpAddr>,
) -> io::Result<usize> {
    socket.send_to(datagram, super::sent_to(socket, to))
}

/// Most local addresses a [`Locals`] tells apart; datagrams to any other
/// are answered from the address the kernel picks.
const MOST_LOCALS: usize = 64;

/// One of this host's addresses, as a [`Locals`] numbers it: a byte per
/// node instead of an address (17 bytes) in a table of 100,000.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Local(u8);

/// The local addresses datagrams were sent to, each numbered once: a
/// host has few, so finding one is a look along a short list.
#[derive(Debug, Default)]
pub struct Locals {
    seen: Vec<IpAddr>,
}

impl Locals {
    /// The number of `ip` (the default `Local`, none, for None or past
    /// [`MOST_LOCALS`] addresses).
    pub fn number(&mut self, ip: Option<IpAddr>) -> Local {
        let Some(ip) = ip else {
            return Local::default();
        };
        let at = match self.seen.iter().position(|&s| s == ip) {
            Some(at) => at,
            None if self.seen.len() < MOST_LOCALS => {
                self.seen.push(ip);
                self.seen.len() - 1
            }
            None => return Local::default(),
        };
        // 1 to MOST_LOCALS: the default, 0, is none.
        Local(at as u8 + 1)
    }

    /// The address numbered `local`.
    pub fn address(&self, local: Local) -> Option<IpAddr> {
        let at = usize::from(local.0).checked_sub(1)?;
        self.seen.get(at).copied()
    }
}

#[cfg(test)]
mod tests;
