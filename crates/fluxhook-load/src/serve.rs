//! `serve`: the server under test.
//!
//! With `--mode handoff` the route is the library's `queue::Handoff` with
//! the same `Receiver`: each accepted delivery is appended to a Redis
//! Stream and answered 202 (no handler of ours runs, so `/stats` stays 0).
//!
//! The verified route is set up as the README recommends and as in
//! `examples/tower-wrap`: the webhook route alone behind `VerifyLayer`, with
//! a `Receiver` around the verifier built from the secret (its replay
//! detection on a `MemoryStore` by default, a `RedisStore`, or off when
//! asked), served by `fluxbase_webhooks::axum::serve` (header and idle
//! timeouts, a bound on connections). The plain route is the very same
//! handler without the layer on the very same server, so the difference
//! between the two is the layer and nothing else. The handler's work is
//! trivial and the same in both modes: take the body, count it, answer 204
//! (or 200 `{"duplicate":true}` for a delivery the layer marked duplicate).

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context, bail};
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, post_service};
use axum::{Extension, Router};
use bytes::Bytes;
use fluxbase_webhooks::dedupe::{
    BoxFuture, Dedupe, DedupeStatus, DedupeStore, Duplicates, MemoryStore, RedisStore, StoreError,
};
use fluxbase_webhooks::queue::{Handoff, StreamWriter};
use fluxbase_webhooks::tower::VerifyLayer;
use fluxbase_webhooks::{Receiver, Verifier};
use serde::{Deserialize, Serialize};
use tracing::Instrument;

use crate::cli::{DedupeArg, DuplicatesArg, LogFormat, Mode, ServeArgs};

/// The header naming the kind of request, read with `--tag-requests`.
pub(crate) const CLASS_HEADER: &str = "x-load-class";

/// The line `serve` prints first on stdout; the address follows it.
pub(crate) const LISTENING: &str = "listening on http://";

/// What the handler saw, served at `GET /stats`.
#[derive(Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct Stats {
    /// Handler calls for new deliveries.
    pub(crate) accepted: u64,
    /// Handler calls for deliveries the layer marked duplicate.
    pub(crate) duplicates: u64,
    /// Body bytes the handler received.
    pub(crate) bytes: u64,
}

#[derive(Default)]
struct Counters {
    accepted: AtomicU64,
    duplicates: AtomicU64,
    bytes: AtomicU64,
}

pub(crate) fn run(args: ServeArgs) -> anyhow::Result<()> {
    if !args.addr.ip().is_loopback() {
        bail!("--addr {} is not a loopback address", args.addr);
    }
    if args.dedupe.is_some() && args.mode == Mode::Plain {
        bail!("--dedupe needs --mode verified or handoff");
    }
    if let Some(url) = &args.redis_url {
        crate::process::ensure_loopback_url(url)?;
    }
    init_logging(&args)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the tokio runtime")?;
    runtime.block_on(serve(args))
}

fn init_logging(args: &ServeArgs) -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_new(&args.log)
        .with_context(|| format!("invalid --log filter {:?}", args.log))?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let done = match args.log_format {
        LogFormat::Text => builder
            .with_ansi(std::io::stderr().is_terminal())
            .try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
    done.map_err(|e| anyhow::anyhow!("cannot set up logging: {e}"))
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let counters = Arc::new(Counters::default());
    let route = match args.mode {
        Mode::Plain => post(deliver),
        Mode::Verified => post(deliver).layer(VerifyLayer::new(receiver(&args).await?)),
        Mode::Handoff => post_service(handoff(&args).await?),
    };
    let limit = usize::try_from(args.limit).unwrap_or(usize::MAX);
    let mut app = Router::new()
        .route("/webhooks", route)
        .route("/stats", get(stats))
        .layer(DefaultBodyLimit::max(limit))
        .with_state(counters);
    if args.tag_requests {
        app = app.layer(axum::middleware::from_fn(tag_request));
    }
    let listener = tokio::net::TcpListener::bind(args.addr)
        .await
        .with_context(|| format!("cannot bind {}", args.addr))?;
    let addr = listener.local_addr()?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{LISTENING}{addr}")?;
    out.flush()?;
    drop(out);
    fluxbase_webhooks::axum::serve(listener, app)
        .await
        .context("server failed")
}

