//! Connections: accepting them within the limits, TLS, HTTP/1.1 through
//! hyper, and closing the ones that stall.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;

use super::Site;

/// Connections served at once; one more is answered 503 and closed. Each
/// costs a descriptor and a few kilobytes, never a thread, so the
/// descriptors hooks and checks need are never the web side's.
pub const MAX_CONNECTIONS: usize = 64;

/// The most a request's head (request line and headers) may take; a
/// longer one is answered 431 and the connection closed.
pub const MAX_HEAD_BYTES: usize = 16 * 1024;

/// The most headers a request may carry.
pub const MAX_HEADERS: usize = 64;

/// How long a client has to send a request's head, once it began it.
pub const HEAD_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a TLS handshake may take.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// A connection on which nothing was read or written for this long is
/// closed: an idle keep-alive, a client that sends requests and never
/// reads the answers. `/events` streams write a comment more often.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// The kernel's send buffer of a connection (it doubles it for its own
/// bookkeeping): what a client that stops reading holds of the host's
/// memory, at most, and still room for a scrape at full speed on a LAN.
pub const SEND_BUFFER: usize = 128 * 1024;

/// The longest pause after a failed accept (the descriptor limit
/// reached): it doubles from 10 ms while accepts fail, and the server goes
/// on as soon as one succeeds.
const MAX_ACCEPT_PAUSE: Duration = Duration::from_secs(1);

/// What a connection beyond [`MAX_CONNECTIONS`] gets before it is closed.
const BUSY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\
Connection: close\r\nRetry-After: 1\r\n\r\n";

/// Accepts connections for ever.
pub async fn accept(listener: TcpListener, site: Arc<Site>) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut pause = Duration::ZERO;
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                if !pause.is_zero() {
                    crate::say!("web: accepting connections again");
                    pause = Duration::ZERO;
                }
                let Ok(slot) = slots.clone().try_acquire_owned() else {
                    refuse(stream, &site);
                    continue;
                };
                let site = site.clone();
                tokio::spawn(async move {
                    serve(stream, site).await;
                    drop(slot);
                });
            }
            // Out of descriptors (or memory): the connection waits in the
            // kernel's queue, and the server tries again shortly instead
            // of spinning or giving up.
            Err(e) => {
                if pause.is_zero() {
                    crate::say!("warning: web: accepting a connection: {e}; retrying");
                }
                pause = (pause * 2).clamp(Duration::from_millis(10), MAX_ACCEPT_PAUSE);
                tokio::time::sleep(pause).await;
            }
        }
    }
}

/// Answers a connection beyond the limit without reading it: a plain
/// 503 when the server speaks plain HTTP (a TLS client would not
/// understand it: it is closed).
fn refuse(stream: TcpStream, site: &Site) {
    if site.config().tls.is_none() {
        let _ = stream.try_write(BUSY);
    }
}

/// Serves one connection until it ends, errs or stalls.
async fn serve(stream: TcpStream, site: Arc<Site>) {
    let _ = stream.set_nodelay(true);
    let _ = socket2::SockRef::from(&stream).set_send_buffer_size(SEND_BUFFER);
    let config = site.config();
    let activity = Activity::default();
    let stream = Tracked {
        inner: stream,
        activity: activity.clone(),
    };
    let Some(tls) = config.tls.clone() else {
        return http(stream, site, config, activity).await;
    };
    let handshake = TlsAcceptor::from(tls).accept(stream);
    // A client that speaks plain HTTP to a TLS server fails here: closed.
    if let Ok(Ok(stream)) = tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake).await {
        http(stream, site, config, activity).await;
    }
}

/// HTTP/1.1 on `io`, within the limits.
async fn http<S>(io: S, site: Arc<Site>, config: super::WebConfig, activity: Activity)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let config = Arc::new(config);
    let service = service_fn(move |request| {
        let (site, config) = (site.clone(), config.clone());
        async move { Ok::<_, std::convert::Infallible>(site.answer(request, &config).await) }
    });
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(HEAD_TIMEOUT)
        .max_buf_size(MAX_HEAD_BYTES)
        .max_headers(MAX_HEADERS);
    let connection = builder.serve_connection(TokioIo::new(io), service);
    tokio::select! {
        _ = connection => {}
        () = activity.idle(IDLE_TIMEOUT) => {}
    }
}

/// When a connection last read or wrote something.
#[derive(Debug, Clone)]
struct Activity {
    start: Instant,
    last_ms: Arc<AtomicU64>,
}

impl Default for Activity {
    fn default() -> Self {
        Activity {
            start: Instant::now(),
            last_ms: Arc::new(AtomicU64::new(0)),
        }
    }
}

impl Activity {
    fn touch(&self) {
        let ms = self.start.elapsed().as_millis() as u64;
        self.last_ms.store(ms, Ordering::Relaxed);
    }

    /// Returns once nothing moved for `limit`.
    async fn idle(&self, limit: Duration) {
        loop {
            let last = Duration::from_millis(self.last_ms.load(Ordering::Relaxed));
            let deadline = self.start + last + limit;
            if Instant::now() >= deadline {
                return;
            }
            tokio::time::sleep_until(deadline.into()).await;
        }
    }
}

/// A stream that notes its activity.
struct Tracked<S> {
    inner: S,
    activity: Activity,
}

impl<S: AsyncRead + Unpin> AsyncRead for Tracked<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.touch();
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Tracked<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = &polled {
            if *n > 0 {
                self.activity.touch();
            }
        }
        polled
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
