//! `fluxhook-load`: a loopback load, memory and soak harness for
//! `VerifyLayer`.
//!
//! - `serve` runs the server under test: one axum route, `POST /webhooks`,
//!   either plain or behind `VerifyLayer` with a `Receiver` built as the
//!   README recommends (replays refused by an in-memory store by default; a
//!   Redis store, or none, when asked), served by
//!   `fluxbase_webhooks::axum::serve`. It prints its address and runs until
//!   killed, in its own process so its memory can be read from
//!   `/proc/<pid>/status`.
//! - `compare` starts a plain and a verified server and drives both with the
//!   same kind of signed 1 KiB deliveries, each a new event dated and signed
//!   when it is sent: requests per second, p50/p99/max latency and server
//!   RSS, side by side.
//! - `memory` sends bodies exactly at the limit, many at once, to a verified
//!   server and compares its peak RSS growth with `concurrency × limit`.
//! - `soak` sends a bounded mix of valid (timestamped and bare hex),
//!   re-delivered, replayed, forged, stale, oversized and unparsable
//!   deliveries, checks every answer, scans the server's log and samples
//!   its RSS.
//! - `handoff-soak` ([`handoff_soak`]) delivers events as Fluxbase does to
//!   `fluxhook listen --forward` while `fluxhook consume --exec` processes
//!   are killed at random and Redis is killed and restarted, and checks
//!   that every acknowledged delivery was processed and every re-delivery
//!   flagged.
//! - `handoff-compare` drives the handoff (`queue::Handoff` on a Redis with
//!   and without its append-only file) and `VerifyLayer` with a do-nothing
//!   handler side by side over HTTP, then drains the stream through
//!   consumer groups: requests and messages per second, and CPU.
//!
//! The client signs with `FLUXBASE_WEBHOOK_SECRET`, or a random secret made
//! for the run, and hands it to the servers it starts; `serve` alone needs
//! one for `--mode verified`. Every server binds 127.0.0.1; every loop stops
//! at a request count and a duration, whichever comes first.
//! `./scripts/load.sh` and `./scripts/soak.sh` run it with the defaults the
//! results were taken with.
//!
//! The binary is a thin `main` around [`main`]; the library also exposes
//! [`handoff_soak`], so the `fluxhook` CLI's own test suite runs the same
//! scenario at a small scale.

use std::process::ExitCode;

mod cli;
mod client;
mod compare;
mod handoff_compare;
pub mod handoff_soak;
mod memory;
mod payload;
mod process;
mod report;
mod serve;
mod soak;

/// Parses the command line, runs the subcommand and gives the exit code
/// (2 with the error on stderr for a usage or setup error).
pub fn main() -> ExitCode {
    let cli = cli::parse();
    match cli::run(cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(cli::EXIT_USAGE)
        }
    }
}
