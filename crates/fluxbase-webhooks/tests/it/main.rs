//! Integration tests of `fluxbase-webhooks`, one file per behaviour: the
//! conformance vectors, properties, allocations, the fuzz corpus replay,
//! and (with their features) the receivers over real HTTP on 127.0.0.1
//! (one answer everywhere, replays and duplicates, hostile input, bounded
//! resources, what each integration hands its handler, the durable
//! handoff), the Redis store and Redis Streams against a real redis-server.

// Helpers outside `#[test]` functions fail the test they serve, like the
// tests themselves.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod allocations;
mod conformance_vectors;
mod fuzz_corpus_replay;
mod properties;

// Each HTTP test runs against the integrations that are built: `tower`
// (`VerifyLayer`, behind hyper and axum routes), `axum` (the extractors and
// the library's server) and `actix` (the extractors and the middleware),
// alone or together.
#[cfg(any(feature = "tower", feature = "actix"))]
mod bounded_resources;
#[cfg(all(feature = "queue", any(feature = "tower", feature = "actix")))]
mod durable_handoff;
#[cfg(any(feature = "tower", feature = "actix"))]
mod hostile_input;
#[cfg(any(feature = "tower", feature = "actix"))]
mod one_answer_everywhere;
#[cfg(any(feature = "tower", feature = "actix"))]
mod per_integration;
#[cfg(any(feature = "tower", feature = "actix"))]
mod replays_and_duplicates;
#[cfg(any(feature = "tower", feature = "actix"))]
mod support;

#[cfg(feature = "redis")]
mod redis_store;

#[cfg(feature = "queue")]
mod redis_streams;
