//! Integration tests of the `fluxhook` binary: the real executable, real
//! servers on loopback.

// A failed step fails the test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

mod demo;
mod emulator;
mod manage;
