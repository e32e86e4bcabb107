//! What each request gets: `/metrics`, `/status`, `/events`, the status
//! page at `/`, after basic auth when the web configuration has users.

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Empty, Full};
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};

use super::users::Credentials;
use super::{Site, WebConfig};

/// Every answer's body: whole, or a stream of events.
pub type Answer = Response<UnsyncBoxBody<Bytes, Infallible>>;

/// The status page, served as it is from the binary.
const STATUS_PAGE: &str = include_str!("status.html");

/// The page's policy: its one script, allowed by its hash (so that were a
/// name from the network ever to become markup, no handler in it would
/// run), its inline style, requests to this server only, never framed.
fn page_policy() -> &'static str {
    static POLICY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    POLICY.get_or_init(|| {
        use base64::Engine;
        use sha2::{Digest, Sha256};
        let script = STATUS_PAGE
            .split_once("<script>")
            .and_then(|(_, rest)| rest.split_once("</script>"))
            .map_or("", |(script, _)| script);
        let hash = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(script));
        format!(
            "default-src 'none'; script-src 'sha256-{hash}'; style-src 'unsafe-inline'; \
             connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; \
             frame-ancestors 'none'"
        )
    })
}

impl Site {
    /// The answer to `request`.
    pub(super) async fn answer<B>(&self, request: Request<B>, config: &WebConfig) -> Answer {
        if let Some(users) = &config.users {
            let given = request
                .headers()
                .get(header::AUTHORIZATION)
                .and_then(|value| Credentials::parse(value.as_bytes()));
            let allowed = match given {
                None => false,
                Some(credentials) if users.remembered(&credentials) => true,
                Some(credentials) => self.verify(users.clone(), credentials).await,
            };
            if !allowed {
                let mut answer = text(StatusCode::UNAUTHORIZED, "unauthorized\n");
                answer.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Basic realm=\"hb\", charset=\"UTF-8\""),
                );
                return answer;
            }
        }
        let head = request.method() == Method::HEAD;
        if !matches!(*request.method(), Method::GET | Method::HEAD) {
            let mut answer = text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n");
            let allow = HeaderValue::from_static("GET, HEAD");
            answer.headers_mut().insert(header::ALLOW, allow);
            return answer;
        }
        let answer = match request.uri().path() {
            "/metrics" => self.metrics().await,
            "/status" if self.status.is_some() => self.status().await,
            "/events" if self.events.is_some() => self.events(),
            "/" if self.status.is_some() => page(),
            _ => text(StatusCode::NOT_FOUND, "not found\n"),
        };
        match head {
            true => answer.map(|_| empty()),
            false => answer,
        }
    }

    async fn metrics(&self) -> Answer {
        let metrics = self.metrics.clone();
        // One scrape at a time: the loop answers one request for its node
        // table at a time, and encoding blocks while it waits.
        let Ok(_turn) = self.scrape.acquire().await else {
            return text(StatusCode::SERVICE_UNAVAILABLE, "shutting down\n");
        };
        let encoded = tokio::task::spawn_blocking(move || {
            let text = metrics.encode();
            crate::export::release_freed();
            text
        })
        .await;
        match encoded {
            Ok(Ok(text)) => with_type(
                full(Bytes::from(text)),
                prometheus_client::encoding::prometheus_text::CONTENT_TYPE,
            ),
            _ => text(StatusCode::INTERNAL_SERVER_ERROR, "cannot encode metrics\n"),
        }
    }

    async fn status(&self) -> Answer {
        let Some(share) = &self.status else {
            return text(StatusCode::NOT_FOUND, "not found\n");
        };
        match share.get().await {
            Some(pieces) => no_store(with_type(
                Response::new(UnsyncBoxBody::new(Pieces::new(&pieces))),
                "application/json",
            )),
            None => text(
                StatusCode::SERVICE_UNAVAILABLE,
                "status not ready, try again\n",
            ),
        }
    }

    fn events(&self) -> Answer {
        let Some(feed) = &self.events else {
            return text(StatusCode::NOT_FOUND, "not found\n");
        };
        let Ok(slot) = self.streams.clone().try_acquire_owned() else {
            return text(StatusCode::SERVICE_UNAVAILABLE, "too many event streams\n");
        };
        let stream = feed.stream().map_frame(move |frame| {
            // The stream's place is held as long as its body lives.
            let _ = &slot;
            frame
        });
        let mut answer = no_store(with_type(
            Response::new(UnsyncBoxBody::new(stream)),
            "text/event-stream",
        ));
        // A stream that ends (a client dropped for falling behind) ends
        // its connection too: the client reconnects and resyncs.
        let close = HeaderValue::from_static("close");
        answer.headers_mut().insert(header::CONNECTION, close);
        answer
    }

    /// Whether `credentials` are right, by bcrypt on the blocking thread,
    /// one check at a time.
    async fn verify(
        &self,
        users: std::sync::Arc<super::users::Users>,
        credentials: Credentials,
    ) -> bool {
        let Ok(_turn) = self.bcrypt.acquire().await else {
            return false;
        };
        tokio::task::spawn_blocking(move || users.verify(&credentials))
            .await
            .unwrap_or(false)
    }
}

fn page() -> Answer {
    let mut answer = with_type(
        full(Bytes::from_static(STATUS_PAGE.as_bytes())),
        "text/html; charset=utf-8",
    );
    let headers = answer.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(page_policy()),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    answer
}

fn text(status: StatusCode, body: &'static str) -> Answer {
    let mut answer = with_type(
        full(Bytes::from_static(body.as_bytes())),
        "text/plain; charset=utf-8",
    );
    *answer.status_mut() = status;
    answer
}

fn full(bytes: Bytes) -> Answer {
    Response::new(UnsyncBoxBody::new(Full::new(bytes)))
}

fn empty() -> UnsyncBoxBody<Bytes, Infallible> {
    UnsyncBoxBody::new(Empty::new())
}

fn with_type(mut answer: Answer, content_type: &'static str) -> Answer {
    let headers = answer.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    answer
}

fn no_store(mut answer: Answer) -> Answer {
    let value = HeaderValue::from_static("no-store");
    answer.headers_mut().insert(header::CACHE_CONTROL, value);
    answer
}

/// A body sent piece by piece, as a snapshot was made.
struct Pieces {
    left: std::collections::VecDeque<Bytes>,
}

impl Pieces {
    fn new(pieces: &[Bytes]) -> Self {
        Pieces {
            left: pieces.iter().cloned().collect(),
        }
    }
}

impl hyper::body::Body for Pieces {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, Infallible>>> {
        std::task::Poll::Ready(
            self.left
                .pop_front()
                .map(|b| Ok(hyper::body::Frame::data(b))),
        )
    }

    fn is_end_stream(&self) -> bool {
        self.left.is_empty()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        let len: usize = self.left.iter().map(Bytes::len).sum();
        hyper::body::SizeHint::with_exact(len as u64)
    }
}
