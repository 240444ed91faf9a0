//! Integration tests: the management client against the emulator over real
//! HTTP in both flavors, the delivery engine against a real receiving
//! server, and the emulator's answers to bad input.

// Test bodies shared by both flavors are plain async functions, not
// `#[test]`s: a failed step fails the test all the same.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

mod auth;
mod client_errors;
mod client_keys;
mod delivery;
mod invitations;
mod mismatches;
mod parity;
mod validation;
mod webhooks;
mod wire;
