//! `fluxhook listen`, and the in-process receiver it runs on
//! ([`LocalListener::start`]), which other commands (such as a demo) reuse.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::routing::post;
use axum::{Extension, Router};
use fluxbase_webhooks::dedupe::{Dedupe, RedisStore};
use fluxbase_webhooks::server::{DEFAULT_HEADER_READ_TIMEOUT, DEFAULT_MAX_CONNECTIONS};
use fluxbase_webhooks::tower::VerifyLayer;
use fluxbase_webhooks::{Code, Event, ReceiverBuilder, Rejection, Timestamp, Verified};
use serde::Serialize;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::cli::{DedupeArg, ListenArgs};
use crate::cmd::secret;

/// Deliveries waiting to be taken from a [`LocalListener`] before the
/// server holds back the sender (backpressure rather than unbounded memory).
const QUEUE: usize = 256;

/// What the listener saw: a verified event, or a refused request.
#[derive(Debug)]
pub(crate) enum Delivery {
    /// A delivery whose signature matched and whose body is a Fluxbase
    /// payload.
    Verified(Received),
    /// A request that was answered with an error.
    Refused(Refusal),
}

/// A verified delivery.
#[derive(Debug)]
pub(crate) struct Received {
    pub(crate) event: Event,
    pub(crate) verified: Verified,
    pub(crate) received_at: Timestamp,
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
    /// The most connections open at once.
    pub(crate) max_connections: usize,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            header_timeout: DEFAULT_HEADER_READ_TIMEOUT,
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
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let (tx, deliveries) = mpsc::channel(QUEUE);
        let refusals = tx.clone();
        let receiver = receiver
            .on_reject(move |err| {
                // Never block the answer on a slow reader: a full queue
                // drops the notice, not the answer.
                let _ = refusals.try_send(Delivery::Refused(Refusal {
                    code: err.code(),
                    message: err.to_string(),
                }));
                Rejection::problem(err)
            })
            .build();
        let app = Router::new()
            .route(path, post(receive))
            .route_layer(VerifyLayer::new(receiver))
            .with_state(tx);
        let (stop, stopped) = oneshot::channel::<()>();
        let server = fluxbase_webhooks::axum::serve(listener, app)
            .header_read_timeout(limits.header_timeout)
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

async fn receive(
    State(tx): State<mpsc::Sender<Delivery>>,
    Extension(event): Extension<Event>,
    Extension(verified): Extension<Verified>,
) -> ([(axum::http::HeaderName, &'static str); 1], String) {
    let answer = serde_json::json!({ "received": event.name() }).to_string();
    let received = Received {
        event,
        verified,
        received_at: Timestamp::now(),
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
        DedupeArg::Memory => receiver.dedupe(Dedupe::default()),
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
        max_connections: usize::try_from(args.max_connections).unwrap_or(usize::MAX),
    };
    let mut listener = LocalListener::start(args.addr, &args.path, receiver, limits)
        .await
        .with_context(|| format!("cannot listen on {}", args.addr))?;
    eprintln!("listening on {}", listener.url());
    loop {
        tokio::select! {
            delivery = listener.next() => match delivery {
                Some(Delivery::Verified(received)) => print_event(&received, args.json)?,
                Some(Delivery::Refused(refusal)) => eprintln!(
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
    event: &'a Event,
}

fn print_event(received: &Received, json: bool) -> anyhow::Result<()> {
    let Received {
        event,
        verified,
        received_at,
    } = received;
    if json {
        let line = EventLine {
            received_at: received_at.to_string(),
            scheme: verified.scheme().as_str(),
            timestamp: verified.timestamp(),
            key: verified.key_index(),
            key_id: verified.key_id(),
            body_len: verified.body_len(),
            event,
        };
        println!("{}", serde_json::to_string(&line)?);
    } else {
        println!("{}", describe(received));
        println!("{}\n", serde_json::to_string_pretty(event)?);
    }
    Ok(())
}

/// The header line of a readable block.
fn describe(received: &Received) -> String {
    let Received {
        event,
        verified,
        received_at,
    } = received;
    let what = match event.row() {
        Some(row) => format!("{} {}", event.name(), row.qualified_table()),
        None => event.name().to_owned(),
    };
    let key = match verified.key_id() {
        Some(id) => format!("key {id}"),
        None => format!("key {}", verified.key_index()),
    };
    let t = verified
        .timestamp()
        .map_or_else(String::new, |t| format!(", t={t}"));
    format!(
        "=== {what} at {received_at}: {} signature, {key}, {} bytes{t}",
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
