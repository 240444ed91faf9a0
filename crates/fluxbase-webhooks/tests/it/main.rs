//! Integration tests: real servers on 127.0.0.1, real HTTP.

// Helpers outside `#[test]` functions fail the test they serve, like the
// tests themselves.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod cases;
mod frameworks;
mod support;
