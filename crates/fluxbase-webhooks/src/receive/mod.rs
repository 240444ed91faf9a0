//! [`Receiver`]: the whole receive policy, and the one flow every
//! integration runs a delivery through.
//!
//! A delivery goes through these steps, whatever the framework:
//!
//! 1. **Head.** A `Content-Encoding` other than identity is refused (415),
//!    a declared length over the body limit too (413), then the signature
//!    header is picked and parsed, and a timestamped one dated (401).
//!    Nothing of the body has been read yet.
//! 2. **Budget.** A declared length the receiver's budget of bytes buffered
//!    at once (across all requests) has no room for is answered `503
//!    over_capacity` with `Retry-After`, without being buffered. The budget
//!    then counts the body's bytes as they arrive, not the length promised,
//!    and refuses the same way once it is spent.
//! 3. **Body.** Each chunk is hashed as it arrives; reading stops at the
//!    body limit (413), at the read timeout (408), or when the sender goes
//!    away (400 `body_incomplete`).
//! 4. **Verify.** An untimestamped signature's date at the end of the body
//!    is checked against the window (read, not parsed), then the tags are
//!    compared, the body is parsed once: the event,
//!    the dedupe keys and, for a scheme without a timestamp, its date come
//!    from that one parse.
//! 5. **Dedupe.** A replay is refused (409), a re-delivery marked or
//!    acknowledged.
//! 6. **Hand over** to the handler; when it fails, the event is forgotten so
//!    the sender's retry is handled as new.
//!
//! A refused delivery's remaining body is read and thrown away, up to a
//! bound, so that a sender still writing receives the answer instead of a
//! broken connection; not when the budget is spent (that sender retries
//! anyway, and there is no memory to spare for reading).
//!
//! The tower layer, the actix-web middleware and every extractor only turn
//! their request into this flow's input and its outcome into their
//! response, so every setting here applies to each of them.

// Each integration uses part of the flow: with only some of them enabled,
// the rest is unused.
#![cfg_attr(
    not(all(feature = "axum", feature = "actix")),
    allow(dead_code, unused_imports)
)]

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use tracing::Level;

use crate::dedupe::Dedupe;
use crate::error::Error;
use crate::verify::Verifier;

mod body;
mod flow;
mod head;
pub mod metrics;
mod reject;
mod span;

pub(crate) use self::body::{BodyError, BodySource, Chunks, Reservation};
pub(crate) use self::flow::{Accepted, Extensions, Want};
pub(crate) use self::head::RequestHead;
pub use self::reject::Rejection;
pub(crate) use self::span::refused as record_refusal;

/// Default largest body: 1 MiB.
pub const DEFAULT_BODY_LIMIT: u64 = 1024 * 1024;
/// Default budget of body bytes buffered at once, across all deliveries of
/// one receiver: 64 MiB.
pub const DEFAULT_BODY_BUDGET: u64 = 64 * 1024 * 1024;
/// Default time a body may take to arrive once the head is in: 30 s.
pub const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// Default most bytes of a refused body read and thrown away so the sender
/// receives the answer: 8 MiB.
pub const DEFAULT_DRAIN_LIMIT: u64 = 8 * 1024 * 1024;
/// Default `Retry-After` of the 503 answers: 5 s.
pub const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(5);

type RejectFn = dyn Fn(&Error) -> Rejection + Send + Sync;

/// Receives webhook deliveries: the [`Verifier`] and every rule around it
/// (body limit, read timeout, the budget of bytes buffered at once, replay
/// and duplicate detection, how refusals are answered, tracing and metrics).
///
/// One `Receiver` serves a whole application: clones share everything,
/// including the replay store and the budget. Every integration takes one:
/// `tower::VerifyLayer`, the axum and actix-web extractors (from the router
/// state or `app_data`), and the actix-web `Verify` middleware.
///
/// Built with no option touched, a receiver lets in only genuine, fresh,
/// first-time deliveries: every scheme is dated, replays are refused by a
/// bounded in-memory store, and bodies are bounded one by one and all
/// together.
///
/// ```
/// use std::time::Duration;
/// use fluxbase_webhooks::{Receiver, Verifier};
///
/// let verifier = Verifier::new("whsec-example")?;
/// let receiver = Receiver::builder(verifier)
///     .body_limit(256 * 1024)
///     .body_budget(16 * 1024 * 1024)
///     .read_timeout(Duration::from_secs(10))
///     .build();
/// assert_eq!(receiver.body_limit(), 256 * 1024);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Receiver(Arc<Policy>);

struct Policy {
    verifier: Verifier,
    body_limit: u64,
    read_timeout: Option<Duration>,
    budget: body::Budget,
    drain_limit: u64,
    dedupe: Option<Dedupe>,
    on_reject: Option<Arc<RejectFn>>,
    span_level: Level,
    retry_after: Duration,
}

