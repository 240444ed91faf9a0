//! Verification as a tower middleware: [`VerifyLayer`] wraps any
//! `Service<http::Request<B>>`, including an axum `Router` or a single
//! route, and runs every request through a [`Receiver`](crate::Receiver).
//!
//! For each request the service
//!
//! 1. refuses a declared `Content-Length` over the body limit (413), a
//!    compressed body (415), and a missing, malformed, stale or future
//!    signature (401) before reading the body;
//! 2. reserves the body's bytes against the receiver's budget (503 with
//!    `Retry-After` when it is spent), then hashes the body chunk by chunk
//!    as it arrives and stops reading the moment the limit is passed (413);
//! 3. compares the signatures (401 on mismatch), parses the body once into
//!    an [`Event`](crate::Event) (400 `invalid_payload` when it is not a
//!    Fluxbase payload), and dates an untimestamped delivery by its body
//!    (401 when it is stale or has no date);
//! 4. refuses a replay (409) and marks a re-delivered event;
//! 5. calls the inner service with the same bytes as body
//!    ([`http_body_util::Full<Bytes>`](http_body_util::Full)) and with
//!    [`Verified`](crate::Verified), [`Event`](crate::Event) and
//!    [`DedupeStatus`](crate::dedupe::DedupeStatus) in the request
//!    extensions; when it answers with an error status, the event is
//!    forgotten so the sender's retry is handled as new.
//!
//! Refusals are answered by the service itself, by default with the
//! `application/problem+json` document of [`problem_json`](crate::problem_json).
//! Every delivery runs in a `fluxbase_webhook` tracing span recording the
//! outcome code, scheme, key and body size, never a secret, a signature or
//! the body.
//!
//! ```no_run
//! use axum::{Extension, Router, routing::{get, post}};
//! use fluxbase_webhooks::{Event, Verified, Verifier, tower::VerifyLayer};
//!
//! async fn webhook(Extension(event): Extension<Event>, Extension(v): Extension<Verified>) {
//!     println!("{} (key {:?})", event.name(), v.key_id());
//! }
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let verifier = Verifier::new(std::env::var("FLUXBASE_WEBHOOK_SECRET")?)?;
//! let app = Router::new()
//!     .route("/health", get(|| async { "ok" }))
//!     .route("/webhooks", post(webhook).layer(VerifyLayer::new(verifier)));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
//! fluxbase_webhooks::axum::serve(listener, app).await?;
//! # Ok(()) }
//! ```
//!
//! With the `axum` feature, the `axum` extractors behind this layer take
//! what it verified from the extensions instead of verifying again, whatever
//! the router's state.

mod body;
mod layer;
mod service;

pub use self::body::ResponseBody;
pub use self::layer::VerifyLayer;
pub use self::service::{ResponseFuture, VerifyService};

#[cfg(any(feature = "axum", feature = "queue"))]
pub(crate) use self::service::{HttpBody, HttpHead};
