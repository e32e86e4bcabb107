//! A stand-in for hb-ack that the test scripts: on a socket the test sets
//! up, each datagram is handed to the test's function, and what it returns
//! is sent back to the datagram's source.

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

/// Answers datagrams on its own thread until dropped; a failed assertion
/// in the test's function shows when it is.
pub struct FakeResponder {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl FakeResponder {
    /// Answers what arrives at `socket` with `answer(datagram)`, if any.
    pub fn start(
        socket: UdpSocket,
        mut answer: impl FnMut(&[u8]) -> Option<String> + Send + 'static,
    ) -> FakeResponder {
        // Short, so the thread stops soon after the responder is dropped.
        socket
            .set_read_timeout(Some(Duration::from_millis(20)))
            .unwrap();
        let addr = socket.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        let thread = thread::spawn(move || {
            let mut buf = [0u8; 2048];
            while !stopped.load(Ordering::Relaxed) {
                let Ok((len, from)) = socket.recv_from(&mut buf) else {
                    continue;
                };
                if let Some(reply) = answer(&buf[..len]) {
                    socket.send_to(reply.as_bytes(), from).unwrap();
                }
            }
        });
        FakeResponder {
            addr,
            stop,
            thread: Some(thread),
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for FakeResponder {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let outcome = thread.join();
            if !thread::panicking() {
                outcome.unwrap();
            }
        }
    }
}
