//! The batched receive every loop waits in: `poll(2)` for the first
//! datagram, then `recvmmsg(2)` for whatever else is queued, with each
//! datagram's arrival time and the local address it was sent to.

use std::io;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::time::Duration;

use super::{is_transient, pktinfo, unreachable, STOP_CHECK};

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
    /// Room for a batch: one datagram's at first, twice as much after each
    /// batch that filled it, up to [`BATCH`]. A poller of one target, as
    /// Nagios runs it, clears and touches 2 KiB, not 64.
    slots: Vec<[u8; SLOT]>,
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
            slots: vec![[0; SLOT]; 1],
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
        if self.batch_was_full() && self.slots.len() < BATCH {
            self.slots.resize(2 * self.slots.len(), [0; SLOT]);
        }
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
        self.got.len() == self.slots.len()
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
