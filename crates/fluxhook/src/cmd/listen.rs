//! `fluxhook listen`, and the in-process receiver it runs on
//! ([`LocalListener::start`], [`LocalListener::forward`]), which other
//! commands (such as a demo) reuse.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::routing::{post, post_service};
use axum::{Extension, Router};
use fluxbase_webhooks::dedupe::{Dedupe, DedupeStatus, MemoryStore, RedisStore};
use fluxbase_webhooks::queue::{DEFAULT_MAX_LEN, EntryId, Handoff, QueuedDelivery, StreamWriter};
use fluxbase_webhooks::server::{
    DEFAULT_HEADER_READ_TIMEOUT, DEFAULT_MAX_CONNECTIONS, DEFAULT_WRITE_TIMEOUT,
};
use fluxbase_webhooks::tower::VerifyLayer;
use fluxbase_webhooks::{Code, Event, ReceiverBuilder, Rejection, Timestamp, Verified};
use serde::Serialize;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::cli::{DedupeArg, ListenArgs};
use crate::cmd::queue_failure::report;
use crate::cmd::secret;
use crate::cmd::stream_url::StreamUrl;
use crate::output::{errln, outln};

/// Deliveries waiting to be taken from a [`LocalListener`] before the
/// server holds back the sender (backpressure rather than unbounded memory).
const QUEUE: usize = 256;

/// What the listener saw: a verified event, a delivery handed to a stream,
/// or a refused request.
#[derive(Debug)]
pub(crate) enum Delivery {
    /// A delivery whose signature matched and whose body is a Fluxbase
    /// payload.
    Verified(Received),
    /// A delivery appended to the Redis Stream (`--forward`) and answered 202.
    Queued(Queued),
    /// A request that was answered with an error.
    Refused(Refusal),
}

/// A delivery the handoff appended to the stream: its entry id and what
/// was appended (everything printed is read from it by the printer, off
/// the request's path).
#[derive(Debug)]
pub(crate) struct Queued {
    pub(crate) id: EntryId,
    pub(crate) record: QueuedDelivery,
}

/// A verified delivery.
#[derive(Debug)]
pub(crate) struct Received {
    pub(crate) event: Event,
    pub(crate) verified: Verified,
    pub(crate) received_at: Timestamp,
    /// A re-delivery of an event already received (a retry, re-dated).
    pub(crate) duplicate: bool,
}

/// A refused request: its stable code and the message it was answered with.
#[derive(Debug)]
pub(crate) struct Refusal {
    pub(crate) code: Code,
    pub(crate) message: String,
}

/// The connection limits of a [`LocalListener`]'s server.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ConnectionLimits {
    /// How long a request head may take, and a kept-alive connection may
    /// stay idle, before the connection is closed.
    pub(crate) header_timeout: Duration,
    /// How long an answer may wait for the peer to read any of it.
    pub(crate) write_timeout: Duration,
    /// The most connections open at once.
    pub(crate) max_connections: usize,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            header_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            write_timeout: DEFAULT_WRITE_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
        }
    }
}

/// A webhook receiver running in-process: an axum route behind
/// [`VerifyLayer`] with the library's [`Receiver`](fluxbase_webhooks::Receiver)
/// (refusals get the `application/problem+json` answer), served by
/// `fluxbase_webhooks::axum::serve` (header and idle timeouts, a bound on
/// connections). Every outcome is handed to [`LocalListener::next`].
///
/// ```ignore
/// let receiver = Receiver::builder(Verifier::new(secret)?);
/// let mut listener =
///     LocalListener::start("127.0.0.1:0".parse()?, "/webhooks", receiver, ConnectionLimits::default()).await?;
/// println!("POST deliveries to {}", listener.url());
/// while let Some(Delivery::Verified(r)) = listener.next().await { /* ... */ }
/// listener.shutdown().await;
/// ```
pub(crate) struct LocalListener {
    addr: SocketAddr,
    path: String,
    deliveries: mpsc::Receiver<Delivery>,
    stop: Option<oneshot::Sender<()>>,
    server: JoinHandle<std::io::Result<()>>,
}

