//! A Fluxbase webhook receiver for JavaScript edge hosts (Cloudflare Workers,
//! Deno, any host with the Fetch API), built for `wasm32-unknown-unknown`.
//!
//! [`Receiver`] holds the whole handler and knows nothing of the host: it
//! takes the signature header, the declared length and the body bytes, and
//! returns a [`Reply`]. The tests run it natively. On
//! `wasm32-unknown-unknown`, `fetch` (a `wasm-bindgen` export) wraps it: it
//! reads a Fetch API `Request` and answers a `Response`, so a Worker's entry
//! point is one line of JavaScript (see this example's README).
//!
//! The verifier's default clock works there: `fluxbase-webhooks` reads the
//! time from JavaScript's `Date.now()` on that target.
//!
//! Replays are refused with the library's in-memory store, one per isolate
//! (a Worker's isolate serves many requests in turn): a captured delivery
//! sent again to the same isolate gets 409 `replayed`, under any of its
//! signatures. An isolate is not the whole Worker, so for a defence across
//! every isolate keep [`replay_key`]
//! in a store the host shares (a Durable Object, say) for as long as
//! [`Receiver::replay_ttl`] says.

use std::future::Future;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use fluxbase_webhooks::dedupe::{
    DEFAULT_MEMORY_CAPACITY, DedupeStore, MemoryStore, StoreError, replay_key,
};
use fluxbase_webhooks::{Error, PROBLEM_JSON, Verifier, problem_json};

/// The largest body accepted, as the library's `Receiver` does by default.
pub const BODY_LIMIT: u64 = 1024 * 1024;

#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
mod wasm;
#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
pub use wasm::fetch;

/// The HTTP answer to one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The status code.
    pub status: u16,
    /// The `Content-Type` of `body`.
    pub content_type: &'static str,
    /// The body.
    pub body: Vec<u8>,
}

impl Reply {
    /// The problem document for a refused delivery, with its status.
    fn refused(err: &Error) -> Self {
        Self {
            status: err.code().http_status(),
            content_type: PROBLEM_JSON,
            body: problem_json(err),
        }
    }

    fn text(status: u16, text: &str) -> Self {
        Self {
            status,
            content_type: "text/plain; charset=utf-8",
            body: text.as_bytes().to_vec(),
        }
    }
}

/// Verifies deliveries with the webhook's secret and refuses replays.
#[derive(Debug, Clone)]
pub struct Receiver {
    verifier: Verifier,
    replays: Arc<MemoryStore>,
}

/// The replay store every receiver of this isolate shares.
fn isolate_store() -> Arc<MemoryStore> {
    static STORE: OnceLock<Arc<MemoryStore>> = OnceLock::new();
    Arc::clone(STORE.get_or_init(|| Arc::new(MemoryStore::new(DEFAULT_MEMORY_CAPACITY))))
}

impl Receiver {
    /// A receiver for the secret the Worker was given (a Worker secret named
    /// `FLUXBASE_WEBHOOK_SECRET`).
    ///
    /// # Errors
    ///
    /// A 500 [`Reply`] when the secret is missing or empty: the Worker is
    /// misconfigured, and Fluxbase should retry once it is fixed.
    pub fn from_secret(secret: Option<String>) -> Result<Self, Reply> {
        Self::with_store(secret, isolate_store())
    }

    /// [`Receiver::from_secret`] with a replay store of its own (the tests
    /// give each receiver one).
    ///
    /// # Errors
    ///
    /// As [`Receiver::from_secret`].
    pub fn with_store(secret: Option<String>, replays: Arc<MemoryStore>) -> Result<Self, Reply> {
        let not_configured = || {
            Reply::text(
                500,
                "the receiver has no FLUXBASE_WEBHOOK_SECRET configured",
            )
        };
        let verifier =
            Verifier::new(secret.ok_or_else(not_configured)?).map_err(|_| not_configured())?;
        Ok(Self { verifier, replays })
    }

    /// How long a delivery's replay key is kept: as long as any delivery
    /// can verify (the verifier's window both ways, and a second).
    pub fn replay_ttl(&self) -> Duration {
        self.verifier.tolerance() + self.verifier.future_skew() + Duration::from_secs(1)
    }

    /// Checks the declared `Content-Length` before the body is read, so an
    /// oversized delivery is refused without buffering it.
    ///
    /// # Errors
    ///
    /// A 413 [`Reply`] when the declared length is over [`BODY_LIMIT`].
    pub fn admit(&self, content_length: Option<&str>) -> Result<(), Reply> {
        let declared = content_length.and_then(|v| v.trim().parse::<u64>().ok());
        match declared {
            Some(len) if len > BODY_LIMIT => Err(too_large()),
            _ => Ok(()),
        }
    }

    /// Verifies the delivery at the current time, refuses it if this
    /// isolate has let it in before, and answers it: 200 with the event's
    /// name, or the problem document of the refusal (413 for a body over
    /// [`BODY_LIMIT`], 409 for a replay, 503 when the store is full of
    /// deliveries that can still verify).
    pub fn handle(&self, signature: Option<&str>, body: &[u8]) -> Reply {
        if body.len() as u64 > BODY_LIMIT {
            return too_large();
        }
        let event = match self.verifier.verify_event(signature.unwrap_or(""), body) {
            Ok(event) => event,
            Err(err) => return Reply::refused(&err),
        };
        // Guarded: kept until it expires, never dropped for room.
        let key = replay_key(body);
        let recorded = self.replays.insert_guarded(&key, self.replay_ttl());
        match ready(recorded) {
            Ok(true) => Reply {
                status: 200,
                content_type: "application/json",
                body: serde_json::json!({ "received": event.name() })
                    .to_string()
                    .into_bytes(),
            },
            Ok(false) => Reply::refused(&Error::Replayed),
            Err(err) => Reply::refused(&Error::StoreUnavailable(err)),
        }
    }
}

/// The answer of a [`MemoryStore`] call: its futures are ready when they
/// are returned, so no executor is needed.
fn ready<T>(future: impl Future<Output = Result<T, StoreError>>) -> Result<T, StoreError> {
    let mut future = std::pin::pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(answer) => answer,
        Poll::Pending => Err(StoreError::msg("the replay store did not answer at once")),
    }
}

fn too_large() -> Reply {
    Reply::refused(&Error::PayloadTooLarge { limit: BODY_LIMIT })
}
