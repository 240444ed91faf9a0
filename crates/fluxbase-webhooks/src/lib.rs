#![doc = include_str!("../README.md")]
//!
//! ## Features
//!
//! | feature | adds |
//! | --- | --- |
//! | *(none)* | signatures, [`Verifier`], [`Signer`], [`Event`], [`WebhookPayload`]: no async runtime, no web framework |
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "client")]
#[cfg_attr(docsrs, doc(cfg(feature = "client")))]
pub mod client;
mod error;
mod event;
mod payload;
mod secret;
mod sign;
mod signature;
mod timestamp;
mod verify;

pub use error::{Code, Error, Malformed};
pub use event::{
    DOCUMENTED_EVENTS, Event, ROW_EVENTS, RowEvent, TestEvent, UserChange, UserChangeKind,
    UserEvent,
};
pub use payload::{Shape, WebhookPayload};
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
