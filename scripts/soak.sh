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
#
# With --handoff first, the durable handoff's soak instead
# (`fluxhook-load handoff-soak`, built with the release `fluxhook`): 10,000
# events at 200/s delivered as Fluxbase does (both signature headers, the
# body dated at each attempt, every non-2xx answer retried, 10 % delivered
# again after their 202) to `fluxhook listen --forward`, three
# `fluxhook consume --exec` processes of which one is SIGKILLed every 1-4 s,
# and Redis (append-only file, appendfsync always) SIGKILLed and restarted
# three times. Exits 1 unless every acknowledged delivery was processed and
# every re-delivery flagged duplicate.
#
#   ./scripts/soak.sh --handoff
#   ./scripts/soak.sh --handoff --durability none   # Redis without persistence: shows what is lost
#   ./scripts/soak.sh --handoff --events 30000 --json
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/quiet-machine.sh

if [ "${1:-}" = --handoff ]; then
  shift
  echo "==> cargo build --release -p fluxhook -p fluxhook-load"
  cargo build --release -p fluxhook -p fluxhook-load --quiet
  wait_for_quiet_machine
  echo "==> fluxhook-load handoff-soak $*"
  exec target/release/fluxhook-load handoff-soak --fluxhook target/release/fluxhook "$@"
fi

echo "==> cargo build --release -p fluxhook-load"
cargo build --release -p fluxhook-load --quiet
pin_args
wait_for_quiet_machine
echo "==> fluxhook-load soak $*"
exec "${harness_prefix[@]}" target/release/fluxhook-load soak "${server_flags[@]}" "$@"
