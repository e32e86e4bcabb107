//! `GET /status`: the membership snapshot, made by the listener's loop
//! when a client asks for it.
//!
//! The loop serializes the snapshot a slice of nodes per turn, as it does
//! for the state file (it never stalls its socket for a large fleet), and
//! hands the pieces to a thread that joins them and publishes the whole
//! object here. Requests within [`FRESH`] of a snapshot share it; one
//! snapshot is kept (about 300 bytes a node), replaced by the next.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::watch;

/// How old a snapshot may be and still answer a request.
pub const FRESH: Duration = Duration::from_secs(1);

/// How long a request waits for the loop's snapshot: the loop looks at
/// least every quarter second; a loop stuck (writing to a blocked stdout)
/// gets the request a 503 rather than a hung client.
pub const STATUS_WAIT: Duration = Duration::from_millis(3000);

/// Where the web side asks for the membership and the loop answers.
#[derive(Debug)]
pub struct StatusShare {
    wanted: AtomicBool,
    latest: watch::Sender<Option<(Bytes, Instant)>>,
}

impl Default for StatusShare {
    fn default() -> Self {
        StatusShare {
            wanted: AtomicBool::new(false),
            latest: watch::Sender::new(None),
        }
    }
}

impl StatusShare {
    /// Whether a client waits for a snapshot: one atomic load, so the loop
    /// may ask on every turn.
    pub fn wanted(&self) -> bool {
        self.wanted.load(Ordering::Acquire)
    }

    /// Publishes a whole snapshot (the `status` line, newline included).
    pub fn publish(&self, json: Vec<u8>) {
        self.wanted.store(false, Ordering::Release);
        self.latest
            .send_replace(Some((Bytes::from(json), Instant::now())));
    }

    /// A snapshot no older than [`FRESH`], asking the loop for one when
    /// there is none; None when the loop did not answer in time.
    pub async fn get(self: &Arc<Self>) -> Option<Bytes> {
        let mut changes = self.latest.subscribe();
        if let Some(json) = fresh(&changes.borrow_and_update()) {
            return Some(json);
        }
        self.wanted.store(true, Ordering::Release);
        let answered = tokio::time::timeout(STATUS_WAIT, async {
            loop {
                if changes.changed().await.is_err() {
                    return None;
                }
                if let Some(json) = fresh(&changes.borrow_and_update()) {
                    return Some(json);
                }
            }
        });
        answered.await.ok().flatten()
    }
}

fn fresh(latest: &Option<(Bytes, Instant)>) -> Option<Bytes> {
    latest
        .as_ref()
        .filter(|(_, at)| at.elapsed() < FRESH)
        .map(|(json, _)| json.clone())
}
