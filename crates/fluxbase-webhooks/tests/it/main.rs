//! Integration tests of `fluxbase-webhooks`: the conformance vectors, property
//! tests, the fuzz corpus replay, and (with their features) the framework
//! integrations and the Redis store, against real servers on 127.0.0.1.

// Helpers outside `#[test]` functions fail the test they serve, like the
// tests themselves.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod allocations;
mod fuzz_corpus;
mod props;
mod vectors;

// Each HTTP test runs against the integrations that are built: `tower`
// (`VerifyLayer`, behind hyper and axum routes), `axum` (the extractors and
// the library's server) and `actix` (the extractors and the middleware),
// alone or together.
#[cfg(any(feature = "tower", feature = "actix"))]
mod adversarial;
#[cfg(any(feature = "tower", feature = "actix"))]
mod cases;
#[cfg(any(feature = "tower", feature = "actix"))]
mod dedupe_http;
#[cfg(any(feature = "tower", feature = "actix"))]
mod frameworks;
#[cfg(all(feature = "queue", any(feature = "tower", feature = "actix")))]
mod handoff;
#[cfg(any(feature = "tower", feature = "actix"))]
mod limits;
#[cfg(any(feature = "tower", feature = "actix"))]
mod support;

#[cfg(feature = "redis")]
mod redis;

#[cfg(feature = "queue")]
mod queue;
