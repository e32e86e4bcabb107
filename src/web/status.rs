//! `GET /status`: the membership snapshot, made by the listener's loop
//! when a client asks for it.
//!
//! The loop serializes the snapshot a slice of nodes per turn, as it does
//! for the state file (it never stalls its socket for a large fleet), and
//! hands the pieces to a thread that joins them and publishes the whole
//! object here, in its pieces (served one after the other: never joined,
//! which would hold it twice). Requests within [`FRESH`] of a snapshot
//! share it, unless a line was printed since the snapshot began: a client
//! that read `/events` and then `/status` must find in it every event it
//! was sent before (the status page relies on it to be in sync). A
//! snapshot (about 360 bytes a node with health) is let go once it is no
//! longer fresh, so a listener nobody asks holds none.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
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
    /// Lines printed so far.
    printed: AtomicU64,
    /// The latest snapshot, when it was published, and the lines printed
    /// when it began.
    latest: watch::Sender<Option<Snapshot>>,
}

#[derive(Debug, Clone)]
struct Snapshot {
    json: Arc<[Bytes]>,
    at: Instant,
    printed: u64,
}

impl Default for StatusShare {
    fn default() -> Self {
        StatusShare {
            wanted: AtomicBool::new(false),
            printed: AtomicU64::new(0),
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

    /// A line was printed: snapshots begun before it are not fresh.
    pub fn printed(&self) {
        self.printed.fetch_add(1, Ordering::Release);
    }

    /// The loop begins a snapshot, which answers the requests made so
    /// far (one made from now on asks again): returns the lines printed
    /// so far, every one of which the snapshot holds.
    pub fn starting(&self) -> u64 {
        self.wanted.store(false, Ordering::Release);
        self.printed.load(Ordering::Acquire)
    }

    /// Publishes a whole snapshot (the `status` line, newline included),
    /// begun when `printed` lines were printed.
    pub fn publish(&self, pieces: Vec<Bytes>, printed: u64) {
        self.latest.send_replace(Some(Snapshot {
            json: pieces.into(),
            at: Instant::now(),
            printed,
        }));
    }

    /// A snapshot that may answer a request now, asking the loop for one
    /// when there is none; None when the loop did not answer in time.
    pub async fn get(self: &Arc<Self>) -> Option<Arc<[Bytes]>> {
        // Every line printed before the request must be in the answer;
        // lines printed while it waits need not be (a busy listener would
        // never catch up with them).
        let asked = self.printed.load(Ordering::Acquire);
        let mut changes = self.latest.subscribe();
        if let Some(json) = self.fresh(&changes.borrow_and_update(), asked) {
            return Some(json);
        }
        self.wanted.store(true, Ordering::Release);
        let answered = tokio::time::timeout(STATUS_WAIT, async {
            loop {
                if changes.changed().await.is_err() {
                    return None;
                }
                if let Some(json) = self.fresh(&changes.borrow_and_update(), asked) {
                    return Some(json);
                }
            }
        });
        let answered = answered.await.ok().flatten();
        if answered.is_some() {
            let share = self.clone();
            tokio::spawn(async move {
                tokio::time::sleep(FRESH).await;
                share.let_go();
            });
        }
        answered
    }

    /// `latest`'s JSON if it may answer a request made when `asked` lines
    /// were printed: younger than [`FRESH`], and holding every one of them.
    fn fresh(&self, latest: &Option<Snapshot>, asked: u64) -> Option<Arc<[Bytes]>> {
        latest
            .as_ref()
            .filter(|s| s.at.elapsed() < FRESH && s.printed >= asked)
            .map(|s| s.json.clone())
    }

    /// Lets the snapshot go once it is no longer fresh (the requests it
    /// answers hold it until their answers are sent).
    fn let_go(&self) {
        let stale = self.latest.send_if_modified(|latest| match latest {
            Some(s) if s.at.elapsed() >= FRESH => latest.take().is_some(),
            _ => false,
        });
        if stale {
            crate::export::release_freed();
        }
    }
}