impl LocalListener {
    /// Binds `addr` (port 0 picks a free one) and serves `path` with the
    /// receiver `receiver` builds until [`LocalListener::shutdown`] or drop.
    ///
    /// # Errors
    ///
    /// When the address cannot be bound.
    pub(crate) async fn start(
        addr: SocketAddr,
        path: &str,
        receiver: ReceiverBuilder,
        limits: ConnectionLimits,
    ) -> std::io::Result<Self> {
        let (tx, deliveries) = mpsc::channel(QUEUE);
        let receiver = notify_refusals(receiver, &tx).build();
        // The layer on the POST route alone: another method gets 405, not
        // a refusal for its missing signature.
        let app = Router::new()
            .route(path, post(receive).route_layer(VerifyLayer::new(receiver)))
            .with_state(tx);
        Self::serve(addr, path, app, deliveries, limits).await
    }

    /// Like [`LocalListener::start`], but each accepted delivery is appended
    /// to a Redis Stream by the library's [`Handoff`] (answered 202 once it
    /// is there, 503 while Redis cannot take it) and reported as
    /// [`Delivery::Queued`].
    ///
    /// # Errors
    ///
    /// When the address cannot be bound.
    pub(crate) async fn forward(
        addr: SocketAddr,
        path: &str,
        receiver: ReceiverBuilder,
        writer: StreamWriter,
        limits: ConnectionLimits,
    ) -> std::io::Result<Self> {
        let (tx, deliveries) = mpsc::channel(QUEUE);
        let receiver = notify_refusals(receiver, &tx).build();
        let handoff = Handoff::new(receiver, writer).on_queued(move |id, record| {
            // Never block the answer on a slow reader: a full queue drops
            // the notice, not the delivery.
            let _ = tx.try_send(Delivery::Queued(Queued {
                id: *id,
                record: record.clone(),
            }));
        });
        let app = Router::new().route(path, post_service(handoff));
        Self::serve(addr, path, app, deliveries, limits).await
    }

    async fn serve(
        addr: SocketAddr,
        path: &str,
        app: Router,
        deliveries: mpsc::Receiver<Delivery>,
        limits: ConnectionLimits,
    ) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = oneshot::channel::<()>();
        let server = fluxbase_webhooks::axum::serve(listener, app)
            .header_read_timeout(limits.header_timeout)
            .write_timeout(limits.write_timeout)
            .max_connections(limits.max_connections)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            });
        let server = tokio::spawn(server.into_future());
        Ok(Self {
            addr,
            path: path.to_owned(),
            deliveries,
            stop: Some(stop),
            server,
        })
    }

    /// The bound address.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The URL to POST deliveries to.
    pub(crate) fn url(&self) -> String {
        format!("http://{}{}", self.addr(), self.path)
    }

    /// The next delivery; `None` once the server has stopped.
    pub(crate) async fn next(&mut self) -> Option<Delivery> {
        self.deliveries.recv().await
    }

    /// Stops accepting connections and waits for the server to finish the
    /// requests in flight.
    pub(crate) async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        // Requests in flight may wait on a full queue: drain it meanwhile.
        self.deliveries.close();
        while self.deliveries.recv().await.is_some() {}
        let _ = (&mut self.server).await;
    }
}

