//! What the kernel hears back about datagrams a socket sent: ICMP "port
//! unreachable" (nothing listens there), "host unreachable" and the like.
//! An unconnected UDP socket hears of none of them unless it asks
//! (`IP_RECVERR`); then each report names the destination of the datagram
//! that failed, so one socket sending to many targets knows which one did.

use std::io;
use std::net::{SocketAddr, UdpSocket};

/// A destination the kernel says a datagram could not reach, and why
/// (`ConnectionRefused` for a closed port).
#[derive(Debug)]
pub struct Unreachable {
    pub to: SocketAddr,
    pub error: io::Error,
}

/// Asks the kernel to report to `socket` every datagram it sent that could
/// not be delivered, with its destination: read with [`take`].
#[cfg(target_os = "linux")]
pub fn report(socket: &UdpSocket) -> io::Result<()> {
    // A dual-stack socket's IPv4 destinations report through IPv4.
    super::set_flags(
        socket,
        (libc::SOL_IP, libc::IP_RECVERR),
        (libc::SOL_IPV6, libc::IPV6_RECVERR),
    )
}

#[cfg(not(target_os = "linux"))]
pub fn report(_socket: &UdpSocket) -> io::Result<()> {
    Ok(())
}

/// Moves every report queued on `socket` into `into`, and clears the
/// socket's pending error, which would otherwise fail its next send or
/// receive whatever its destination.
#[cfg(target_os = "linux")]
pub fn take(socket: &UdpSocket, into: &mut Vec<Unreachable>) {
    use std::os::fd::AsRawFd;
    loop {
        let mut name = socket2::SockAddrStorage::zeroed();
        let mut control = [0u64; 64];
        let mut byte = [0u8; 1];
        let mut iovec = libc::iovec {
            iov_base: byte.as_mut_ptr().cast(),
            iov_len: byte.len(),
        };
        // SAFETY: all-zero is a valid msghdr; its pointers are set below.
        let mut header: libc::msghdr = unsafe { std::mem::zeroed() };
        // SAFETY: sockaddr_storage is one of the platform's address types.
        header.msg_name =
            std::ptr::from_mut(unsafe { name.view_as::<libc::sockaddr_storage>() }).cast();
        header.msg_namelen = name.size_of();
        header.msg_iov = &mut iovec;
        header.msg_iovlen = 1;
        header.msg_control = control.as_mut_ptr().cast();
        header.msg_controllen = std::mem::size_of_val(&control);
        // SAFETY: the header points at live buffers of the sizes it
        // states, which outlive the call.
        let got = unsafe {
            libc::recvmsg(
                socket.as_raw_fd(),
                &mut header,
                libc::MSG_ERRQUEUE | libc::MSG_DONTWAIT,
            )
        };
        if got < 0 {
            break;
        }
        let mut errno = None;
        // SAFETY: the kernel wrote `msg_controllen` bytes of well-formed
        // control messages; each payload is read unaligned, and an
        // extended error starts with its errno (a u32).
        unsafe {
            let mut cmsg = libc::CMSG_FIRSTHDR(&header);
            while !cmsg.is_null() {
                let kind = ((*cmsg).cmsg_level, (*cmsg).cmsg_type);
                if kind == (libc::SOL_IP, libc::IP_RECVERR)
                    || kind == (libc::SOL_IPV6, libc::IPV6_RECVERR)
                {
                    errno = Some(std::ptr::read_unaligned(
                        libc::CMSG_DATA(cmsg).cast::<u32>(),
                    ));
                }
                cmsg = libc::CMSG_NXTHDR(&header, cmsg);
            }
        }
        // SAFETY: the kernel wrote `msg_namelen` bytes of an address of
        // the platform's own types into `name` (zeroed beyond).
        let to = unsafe { socket2::SockAddr::new(name, header.msg_namelen) };
        if let (Some(to), Some(errno)) = (to.as_socket(), errno) {
            let error = io::Error::from_raw_os_error(errno as i32);
            into.push(Unreachable { to, error });
        }
    }
    // The pending error was one of the reports just read.
    let _ = socket.take_error();
}

#[cfg(not(target_os = "linux"))]
pub fn take(_socket: &UdpSocket, _into: &mut Vec<Unreachable>) {}
