#!/usr/bin/env bash
# Runs every test of the workspace: formatting, lints, docs, then unit,
# integration and doc tests with every feature. Benchmarks are compiled (by
# clippy --all-targets), not run. Installs redis-server when it is missing:
# the Redis tests start their own server on a free loopback port.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v redis-server >/dev/null 2>&1; then
  echo "==> installing redis-server (the Redis tests start their own instance)"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq redis-server >/dev/null
fi

echo "==> cargo fmt --check"
cargo fmt --all -- --check
echo "==> cargo clippy (all targets, all features)"
cargo clippy --workspace --all-targets --all-features -- -D warnings
echo "==> cargo doc"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --all-features --quiet
echo "==> cargo test (all features)"
cargo test --workspace --all-features