impl Drop for LocalListener {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// Reports every refusal to the listener's reader.
fn notify_refusals(receiver: ReceiverBuilder, tx: &mpsc::Sender<Delivery>) -> ReceiverBuilder {
    let refusals = tx.clone();
    receiver.on_reject(move |err| {
        // Never block the answer on a slow reader: a full queue drops the
        // notice, not the answer.
        // Why the replay store failed (down, or full) is the operator's to
        // know: it goes to the terminal, never to the sender.
        let message = match (err.code(), std::error::Error::source(err)) {
            (Code::StoreUnavailable, Some(cause)) => format!("{err}: {cause}"),
            _ => err.to_string(),
        };
        let _ = refusals.try_send(Delivery::Refused(Refusal {
            code: err.code(),
            message,
        }));
        Rejection::problem(err)
    })
}

async fn receive(
    State(tx): State<mpsc::Sender<Delivery>>,
    Extension(event): Extension<Event>,
    Extension(verified): Extension<Verified>,
    dedupe: Option<Extension<DedupeStatus>>,
) -> ([(axum::http::HeaderName, &'static str); 1], String) {
    let answer = serde_json::json!({ "received": event.name() }).to_string();
    let received = Received {
        event,
        verified,
        received_at: Timestamp::now(),
        duplicate: dedupe.is_some_and(|Extension(status)| status.is_duplicate()),
    };
    // A receiver that is gone is shutting down; the sender still gets 200.
    let _ = tx.send(Delivery::Verified(received)).await;
    ([(CONTENT_TYPE, "application/json")], answer)
}

pub(crate) fn run(args: ListenArgs) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(listen(args))
}

async fn listen(args: ListenArgs) -> anyhow::Result<ExitCode> {
    let verifier = secret::build(secret::keyring(&args.secrets).legacy_header(args.legacy_header))?;
    let receiver = fluxbase_webhooks::Receiver::builder(verifier)
        .body_limit(args.body_limit)
        .body_budget(args.body_budget)
        .read_timeout(args.read_timeout);
    let receiver = match &args.dedupe {
        DedupeArg::Memory => {
            let capacity = usize::try_from(args.dedupe_capacity).unwrap_or(usize::MAX);
            receiver.dedupe(Dedupe::new(MemoryStore::new(capacity)))
        }
        DedupeArg::Off => receiver.without_dedupe(),
        DedupeArg::Redis(url) => {
            let store = RedisStore::connect(url.as_str())
                .await
                .with_context(|| format!("cannot connect to Redis at {}", redacted(url)))?;
            receiver.dedupe(Dedupe::new(store))
        }
    };
    let limits = ConnectionLimits {
        header_timeout: args.header_timeout,
        write_timeout: args.write_timeout,
        max_connections: usize::try_from(args.max_connections).unwrap_or(usize::MAX),
    };
    let started = match &args.forward {
        None => LocalListener::start(args.addr, &args.path, receiver, limits).await,
        Some(url) => {
            let writer = connect_stream(url, args.max_len).await?;
            LocalListener::forward(args.addr, &args.path, receiver, writer, limits).await
        }
    };
    let mut listener = started.with_context(|| format!("cannot listen on {}", args.addr))?;
    errln!("listening on {}", listener.url());
    if let Some(url) = &args.forward {
        errln!("forwarding to {url}");
    }
    loop {
        tokio::select! {
            delivery = listener.next() => match delivery {
                Some(Delivery::Verified(received)) => print_event(&received, args.json)?,
                Some(Delivery::Queued(queued)) => print_queued(&queued, args.json)?,
                Some(Delivery::Refused(refusal)) => errln!(
                    "refused {} {}: {}",
                    refusal.code.http_status(),
                    refusal.code,
                    refusal.message
                ),
                None => break,
            },
            _ = tokio::signal::ctrl_c() => break,
        }
    }
    listener.shutdown().await;
    Ok(ExitCode::SUCCESS)
}

/// The writer `--forward` appends with; Redis must answer now.
async fn connect_stream(url: &StreamUrl, max_len: Option<u64>) -> anyhow::Result<StreamWriter> {
    let max_len = max_len.map_or(DEFAULT_MAX_LEN, |n| {
        usize::try_from(n).unwrap_or(usize::MAX)
    });
    StreamWriter::builder(url.redis_url())
        .stream(url.stream())
        .max_len(max_len)
        .connect()
        .await
        // The report names no password: the client's messages never repeat the URL.
        .map_err(|e| anyhow::anyhow!("cannot forward to {url}: {}", report(&e)))
}

/// A Redis URL without its password, to show in messages.
fn redacted(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        Ok(parsed) => parsed.to_string(),
        Err(_) => "the given URL".to_owned(),
    }
}

/// The `--json` line for one event.
#[derive(Serialize)]
struct EventLine<'a> {
    received_at: String,
    scheme: &'static str,
    timestamp: Option<i64>,
    key: usize,
    key_id: Option<&'a str>,
    body_len: u64,
    duplicate: bool,
    event: &'a Event,
}

