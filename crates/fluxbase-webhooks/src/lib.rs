// The README is the crate's page on crates.io and its docs here. Its quick
// starts need the framework features, so as doc tests it is compiled (below)
// only when they are on.
#![cfg_attr(not(doctest), doc = include_str!("../README.md"))]
//!
//! ## Where to start
//!
//! - [`Verifier`] checks a signature header against a body; [`Signer`]
//!   produces one, as a Fluxbase server does.
//! - [`Event`] is the typed delivery; [`WebhookPayload`] borrows from the
//!   body instead of copying it.
//! - [`dedupe`] catches replays and re-deliveries of one event.
//! - With `tower` or `actix`, every integration runs a delivery through one
//!   `Receiver`: the same limits, budget, timeouts, replay checks,
//!   `application/problem+json` refusals, `fluxbase_webhook` tracing span
//!   and metrics.
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "client")]
#[cfg_attr(docsrs, doc(cfg(feature = "client")))]
pub mod client;
mod clock;
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
mod text;
mod timestamp;
mod verify;

#[cfg(feature = "receive")]
mod receive;

#[cfg(any(feature = "axum", feature = "actix"))]
mod extract;

#[cfg(feature = "tower")]
#[cfg_attr(docsrs, doc(cfg(feature = "tower")))]
pub mod tower;

#[cfg(feature = "server")]
#[cfg_attr(docsrs, doc(cfg(feature = "server")))]
pub mod server;

#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub mod axum;

#[cfg(feature = "actix")]
#[cfg_attr(docsrs, doc(cfg(feature = "actix")))]
pub mod actix;

pub use error::{Code, ConfigError, Error, Malformed, PayloadError};
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
    DEFAULT_FUTURE_SKEW, DEFAULT_TOLERANCE, Key, LEGACY_SIGNATURE_HEADER, SIGNATURE_HEADER,
    Verification, Verified, Verifier, VerifierBuilder,
};

// Shared with the `fluxhook` CLI; not part of the supported API.
#[doc(hidden)]
pub use text::truncate_at_char_boundary;

/// Re-exported so `RowEvent::record_raw` and friends can be named.
pub use serde_json::value::RawValue;

#[cfg(feature = "receive")]
#[cfg_attr(docsrs, doc(cfg(any(feature = "tower", feature = "actix"))))]
pub use receive::{
    DEFAULT_BODY_BUDGET, DEFAULT_BODY_LIMIT, DEFAULT_DRAIN_LIMIT, DEFAULT_READ_TIMEOUT,
    DEFAULT_RETRY_AFTER, IntoReceiver, Receiver, ReceiverBuilder, Rejection, metrics,
};

/// The README's quick starts, compiled as doc tests.
#[cfg(all(doctest, feature = "axum", feature = "actix"))]
#[doc = include_str!("../README.md")]
pub struct CrateReadme;

/// The workspace README's Rust examples, compiled (and the first one run)
/// as doc tests so the README cannot drift from the API.
#[cfg(all(
    doctest,
    feature = "axum",
    feature = "actix",
    feature = "redis",
    feature = "client",
    feature = "queue"
))]
#[doc = include_str!("../../../README.md")]
pub struct WorkspaceReadme;
