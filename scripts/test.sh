#!/usr/bin/env bash
# Runs every test of the workspace: formatting, lints, unit, integration and
# doc tests with every feature, and a compile check of the benchmarks.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --all-features -- -D warnings
cargo test --workspace --all-features
