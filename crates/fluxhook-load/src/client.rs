//! The load driver: `concurrency` workers, each with its own keep-alive
//! HTTP/1.1 connection (hyper), sending requests a [`Script`] builds and
//! handing each answer back to it. A run stops at a request count or a
//! duration, whichever comes first, and every request has a timeout.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use anyhow::{Context as _, anyhow};
use bytes::Bytes;
use hdrhistogram::Histogram;
use http::header::{CONNECTION, CONTENT_LENGTH, CONTENT_TYPE, HOST, USER_AGENT};
use http::{HeaderValue, Method, Request, StatusCode};
use http_body::{Frame, SizeHint};
use http_body_util::{BodyExt, Empty, Limited};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::sync::Barrier;
use tokio::time::Instant;

use crate::serve::CLASS_HEADER;

/// How long one request may take before it counts as a transport error.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The most of a response body that is read.
const MAX_ANSWER: usize = 64 * 1024;

/// A request body: whole (with `Content-Length`) or in chunks of unknown
/// total length (sent `Transfer-Encoding: chunked`).
#[derive(Debug)]
pub(crate) enum ReqBody {
    /// One buffer, length announced.
    Full(Option<Bytes>),
    /// Several buffers, length not announced.
    Chunks(VecDeque<Bytes>),
}

impl http_body::Body for ReqBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let next = match self.get_mut() {
            Self::Full(body) => body.take(),
            Self::Chunks(chunks) => chunks.pop_front(),
        };
        Poll::Ready(next.map(|b| Ok(Frame::data(b))))
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Self::Full(body) => body.is_none(),
            Self::Chunks(chunks) => chunks.is_empty(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Self::Full(body) => SizeHint::with_exact(body.as_ref().map_or(0, |b| b.len() as u64)),
            Self::Chunks(_) => SizeHint::default(),
        }
    }
}

/// A delivery as the Fluxbase server sends it: `POST /webhooks` with its
/// headers, the signature when given, and the request's class when given.
pub(crate) struct Post<'a> {
    pub(crate) addr: SocketAddr,
    pub(crate) signature: Option<&'a str>,
    /// The legacy `X-Webhook-Signature` (bare hex over the body), which
    /// the server sends beside `X-Fluxbase-Signature`.
    pub(crate) legacy_signature: Option<&'a str>,
    pub(crate) body: ReqBody,
    pub(crate) class: Option<&'static str>,
    /// Ask the server to close the connection after answering.
    pub(crate) close: bool,
}

impl Post<'_> {
    pub(crate) fn build(self) -> anyhow::Result<Request<ReqBody>> {
        let mut req = Request::builder()
            .method(Method::POST)
            .uri("/webhooks")
            .header(HOST, self.addr.to_string())
            .header(CONTENT_TYPE, "application/json")
            .header(USER_AGENT, "Fluxbase-Webhooks/1.0");
        if let ReqBody::Full(Some(body)) = &self.body {
            req = req.header(CONTENT_LENGTH, body.len());
        }
        if let Some(signature) = self.signature {
            req = req.header(
                fluxbase_webhooks::SIGNATURE_HEADER,
                HeaderValue::from_str(signature)?,
            );
        }
        if let Some(legacy) = self.legacy_signature {
            req = req.header(
                fluxbase_webhooks::LEGACY_SIGNATURE_HEADER,
                HeaderValue::from_str(legacy)?,
            );
        }
        if let Some(class) = self.class {
            req = req.header(CLASS_HEADER, class);
        }
        if self.close {
            req = req.header(CONNECTION, "close");
        }
        Ok(req.body(self.body)?)
    }
}

/// A response, read whole (up to [`MAX_ANSWER`] bytes).
#[derive(Debug, Clone)]
pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) body: Bytes,
}

/// What a run sends and how it judges the answers.
pub(crate) trait Script: Send + Sync + 'static {
    /// What `answer` needs to know about a request it gets back.
    type Ticket: Send + 'static;

    /// Builds request number `n` (from 0).
    fn request(&self, n: u64) -> anyhow::Result<(Self::Ticket, Request<ReqBody>)>;

    /// Takes the answer to a request (or the transport error).
    fn answer(&self, ticket: Self::Ticket, answer: Result<&Answer, &anyhow::Error>);
}

/// How much load, for how long.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub(crate) concurrency: usize,
    /// Requests at most.
    pub(crate) requests: u64,
    /// Time at most.
    pub(crate) duration: Duration,
    /// Requests per second across all workers; `None` for as fast as the
    /// connections go (a closed loop).
    pub(crate) rate: Option<f64>,
}

/// What a run measured.
#[derive(Debug, Clone)]
pub(crate) struct RunStats {
    /// Requests answered (any status).
    pub(crate) answered: u64,
    /// Requests that got no answer (connection failed, timed out).
    pub(crate) transport_errors: u64,
    /// From the first request to the last answer.
    pub(crate) elapsed: Duration,
    /// Latency of answered requests, in microseconds.
    pub(crate) latency: Histogram<u64>,
}

impl RunStats {
    pub(crate) fn empty() -> anyhow::Result<Self> {
        Ok(Self {
            answered: 0,
            transport_errors: 0,
            elapsed: Duration::ZERO,
            latency: new_histogram()?,
        })
    }

    /// Answered requests per second.
    pub(crate) fn per_second(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 {
            self.answered as f64 / secs
        } else {
            0.0
        }
    }

    /// Adds another run's figures (for runs made in rounds).
    pub(crate) fn add(&mut self, other: &Self) -> anyhow::Result<()> {
        self.answered += other.answered;
        self.transport_errors += other.transport_errors;
        self.elapsed += other.elapsed;
        self.latency
            .add(&other.latency)
            .map_err(|e| anyhow!("cannot merge latency histograms: {e:?}"))
    }
}

