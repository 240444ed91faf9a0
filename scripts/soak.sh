#!/usr/bin/env bash
# Soak: builds fluxhook-load in release mode and runs a bounded mix (default
# 300 s at 2,000 req/s on 8 connections) of valid deliveries (timestamped,
# and bare hex dated by the body), server-style retries, replays (exact, and
# under the bare hex tag), forged, missing, malformed and stale signatures
# (a stale t=, and bare hex over a stale body), oversized bodies (declared
# and chunked) and unparsable payloads against a verified axum server with
# replay and duplicate detection. Every answer is
# checked (status and code), the server's log is read for WARN/ERROR lines
# from valid traffic, its RSS is sampled every 5 s. Exits 1 on any wrong
# answer, such a log line, or RSS growth after the 60 s warm-up.
#
#   ./scripts/soak.sh                          # in-memory store, 300 s
#   ./scripts/soak.sh --store redis            # starts its own redis-server on loopback
#   ./scripts/soak.sh --duration 600 --json
# Every argument goes to `fluxhook-load soak` (see --help; --store and
# --duration default to memory and 300).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/quiet-machine.sh

echo "==> cargo build --release -p fluxhook-load"
cargo build --release -p fluxhook-load --quiet
pin_args
wait_for_quiet_machine
echo "==> fluxhook-load soak $*"
exec "${harness_prefix[@]}" target/release/fluxhook-load soak "${server_flags[@]}" "$@"
