//! `GET /events`: the tool's event lines as server-sent events, one
//! `data: <line>` each, fed by the one output path (the [`EventFeed`] is
//! one more subscriber of the tool's sink).
//!
//! The loop never waits for a client: it hands each line to a broadcast
//! ring of [`EVENT_BACKLOG`] lines and goes on. A client that falls
//! further behind than the ring (a slow network, a stopped browser) has
//! lost lines it cannot get back: it is sent `: dropped: too slow` and
//! closed, and reconnects to resync (the status page does, from
//! `/status`). A comment every [`KEEPALIVE`] keeps idle streams open
//! through proxies and tells the server a client is gone.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use hyper::body::{Body, Frame};
use tokio::sync::{broadcast, mpsc};

use super::StatusShare;
use crate::output::{Line, Subscriber};

/// Lines a client may fall behind the loop before it is dropped: with
/// lines of a few hundred bytes, under half a megabyte for all clients
/// together (the ring is shared).
pub const EVENT_BACKLOG: usize = 1024;

/// How often an idle stream gets a comment.
pub const KEEPALIVE: Duration = Duration::from_secs(15);

/// Lines on their way to one client's connection, beyond the ring.
const IN_FLIGHT: usize = 16;

/// Hands every line printed to the `/events` clients.
#[derive(Debug, Clone)]
pub struct EventFeed {
    lines: broadcast::Sender<Bytes>,
    /// `/status`, told of every line, so that it never answers with a
    /// snapshot older than an event a client was sent.
    status: Option<Arc<StatusShare>>,
}

impl EventFeed {
    pub fn new(status: Option<Arc<StatusShare>>) -> Self {
        EventFeed {
            lines: broadcast::Sender::new(EVENT_BACKLOG),
            status,
        }
    }
}

impl Subscriber for EventFeed {
    fn take(&mut self, line: &Line<'_>) {
        if let Some(status) = &self.status {
            status.printed();
        }
        // No client, no copy: the common case costs one atomic load.
        if self.lines.receiver_count() == 0 {
            return;
        }
        let json = line.json.strip_suffix(b"\n").unwrap_or(line.json);
        let mut event = Vec::with_capacity(json.len() + 8);
        event.extend_from_slice(b"data: ");
        event.extend_from_slice(json);
        event.extend_from_slice(b"\n\n");
        let _ = self.lines.send(Bytes::from(event));
    }
}

impl EventFeed {
    /// A new client's stream: the lines printed from now on. Spawns the
    /// task that moves them from the ring to the client's connection.
    pub fn stream(&self) -> EventStream {
        let (tx, rx) = mpsc::channel(IN_FLIGHT);
        let lines = self.lines.subscribe();
        tokio::spawn(forward(lines, tx));
        EventStream(rx)
    }
}

/// Moves lines from the ring to one client until it falls behind or goes.
async fn forward(mut lines: broadcast::Receiver<Bytes>, client: mpsc::Sender<Bytes>) {
    let mut keepalive = tokio::time::interval(KEEPALIVE);
    keepalive.tick().await;
    // Tells the client at once that the stream is open.
    if client
        .send(Bytes::from_static(b": live\n\n"))
        .await
        .is_err()
    {
        return;
    }
    loop {
        let next = tokio::select! {
            line = lines.recv() => match line {
                Ok(line) => line,
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    let last = client.send(Bytes::from_static(b": dropped: too slow\n\n"));
                    let _ = tokio::time::timeout(KEEPALIVE, last).await;
                    return;
                }
                Err(broadcast::error::RecvError::Closed) => return,
            },
            _ = keepalive.tick() => Bytes::from_static(b": keepalive\n\n"),
        };
        if client.send(next).await.is_err() {
            return;
        }
    }
}

/// One client's `/events` body.
pub struct EventStream(mpsc::Receiver<Bytes>);

impl Body for EventStream {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.0
            .poll_recv(cx)
            .map(|line| line.map(|bytes| Ok(Frame::data(bytes))))
    }
}
