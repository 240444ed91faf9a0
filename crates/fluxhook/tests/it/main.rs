//! End-to-end tests of the `fluxhook` binary.

// Helpers outside `#[test]` functions fail the test they serve, like the
// tests themselves.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod listen_send;
