//! Verification as a tower middleware: [`VerifyLayer`] wraps any
//! `Service<http::Request<B>>`, including an axum `Router` or a single
//! route.
//!
//! For each request the service
//!
//! 1. refuses a declared `Content-Length` over the body limit (413) before
//!    reading anything, and a missing, malformed, stale or future signature
//!    (401) before reading the body;
//! 2. hashes the body chunk by chunk as it arrives, and stops reading the
//!    moment the limit is passed (413): a chunked upload is never buffered
//!    past the limit;
//! 3. compares the signatures (401 on mismatch) and parses the body into an
//!    [`Event`](crate::Event) (400 `invalid_payload` when it is not a
//!    Fluxbase payload: the signature was fine, the body was not);
//! 4. calls the inner service with the same bytes as body
//!    ([`http_body_util::Full<Bytes>`](http_body_util::Full)) and with
//!    [`Verified`](crate::Verified) and [`Event`](crate::Event) in the
//!    request extensions.
//!
//! Refusals are answered by the service itself, by default with the
//! `application/problem+json` document of [`problem_json`](crate::problem_json);
//! [`VerifyLayer::on_reject`] replaces it. Every delivery runs in a
//! `fluxbase_webhook` tracing span recording the outcome code, scheme, key
//! and body size, never a secret, a signature or the body.
//!
//! ```no_run
//! use axum::{Extension, Router, routing::{get, post}};
//! use fluxbase_webhooks::{Event, Verified, Verifier, tower::VerifyLayer};
//!
//! async fn webhook(Extension(event): Extension<Event>, Extension(v): Extension<Verified>) {
//!     println!("{} (key {:?})", event.name(), v.key_id());
//! }
//!
//! # async fn run() -> std::io::Result<()> {
//! let verifier = Verifier::new(std::env::var("FLUXBASE_WEBHOOK_SECRET").unwrap_or_default());
//! let app = Router::new()
//!     .route("/health", get(|| async { "ok" }))
//!     .route("/webhooks", post(webhook).layer(VerifyLayer::new(verifier)));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
//! axum::serve(listener, app).await
//! # }
//! ```
//!
//! With the `axum` feature, the `axum` extractors behind this
//! layer take what it verified from the extensions instead of verifying
//! again.

mod body;
mod future;
mod layer;
mod service;

pub use self::body::ResponseBody;
pub use self::future::ResponseFuture;
pub use self::layer::VerifyLayer;
pub use self::service::VerifyService;