/// The handoff: the receiver of `--mode verified`, appending to the stream.
async fn handoff(args: &ServeArgs) -> anyhow::Result<Handoff> {
    let url = args.redis_url.as_deref().unwrap_or_default();
    let writer = StreamWriter::builder(url)
        .stream(args.stream.as_str())
        .connect()
        .await
        .with_context(|| format!("cannot connect to Redis at {url}"))?;
    Ok(Handoff::new(receiver(args).await?, writer))
}

/// The `Receiver` of `--mode verified` (and of the handoff).
async fn receiver(args: &ServeArgs) -> anyhow::Result<Receiver> {
    let Some(secret) = args.secret.as_deref() else {
        bail!(
            "--mode {} needs --secret or FLUXBASE_WEBHOOK_SECRET",
            args.mode.as_str()
        );
    };
    let mut verifier = Verifier::builder().secret(secret);
    if let Some(secs) = args.tolerance {
        verifier = verifier.tolerance(std::time::Duration::from_secs(secs));
    }
    let receiver = Receiver::builder(verifier.build()?)
        .body_limit(args.limit)
        .body_budget(args.body_budget);
    let store: Arc<dyn DedupeStore> = match args.dedupe.unwrap_or(DedupeArg::Memory) {
        DedupeArg::Off => return Ok(receiver.without_dedupe().build()),
        DedupeArg::Memory => Arc::new(MemoryStore::new(args.store_capacity)),
        DedupeArg::Null => Arc::new(NullStore),
        DedupeArg::Redis => {
            let url = args.redis_url.as_deref().unwrap_or_default();
            let store = RedisStore::builder(url)
                .prefix(args.redis_prefix.as_str())
                .connect()
                .await
                .with_context(|| format!("cannot connect to Redis at {url}"))?;
            Arc::new(store)
        }
    };
    let duplicates = match args.duplicates {
        DuplicatesArg::Mark => Duplicates::Mark,
        DuplicatesArg::Acknowledge => Duplicates::Acknowledge,
        DuplicatesArg::Off => Duplicates::Off,
    };
    let dedupe = Dedupe::shared(store).duplicates(duplicates);
    Ok(receiver.dedupe(dedupe).build())
}

/// `--dedupe null`: a store that keeps nothing, so the dedupe path (the
/// fingerprint, the keys, the calls) runs without a table behind it.
struct NullStore;

impl DedupeStore for NullStore {
    fn insert<'a>(&'a self, _: &'a str, _: Duration) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(std::future::ready(Ok(true)))
    }

    fn remove<'a>(&'a self, _: &'a str) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(std::future::ready(Ok(())))
    }
}

/// The route's handler, the same in both modes.
async fn deliver(
    State(counters): State<Arc<Counters>>,
    delivery: Option<Extension<DedupeStatus>>,
    body: Bytes,
) -> Response {
    counters
        .bytes
        .fetch_add(body.len() as u64, Ordering::Relaxed);
    if delivery.is_some_and(|Extension(d)| d.is_duplicate()) {
        counters.duplicates.fetch_add(1, Ordering::Relaxed);
        return (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            r#"{"duplicate":true}"#,
        )
            .into_response();
    }
    counters.accepted.fetch_add(1, Ordering::Relaxed);
    StatusCode::NO_CONTENT.into_response()
}

async fn stats(State(counters): State<Arc<Counters>>) -> Response {
    let stats = Stats {
        accepted: counters.accepted.load(Ordering::Relaxed),
        duplicates: counters.duplicates.load(Ordering::Relaxed),
        bytes: counters.bytes.load(Ordering::Relaxed),
    };
    match serde_json::to_string(&stats) {
        Ok(json) => ([(header::CONTENT_TYPE, "application/json")], json).into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

/// Runs the request inside a `load{class=..}` span, the parent of the
/// layer's `fluxbase_webhook` span, so every log line names its cause.
async fn tag_request(req: Request, next: Next) -> Response {
    let class = req
        .headers()
        .get(CLASS_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("none");
    let span = tracing::info_span!("load", class = %class);
    next.run(req).instrument(span).await
}
