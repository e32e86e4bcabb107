//! The batched send a poller's probes go out through: datagrams queued,
//! then sent with one `sendmmsg(2)` per batch instead of one `sendto(2)`
//! each.

use std::io;
use std::net::{SocketAddr, UdpSocket};

/// Datagrams waiting to be sent, each to its own address, in the order
/// they were queued.
///
/// A large round is thousands of probes, and a system call each was most
/// of what the poller itself spent sending them.
#[derive(Debug, Default)]
pub struct Outbox {
    /// The queued datagrams, end to end.
    bytes: Vec<u8>,
    /// Where each datagram ends in `bytes`, and where it goes.
    queued: Vec<(usize, SocketAddr)>,
}

impl Outbox {
    /// Queues `datagram` for `to`; its place in the queue is [`Outbox::len`]
    /// before the call.
    pub fn push(&mut self, datagram: &[u8], to: SocketAddr) {
        self.bytes.extend_from_slice(datagram);
        self.queued.push((self.bytes.len(), to));
    }

    pub fn len(&self) -> usize {
        self.queued.len()
    }

    pub fn is_empty(&self) -> bool {
        self.queued.is_empty()
    }

    /// Sends every queued datagram and empties the queue. Returns those the
    /// kernel refused, by their place in the queue, each with its error;
    /// the others were sent.
    pub fn send(&mut self, socket: &UdpSocket) -> Vec<(usize, io::Error)> {
        let mut failed = Vec::new();
        let mut start = 0;
        let datagrams: Vec<(&[u8], SocketAddr)> = self
            .queued
            .iter()
            .map(|&(end, to)| {
                let datagram = &self.bytes[start..end];
                start = end;
                (datagram, to)
            })
            .collect();
        let mut done = 0;
        while done < datagrams.len() {
            match send_batch(socket, &datagrams[done..]) {
                Ok(sent) => done += sent,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // The first unsent one is the one refused: the batch goes
                // on after it.
                Err(e) => {
                    failed.push((done, e));
                    done += 1;
                }
            }
        }
        self.bytes.clear();
        self.queued.clear();
        failed
    }
}

/// Sends datagrams from the first, in one `sendmmsg(2)`: how many were
/// sent (at least one), or the error of the first.
#[cfg(target_os = "linux")]
fn send_batch(socket: &UdpSocket, datagrams: &[(&[u8], SocketAddr)]) -> io::Result<usize> {
    use rustix::net::{sendmmsg, MMsgHdr, SendAncillaryBuffer, SendFlags, SocketAddrAny};
    use std::io::IoSlice;

    let addrs: Vec<SocketAddrAny> = datagrams.iter().map(|(_, to)| (*to).into()).collect();
    let slices: Vec<[IoSlice; 1]> = datagrams.iter().map(|(d, _)| [IoSlice::new(d)]).collect();
    let mut controls: Vec<SendAncillaryBuffer> = datagrams
        .iter()
        .map(|_| SendAncillaryBuffer::default())
        .collect();
    let mut messages: Vec<MMsgHdr> = addrs
        .iter()
        .zip(&slices)
        .zip(&mut controls)
        .map(|((to, slice), control)| MMsgHdr::new_with_addr(to, slice, control))
        .collect();
    match sendmmsg(socket, &mut messages, SendFlags::empty()) {
        // The kernel sends at least one or says why not.
        Ok(0) => Err(io::ErrorKind::WriteZero.into()),
        Ok(sent) => Ok(sent),
        Err(e) => Err(e.into()),
    }
}

/// Elsewhere, one `sendto` at a time.
#[cfg(not(target_os = "linux"))]
fn send_batch(socket: &UdpSocket, datagrams: &[(&[u8], SocketAddr)]) -> io::Result<usize> {
    let (datagram, to) = datagrams[0];
    socket.send_to(datagram, to)?;
    Ok(1)
}

#[cfg(test)]
mod tests;