impl Receiver {
    /// A receiver with the default settings: 1 MiB body limit, 64 MiB body
    /// budget, 30 s read timeout, replays refused and re-deliveries marked
    /// by a bounded in-memory store ([`Dedupe::default`]), problem+json
    /// refusals, DEBUG delivery spans.
    pub fn new(verifier: Verifier) -> Self {
        Self::builder(verifier).build()
    }

    /// A builder starting from the defaults of [`Receiver::new`].
    pub fn builder(verifier: Verifier) -> ReceiverBuilder {
        ReceiverBuilder {
            verifier,
            body_limit: DEFAULT_BODY_LIMIT,
            read_timeout: Some(DEFAULT_READ_TIMEOUT),
            body_budget: DEFAULT_BODY_BUDGET,
            drain_limit: DEFAULT_DRAIN_LIMIT,
            dedupe: Some(Dedupe::default()),
            on_reject: None,
            span_level: Level::DEBUG,
            retry_after: DEFAULT_RETRY_AFTER,
        }
    }

    /// The verifier.
    pub fn verifier(&self) -> &Verifier {
        &self.0.verifier
    }

    /// The largest body accepted, in bytes.
    pub fn body_limit(&self) -> u64 {
        self.0.body_limit
    }

    /// How long a body may take to arrive (`None`: no limit).
    pub fn read_timeout(&self) -> Option<Duration> {
        self.0.read_timeout
    }

    /// The budget of body bytes buffered at once across all deliveries.
    pub fn body_budget(&self) -> u64 {
        self.0.budget.limit()
    }

    /// Body bytes buffered right now, across all deliveries.
    pub fn body_bytes_in_flight(&self) -> u64 {
        self.0.budget.used()
    }

    /// The most bytes of a refused body read and thrown away.
    pub fn drain_limit(&self) -> u64 {
        self.0.drain_limit
    }

    /// The replay and duplicate detection, if any.
    pub fn dedupe(&self) -> Option<&Dedupe> {
        self.0.dedupe.as_ref()
    }

    /// The level of the per-delivery span.
    pub fn span_level(&self) -> Level {
        self.0.span_level
    }

    /// The `Retry-After` of the 503 answers.
    pub fn retry_after(&self) -> Duration {
        self.0.retry_after
    }

    /// The answer to a refused delivery: the hook's, or the problem
    /// document; 503s carry `Retry-After`.
    pub(crate) fn rejection(&self, err: Error) -> Rejection {
        let rejection = match &self.0.on_reject {
            Some(f) => f(&err),
            None => Rejection::problem(&err),
        };
        let rejection = if err.code().is_retryable() && !rejection.has_header("retry-after") {
            rejection.with_header(
                "retry-after",
                self.0.retry_after.as_secs().max(1).to_string(),
            )
        } else {
            rejection
        };
        rejection.with_error(err)
    }
}

impl From<Verifier> for Receiver {
    fn from(verifier: Verifier) -> Self {
        Receiver::new(verifier)
    }
}

impl fmt::Debug for Receiver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p = &self.0;
        f.debug_struct("Receiver")
            .field("verifier", &p.verifier)
            .field("body_limit", &p.body_limit)
            .field("read_timeout", &p.read_timeout)
            .field("body_budget", &p.budget.limit())
            .field("drain_limit", &p.drain_limit)
            .field("dedupe", &p.dedupe)
            .field("on_reject", &p.on_reject.is_some())
            .field("span_level", &p.span_level)
            .field("retry_after", &p.retry_after)
            .finish()
    }
}

/// Builds a [`Receiver`]; every setter has a safe default.
#[must_use]
pub struct ReceiverBuilder {
    verifier: Verifier,
    body_limit: u64,
    read_timeout: Option<Duration>,
    body_budget: u64,
    drain_limit: u64,
    dedupe: Option<Dedupe>,
    on_reject: Option<Arc<RejectFn>>,
    span_level: Level,
    retry_after: Duration,
}

impl ReceiverBuilder {
    /// The largest body accepted, in bytes (default 1 MiB). A declared
    /// `Content-Length` over it is refused before anything is read; a
    /// chunked body is refused the moment it passes it. Either way the
    /// answer is `413 payload_too_large`.
    pub fn body_limit(mut self, bytes: u64) -> Self {
        self.body_limit = bytes;
        self
    }

    /// How long the body may take to arrive once the head is in (default
    /// 30 s); a stalled body is answered `408 body_timeout`. `None` waits
    /// forever, which lets a silent sender hold its connection and its
    /// share of the budget. The timer needs a tokio runtime (axum, actix-web
    /// and hyper servers have one); without one no timeout applies.
    pub fn read_timeout(mut self, timeout: impl Into<Option<Duration>>) -> Self {
        self.read_timeout = timeout.into();
        self
    }