fn print_event(received: &Received, json: bool) -> anyhow::Result<()> {
    let Received {
        event,
        verified,
        received_at,
        duplicate,
    } = received;
    if json {
        let line = EventLine {
            received_at: received_at.to_string(),
            scheme: verified.scheme().as_str(),
            timestamp: verified.timestamp(),
            key: verified.key_index(),
            key_id: verified.key_id(),
            body_len: verified.body_len(),
            duplicate: *duplicate,
            event,
        };
        outln!("{}", serde_json::to_string(&line)?)?;
    } else {
        // One write: the block is never cut between its lines.
        outln!(
            "{}\n{}\n",
            describe(received),
            serde_json::to_string_pretty(event)?
        )?;
    }
    Ok(())
}

/// The `--json` line for one delivery handed to the stream.
#[derive(Serialize)]
struct QueuedLine<'a> {
    id: String,
    event: Option<&'a str>,
    table: Option<String>,
    duplicate: bool,
    scheme: &'static str,
    received_at: String,
    body_len: u64,
}

fn print_queued(queued: &Queued, json: bool) -> anyhow::Result<()> {
    // The event, when the body reads as one (a Fluxbase payload that is not
    // an `Event` is queued all the same).
    let event = Event::from_slice(queued.record.body()).ok();
    if json {
        let line = QueuedLine {
            id: queued.id.to_string(),
            event: event.as_ref().map(Event::name),
            table: event
                .as_ref()
                .and_then(Event::row)
                .map(|row| row.qualified_table()),
            duplicate: queued.record.is_duplicate(),
            scheme: queued.record.scheme().as_str(),
            received_at: Timestamp::from(queued.record.received_at()).to_string(),
            body_len: queued.record.body().len() as u64,
        };
        outln!("{}", serde_json::to_string(&line)?)?;
    } else {
        outln!("{}", describe_queued(queued, event.as_ref()))?;
    }
    Ok(())
}

/// The readable line of a delivery handed to the stream.
fn describe_queued(queued: &Queued, event: Option<&Event>) -> String {
    let what = match event {
        Some(event) => match event.row() {
            Some(row) => format!("{} {}", event.name(), row.qualified_table()),
            None => event.name().to_owned(),
        },
        None => "a delivery".to_owned(),
    };
    let record = &queued.record;
    let duplicate = if record.is_duplicate() {
        " (duplicate)"
    } else {
        ""
    };
    format!(
        "=== queued {what} as {}{duplicate} at {}: {} signature, {} bytes",
        queued.id,
        Timestamp::from(record.received_at()),
        record.scheme().as_str(),
        record.body().len()
    )
}

