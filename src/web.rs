//! The web side of a tool, on `--metrics ADDR`: Prometheus metrics on
//! `/metrics`, and for hb-listen the membership on `/status`, the event
//! lines on `/events` (server-sent events) and a live status page on `/`.
//! TLS and basic auth come from `--web-config FILE`, in the format
//! Prometheus' own exporters read ([`config`]).
//!
//! It runs on a thread of its own with a small async runtime (hyper on
//! tokio, rustls for TLS), at a lower priority than the tool's loop,
//! which it never makes wait: the loop hands it lines and snapshots
//! without blocking. Every door is bounded, whoever knocks:
//!
//! | what a client can do | what it costs the tool at most |
//! |---|---|
//! | open connections | [`MAX_CONNECTIONS`] descriptors, a few KiB each, and the kernel's buffers ([`SEND_BUFFER`] to send); one more gets 503 and is closed |
//! | send a request head | [`MAX_HEAD_BYTES`] and [`MAX_HEADERS`] (431 beyond), within [`HEAD_TIMEOUT`] |
//! | stay idle, or never read the answers | closed after [`IDLE_TIMEOUT`] without a byte either way |
//! | a TLS handshake | [`HANDSHAKE_TIMEOUT`] |
//! | stream `/events` | [`MAX_EVENT_STREAMS`] at once; behind by [`EVENT_BACKLOG`] lines, dropped |
//! | wrong passwords | one bcrypt check at a time, on one blocking thread |
//! | scrape, ask `/status` | one scrape encoded at a time; one snapshot, shared by requests within a second |
//!
//! Threads: the runtime's one, and two blocking ones at most (a scrape, a
//! password check). Accept errors (the descriptor limit) pause accepting
//! and never end the server. Over TCP no one can answer a forged source,
//! so the web side amplifies nothing.

mod config;
mod events;
mod routes;
mod server;
pub mod status;
mod users;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, PoisonError, RwLock};

use anyhow::Context;
use tokio::sync::Semaphore;

pub use config::WebConfig;
pub use events::{EventFeed, EVENT_BACKLOG};
pub use server::{HANDSHAKE_TIMEOUT, SEND_BUFFER};
pub use server::{HEAD_TIMEOUT, IDLE_TIMEOUT, MAX_CONNECTIONS, MAX_HEADERS, MAX_HEAD_BYTES};
pub use status::StatusShare;

use crate::metrics::Metrics;
use crate::reload::Rereads;

/// `/events` streams served at once; one more is answered 503.
pub const MAX_EVENT_STREAMS: usize = 16;

/// Blocking threads the runtime may start: a scrape and a password check.
const BLOCKING_THREADS: usize = 2;

/// What a tool serves, and how.
pub struct Site {
    metrics: Metrics,
    status: Option<Arc<StatusShare>>,
    events: Option<EventFeed>,
    config: RwLock<WebConfig>,
    scrape: Semaphore,
    bcrypt: Semaphore,
    streams: Arc<Semaphore>,
}

impl Site {
    /// The web configuration new connections get.
    fn config(&self) -> WebConfig {
        self.config
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// What a tool serves beyond its metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pages {
    /// `/metrics` alone (hb-ack, hb-poll).
    MetricsOnly,
    /// `/status`, `/events` and the status page too (hb-listen).
    Membership,
}

/// A running web side.
pub struct WebSide {
    site: Arc<Site>,
    config_path: Option<PathBuf>,
    /// Where it listens.
    pub bound: SocketAddr,
}

impl WebSide {
    /// Binds `addr` and serves from a detached "hb-web" thread that lives
    /// as long as the process, with `config`, read from `config_path`
    /// (the `--web-config` file, read again on SIGHUP) if any.
    pub fn serve(
        addr: SocketAddr,
        metrics: Metrics,
        pages: Pages,
        config: WebConfig,
        config_path: Option<PathBuf>,
    ) -> anyhow::Result<WebSide> {
        let listener =
            std::net::TcpListener::bind(addr).with_context(|| format!("serving on {addr}"))?;
        listener.set_nonblocking(true)?;
        let bound = listener.local_addr()?;
        let membership = pages == Pages::Membership;
        let status: Option<Arc<StatusShare>> = membership.then(Arc::default);
        let site = Arc::new(Site {
            metrics,
            events: membership.then(|| EventFeed::new(status.clone())),
            status,
            config: RwLock::new(config),
            scrape: Semaphore::new(1),
            bcrypt: Semaphore::new(1),
            streams: Arc::new(Semaphore::new(MAX_EVENT_STREAMS)),
        });
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .max_blocking_threads(BLOCKING_THREADS)
            .thread_name("hb-web-blocking")
            .on_thread_start(crate::export::lower_priority)
            .build()?;
        let serving = site.clone();
        std::thread::Builder::new()
            .name("hb-web".into())
            .spawn(move || {
                crate::export::lower_priority();
                runtime.block_on(async move {
                    match tokio::net::TcpListener::from_std(listener) {
                        Ok(listener) => server::accept(listener, serving).await,
                        Err(e) => crate::say!("warning: web: {e}; not serving"),
                    }
                });
            })?;
        Ok(WebSide {
            site,
            config_path,
            bound,
        })
    }

    /// Where clients reach it: `http://ADDR` or `https://ADDR`.
    pub fn url(&self) -> String {
        format!("{}://{}", self.site.config().scheme(), self.bound)
    }

    /// The metrics it serves, for the tool to count into.
    pub fn metrics(&self) -> &Metrics {
        &self.site.metrics
    }

    /// The feed of `/events`, to subscribe to the tool's sink.
    pub fn events(&self) -> Option<EventFeed> {
        self.site.events.clone()
    }

    /// Where `/status` asks the loop for the membership.
    pub fn status(&self) -> Option<Arc<StatusShare>> {
        self.site.status.clone()
    }
}

/// SIGHUP reads `--web-config` again: new connections get the new
/// configuration; a file that cannot be used keeps the old one.
impl Rereads for WebSide {
    fn reread(&self) -> Option<anyhow::Result<()>> {
        let path = self.config_path.as_ref()?;
        Some(WebConfig::read(path).map(|config| {
            *self
                .site
                .config
                .write()
                .unwrap_or_else(PoisonError::into_inner) = config;
        }))
    }

    fn kept(&self) -> &'static str {
        "the web configuration as it was"
    }
}

#[cfg(test)]
mod tests;
