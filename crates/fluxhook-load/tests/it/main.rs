//! The harness itself, end to end: the built binary starts real servers on
//! 127.0.0.1:0 (and a real redis-server), drives short bounded runs and its
//! JSON report must count right. Bounded by request counts, so they finish
//! in a few seconds; durations are generous caps, never asserted.

// Helpers outside `#[test]` functions fail the test they serve, like the
// tests themselves.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod compare;
mod handoff;
mod memory;
mod soak;

use std::process::{Command, Output};

use serde_json::Value;

/// Runs `fluxhook-load ARGS`; returns the exit code and the JSON report.
pub(crate) fn run_json(args: &[&str]) -> (Option<i32>, Value) {
    let out = run(args);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let report = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "no JSON report ({e}); stdout: {stdout}\nstderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code(), report)
}

pub(crate) fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_fluxhook-load"))
        .args(args)
        .env_remove("FLUXBASE_WEBHOOK_SECRET")
        .output()
        .unwrap()
}

#[test]
fn serve_binds_loopback_only() {
    let out = run(&["serve", "--mode", "plain", "--addr", "0.0.0.0:0"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("not a loopback address"), "{stderr}");
}

#[test]
fn a_verified_server_needs_a_real_secret() {
    // No secret at all: no default one is used.
    let out = run(&["serve", "--mode", "verified"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("needs --secret"), "{stderr}");
    // An empty one is refused by the library.
    let out = run(&["serve", "--mode", "verified", "--secret", ""]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("secret is empty"), "{stderr}");
    // The client side refuses an empty FLUXBASE_WEBHOOK_SECRET too.
    let out = Command::new(env!("CARGO_BIN_EXE_fluxhook-load"))
        .args(["compare", "--requests", "1"])
        .env("FLUXBASE_WEBHOOK_SECRET", "")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("FLUXBASE_WEBHOOK_SECRET is empty"),
        "{stderr}"
    );
}