    /// The most body bytes buffered at once across every delivery of this
    /// receiver and its clones (default 64 MiB). A delivery whose body would
    /// pass it is answered `503 over_capacity` with `Retry-After` before its
    /// body is buffered: Fluxbase retries it. This bounds what senders who
    /// know no secret can make the receiver hold while their bodies trickle
    /// in.
    pub fn body_budget(mut self, bytes: u64) -> Self {
        self.body_budget = bytes;
        self
    }

    /// How many bytes of a refused body are read and thrown away (default
    /// 8 MiB), so that a sender still writing receives the answer rather
    /// than a reset connection. Past this, the connection is closed.
    pub fn drain_limit(mut self, bytes: u64) -> Self {
        self.drain_limit = bytes;
        self
    }

    /// Replaces the replay and duplicate detection (default
    /// [`Dedupe::default`]: a bounded in-memory store). Use a Redis store
    /// when several instances receive for one endpoint.
    pub fn dedupe(mut self, dedupe: Dedupe) -> Self {
        self.dedupe = Some(dedupe);
        self
    }

    /// Turns replay and duplicate detection off: an exact replay inside the
    /// time window is then accepted again. Only for a receiver whose
    /// handler is itself idempotent and harmless to repeat.
    pub fn without_dedupe(mut self) -> Self {
        self.dedupe = None;
        self
    }

    /// Answers refused deliveries with what `f` builds instead of the
    /// default problem document. 503 answers get `Retry-After` unless `f`
    /// sets it.
    pub fn on_reject(mut self, f: impl Fn(&Error) -> Rejection + Send + Sync + 'static) -> Self {
        self.on_reject = Some(Arc::new(f));
        self
    }

    /// The level of the `fluxbase_webhook` span opened for each delivery
    /// (default DEBUG). Its fields: `outcome` (a code, `verified` or
    /// `duplicate_acknowledged`), `scheme`, `key_index`, `key_id`,
    /// `body_len` and `duplicate`; the handler runs inside it. A refusal is
    /// also logged at WARN (`body_incomplete` at DEBUG: the sender went
    /// away), whatever this level.
    pub fn span_level(mut self, level: Level) -> Self {
        self.span_level = level;
        self
    }

    /// The `Retry-After` sent with 503 answers (default 5 s; whole seconds,
    /// at least 1).
    pub fn retry_after(mut self, after: Duration) -> Self {
        self.retry_after = after;
        self
    }

    /// The receiver.
    pub fn build(self) -> Receiver {
        Receiver(Arc::new(Policy {
            verifier: self.verifier,
            body_limit: self.body_limit,
            read_timeout: self.read_timeout,
            budget: body::Budget::new(self.body_budget),
            drain_limit: self.drain_limit,
            dedupe: self.dedupe,
            on_reject: self.on_reject,
            span_level: self.span_level,
            retry_after: self.retry_after,
        }))
    }
}

impl fmt::Debug for ReceiverBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReceiverBuilder")
            .field("verifier", &self.verifier)
            .field("body_limit", &self.body_limit)
            .field("body_budget", &self.body_budget)
            .finish_non_exhaustive()
    }
}

/// What a receiver can be made from: a [`Receiver`], or a [`Verifier`]
/// (with the default receive policy). Taken by `VerifyLayer::new` and the
/// actix-web `Verify::new`.
///
/// A `Verifier::new` result is not one: an empty secret must be dealt with
/// first, and the compiler says so.
///
/// ```compile_fail
/// # #[cfg(feature = "tower")] {
/// use fluxbase_webhooks::{Verifier, tower::VerifyLayer};
/// // error: `Result<Verifier, ConfigError>` is neither a webhook `Receiver` nor a `Verifier`
/// let layer = VerifyLayer::new(Verifier::new("whsec-example"));
/// # }
/// # #[cfg(not(feature = "tower"))] compile_error!("needs tower");
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is neither a webhook `Receiver` nor a `Verifier`",
    label = "expected a `Receiver` or a `Verifier` here",
    note = "`Verifier::new(secret)` returns a `Result` (an empty secret is refused): add `?` or handle the error",
    note = "for settings beyond the verifier, build a `Receiver::builder(verifier)...build()`"
)]
pub trait IntoReceiver {
    /// The receiver.
    fn into_receiver(self) -> Receiver;
}

impl IntoReceiver for Receiver {
    fn into_receiver(self) -> Receiver {
        self
    }
}

impl IntoReceiver for Verifier {
    fn into_receiver(self) -> Receiver {
        Receiver::new(self)
    }
}

#[cfg(test)]
mod tests;
