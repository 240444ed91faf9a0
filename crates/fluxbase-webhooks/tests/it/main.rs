//! Integration tests of `fluxbase-webhooks`: the conformance vectors, property
//! tests, the fuzz corpus replay, and (with their features) the framework
//! integrations and the Redis store, against real servers on 127.0.0.1.

// Helpers outside `#[test]` functions fail the test they serve, like the
// tests themselves.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod allocations;
// TEMP mod fuzz_corpus;
mod props;
mod vectors;

#[cfg(all(feature = "axum", feature = "actix"))]
mod adversarial;
#[cfg(all(feature = "axum", feature = "actix"))]
mod cases;
#[cfg(all(feature = "axum", feature = "actix"))]
mod dedupe_http;
#[cfg(all(feature = "axum", feature = "actix"))]
mod frameworks;
#[cfg(all(feature = "axum", feature = "actix", feature = "queue"))]
mod handoff;
#[cfg(all(feature = "axum", feature = "actix"))]
mod limits;
#[cfg(all(feature = "axum", feature = "actix"))]
mod support;

#[cfg(feature = "redis")]
mod redis;

#[cfg(feature = "queue")]
mod queue;
