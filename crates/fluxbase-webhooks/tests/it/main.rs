//! Integration tests of `fluxbase-webhooks`: the conformance vectors, property
//! tests, and (with their features) the framework integrations.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod fuzz_corpus;
mod props;
#[cfg(feature = "redis")]
mod redis;
mod vectors;
