#![doc = include_str!("../README.md")]
//!
//! ## Features
//!
//! | feature | adds |
//! | --- | --- |
//! | *(none)* | signatures, [`Verifier`], [`Signer`], [`Event`], [`WebhookPayload`], [`problem_json`]: no async runtime, no web framework |
//! | `tower` | `tower::VerifyLayer`: streaming verification in front of any `Service<http::Request<B>>` |
//! | `axum` | `axum` extractors `FluxbaseEvent`, `Webhook<T>`, `Verified<Bytes>` (implies `tower`) |
//! | `actix` | `actix` extractors and the `actix::Verify` middleware for actix-web 4 |
//! | `redis` | [`dedupe::RedisStore`]: replay and duplicate detection shared by a fleet of receivers |
//! | `client` | `client::Client`: the Fluxbase management API (sign-in, webhooks, client keys, invitations) |
//! | `queue` | `queue`: a durable handoff of verified deliveries to a Redis Stream, consumer groups that reclaim crashed work and dead-letter after N failures |
//!
//! Every integration answers refused deliveries the same way (status and
//! `application/problem+json` body of [`problem_json`]), reads the body
//! through the verifier's limit, and records a `fluxbase_webhook` tracing
//! span per delivery.
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "client")]
#[cfg_attr(docsrs, doc(cfg(feature = "client")))]
pub mod client;
pub mod dedupe;
mod error;
mod event;
mod payload;
mod problem;
#[cfg(feature = "queue")]
#[cfg_attr(docsrs, doc(cfg(feature = "queue")))]
pub mod queue;
mod secret;
mod sign;
mod signature;
mod timestamp;
mod verify;

#[cfg(any(feature = "tower", feature = "actix"))]
mod receive;
#[cfg(any(feature = "tower", feature = "actix"))]
mod reject;

#[cfg(any(feature = "axum", feature = "actix"))]
mod extract;

#[cfg(feature = "tower")]
#[cfg_attr(docsrs, doc(cfg(feature = "tower")))]
pub mod tower;

#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub mod axum;

#[cfg(feature = "actix")]
#[cfg_attr(docsrs, doc(cfg(feature = "actix")))]
pub mod actix;

pub use dedupe::{DedupeStore, MemoryStore, StoreError};
pub use error::{Code, Error, Malformed};
pub use event::{
    DOCUMENTED_EVENTS, Event, ROW_EVENTS, RowEvent, TestEvent, UserChange, UserChangeKind,
    UserEvent,
};
pub use payload::{Shape, WebhookPayload};
pub use problem::{PROBLEM_JSON, problem_json};
pub use secret::Secret;
pub use sign::Signer;
pub use signature::{MAX_SIGNATURES, Scheme, Schemes, SignatureHeader, TAG_LEN, Tag};
pub use timestamp::{Timestamp, TimestampError};
pub use verify::{
    DEFAULT_BODY_LIMIT, DEFAULT_MAX_SKEW, DEFAULT_TOLERANCE, Key, LEGACY_SIGNATURE_HEADER,
    SIGNATURE_HEADER, Verification, Verified, Verifier,
};

/// Re-exported so `RowEvent::record_raw` and friends can be named.
pub use serde_json::value::RawValue;

#[cfg(any(feature = "tower", feature = "actix"))]
#[cfg_attr(docsrs, doc(cfg(any(feature = "tower", feature = "actix"))))]
pub use reject::{OnReject, Rejection};

#[cfg(any(feature = "axum", feature = "actix"))]
#[cfg_attr(docsrs, doc(cfg(any(feature = "axum", feature = "actix"))))]
pub use extract::{FluxbaseEvent, Webhook, WebhookRejection};

/// The workspace README's Rust examples, compiled (and the first one run)
/// as doc tests so the README cannot drift from the API.
#[cfg(all(
    doctest,
    feature = "axum",
    feature = "actix",
    feature = "redis",
    feature = "client"
))]
#[doc = include_str!("../../../README.md")]
pub struct WorkspaceReadme;