/// The header line of a readable block.
fn describe(received: &Received) -> String {
    let Received {
        event,
        verified,
        received_at,
        duplicate,
    } = received;
    let what = match event.row() {
        Some(row) => format!("{} {}", event.name(), row.qualified_table()),
        None => event.name().to_owned(),
    };
    let duplicate = if *duplicate { " (duplicate)" } else { "" };
    let key = match verified.key_id() {
        Some(id) => format!("key {id}"),
        None => format!("key {}", verified.key_index()),
    };
    let t = verified
        .timestamp()
        .map_or_else(String::new, |t| format!(", t={t}"));
    format!(
        "=== {what}{duplicate} at {received_at}: {} signature, {key}, {} bytes{t}",
        verified.scheme(),
        verified.body_len()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use fluxbase_webhooks::{Scheme, Signer, Verifier};

    async fn post(url: &str, body: &[u8], header: &str) -> (u16, String) {
        let response = reqwest::Client::new()
            .post(url)
            .header("x-fluxbase-signature", header)
            .body(body.to_vec())
            .send()
            .await
            .unwrap();
        (response.status().as_u16(), response.text().await.unwrap())
    }

    #[tokio::test]
    async fn listener_reports_what_it_verified_and_refused() {
        let receiver = fluxbase_webhooks::Receiver::builder(Verifier::new("s").unwrap());
        let addr = "127.0.0.1:0".parse().unwrap();
        let mut listener =
            LocalListener::start(addr, "/hooks", receiver, ConnectionLimits::default())
                .await
                .unwrap();
        assert_ne!(listener.addr().port(), 0);
        let event = Event::sample("UPDATE", Timestamp::now()).unwrap();
        let body = serde_json::to_vec(&event).unwrap();
        let header = Signer::new("s").unwrap().sign_now(&body).to_string();
        let (status, text) = post(&listener.url(), &body, &header).await;
        assert_eq!((status, text.as_str()), (200, r#"{"received":"UPDATE"}"#));
        match listener.next().await.unwrap() {
            Delivery::Verified(r) => {
                assert_eq!(r.event, event);
                assert_eq!(r.verified.scheme(), Scheme::Timestamped);
                assert_eq!(r.verified.body_len(), body.len() as u64);
                assert!(!r.duplicate);
                assert!(describe(&r).starts_with("=== UPDATE auth.users at "));
            }
            other => panic!("{other:?}"),
        }
        // The same delivery again: a replay, refused by the default store.
        let (status, text) = post(&listener.url(), &body, &header).await;
        assert_eq!(status, 409, "{text}");
        match listener.next().await.unwrap() {
            Delivery::Refused(r) => assert_eq!(r.code, Code::Replayed),
            other => panic!("{other:?}"),
        }
        // A retry of the event, re-dated: accepted, and marked.
        let retry = Event::sample(
            "UPDATE",
            Timestamp::from(std::time::SystemTime::now() - std::time::Duration::from_secs(5)),
        )
        .unwrap();
        let retry_body = serde_json::to_vec(&retry).unwrap();
        let header = Signer::new("s").unwrap().sign_now(&retry_body).to_string();
        let (status, _) = post(&listener.url(), &retry_body, &header).await;
        assert_eq!(status, 200);
        match listener.next().await.unwrap() {
            Delivery::Verified(r) => {
                assert!(r.duplicate);
                assert!(describe(&r).starts_with("=== UPDATE auth.users (duplicate) at "));
            }
            other => panic!("{other:?}"),
        }
        let get = reqwest::get(listener.url()).await.unwrap();
        assert_eq!(get.status().as_u16(), 405, "a GET is no delivery");
        let wrong = Signer::new("other").unwrap().sign_now(&body).to_string();
        let (status, text) = post(&listener.url(), &body, &wrong).await;
        assert_eq!(status, 401);
        assert!(text.contains(r#""code":"signature_mismatch""#), "{text}");
        match listener.next().await.unwrap() {
            Delivery::Refused(r) => assert_eq!(r.code, Code::SignatureMismatch),
            other => panic!("{other:?}"),
        }
        listener.shutdown().await;
    }

    #[test]
    fn a_queued_delivery_is_one_readable_line() {
        let event = Event::sample("INSERT", Timestamp::now()).unwrap();
        let record = |duplicate| {
            QueuedDelivery::builder(vec![b'x'; 120], Scheme::Timestamped)
                .duplicate(duplicate)
                .build()
        };
        let queued = Queued {
            id: EntryId::new(1_700_000_000_000, 0),
            record: record(true),
        };
        let line = describe_queued(&queued, Some(&event));
        assert!(
            line.starts_with("=== queued INSERT auth.users as 1700000000000-0 (duplicate) at "),
            "{line}"
        );
        assert!(
            line.ends_with(": timestamped signature, 120 bytes"),
            "{line}"
        );
        let queued = Queued {
            record: record(false),
            ..queued
        };
        let line = describe_queued(&queued, None);
        assert!(
            line.starts_with("=== queued a delivery as 1700000000000-0 at "),
            "{line}"
        );
    }

    #[test]
    fn redis_passwords_are_not_shown() {
        assert_eq!(
            redacted("redis://user:hunter2@127.0.0.1:6379/0"),
            "redis://user:***@127.0.0.1:6379/0"
        );
        assert_eq!(
            redacted("redis://127.0.0.1:6379/0"),
            "redis://127.0.0.1:6379/0"
        );
        assert_eq!(redacted("redis://:hunter2@[::1"), "the given URL");
    }
}