fn new_histogram() -> anyhow::Result<Histogram<u64>> {
    // 1 µs to 60 s, three significant digits.
    Histogram::new_with_bounds(1, 60_000_000, 3).map_err(|e| anyhow!("histogram: {e:?}"))
}

struct Shared {
    next: AtomicU64,
    start: OnceLock<Instant>,
    connected: Barrier,
    go: Barrier,
}

/// Runs `script` against `addr` within `limits`.
pub(crate) async fn drive<S: Script>(
    addr: SocketAddr,
    script: Arc<S>,
    limits: Limits,
) -> anyhow::Result<RunStats> {
    let workers = limits.concurrency.max(1);
    let shared = Arc::new(Shared {
        next: AtomicU64::new(0),
        start: OnceLock::new(),
        connected: Barrier::new(workers + 1),
        go: Barrier::new(workers + 1),
    });
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..workers {
        tasks.spawn(worker(addr, script.clone(), shared.clone(), limits));
    }
    // Every connection is open before the clock starts.
    shared.connected.wait().await;
    let start = *shared.start.get_or_init(Instant::now);
    shared.go.wait().await;
    let mut stats = RunStats::empty()?;
    let mut first_error = None;
    while let Some(done) = tasks.join_next().await {
        match done {
            // A worker's elapsed time is zero; the run's is set below.
            Ok(Ok(w)) => stats.add(&w)?,
            Ok(Err(e)) => {
                first_error.get_or_insert(e);
            }
            Err(e) => {
                first_error.get_or_insert(anyhow!("a load worker failed: {e}"));
            }
        }
    }
    stats.elapsed = start.elapsed();
    match first_error {
        Some(e) => Err(e),
        None => Ok(stats),
    }
}

async fn worker<S: Script>(
    addr: SocketAddr,
    script: Arc<S>,
    shared: Arc<Shared>,
    limits: Limits,
) -> anyhow::Result<RunStats> {
    let mut stats = RunStats::empty()?;
    let connected = connect(addr).await;
    shared.connected.wait().await;
    shared.go.wait().await;
    let mut conn = Some(connected?);
    let start = shared.start.get().copied().unwrap_or_else(Instant::now);
    let deadline = start + limits.duration;
    loop {
        let n = shared.next.fetch_add(1, Ordering::Relaxed);
        if n >= limits.requests || Instant::now() >= deadline {
            break;
        }
        if let Some(rate) = limits.rate.filter(|r| *r > 0.0) {
            let at = start + Duration::from_secs_f64(n as f64 / rate);
            if at >= deadline {
                break;
            }
            tokio::time::sleep_until(at).await;
        }
        let (ticket, request) = match script.request(n) {
            Ok(built) => built,
            Err(e) => return Err(e.context("cannot build a request")),
        };
        let close = request
            .headers()
            .get(CONNECTION)
            .is_some_and(|v| v == "close");
        let sent = Instant::now();
        let result =
            match tokio::time::timeout(REQUEST_TIMEOUT, exchange(addr, &mut conn, request)).await {
                Ok(result) => result,
                Err(_) => Err(anyhow!("no answer within {REQUEST_TIMEOUT:?}")),
            };
        let took = sent.elapsed();
        match &result {
            Ok(answer) => {
                stats.answered += 1;
                let micros = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
                stats.latency.saturating_record(micros.max(1));
                if close {
                    conn = None;
                }
                script.answer(ticket, Ok(answer));
            }
            Err(e) => {
                stats.transport_errors += 1;
                conn = None;
                script.answer(ticket, Err(e));
            }
        }
    }
    Ok(stats)
}

pub(crate) async fn exchange(
    addr: SocketAddr,
    conn: &mut Option<SendRequest<ReqBody>>,
    request: Request<ReqBody>,
) -> anyhow::Result<Answer> {
    let sender = match conn {
        Some(sender) if !sender.is_closed() => sender,
        _ => conn.insert(connect(addr).await?),
    };
    sender.ready().await.context("connection closed")?;
    let response = sender
        .send_request(request)
        .await
        .context("request failed")?;
    read_answer(response).await
}

async fn connect<B>(addr: SocketAddr) -> anyhow::Result<SendRequest<B>>
where
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let stream = tokio::net::TcpStream::connect(addr)
        .await
        .with_context(|| format!("cannot connect to {addr}"))?;
    stream.set_nodelay(true)?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .context("HTTP handshake failed")?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(sender)
}

async fn read_answer(response: http::Response<hyper::body::Incoming>) -> anyhow::Result<Answer> {
    let status = response.status();
    let body = Limited::new(response.into_body(), MAX_ANSWER)
        .collect()
        .await
        .map_err(|e| anyhow!("cannot read the answer: {e}"))?
        .to_bytes();
    Ok(Answer { status, body })
}

/// `GET path` on a fresh connection.
pub(crate) async fn get(addr: SocketAddr, path: &str) -> anyhow::Result<Answer> {
    let mut sender = connect::<Empty<Bytes>>(addr).await?;
    let request = Request::get(path)
        .header(HOST, addr.to_string())
        .body(Empty::new())?;
    sender.ready().await?;
    let response = tokio::time::timeout(REQUEST_TIMEOUT, sender.send_request(request))
        .await
        .map_err(|_| anyhow!("GET {path}: no answer within {REQUEST_TIMEOUT:?}"))??;
    read_answer(response).await
}

/// A multi-threaded runtime for the client side.
pub(crate) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the tokio runtime")
}
