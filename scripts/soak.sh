#!/usr/bin/env bash
# Soak: builds fluxhook-load in release mode and runs a bounded mix (default
# 300 s at 2,000 req/s on 8 connections) of valid deliveries, server-style
# retries, exact replays, forged, missing, malformed and stale signatures,
# oversized bodies (declared and chunked) and unparsable payloads against a
# verified axum server with replay and duplicate detection. Every answer is
# checked (status and code), the server's log is read for WARN/ERROR lines
# from valid traffic, its RSS is sampled every 5 s. Exits 1 on any wrong
# answer, such a log line, or RSS growth after the 60 s warm-up.
#
#   ./scripts/soak.sh                          # in-memory store, 300 s
#   ./scripts/soak.sh --store redis            # starts its own redis-server on loopback
#   ./scripts/soak.sh --duration 600 --json
# Other arguments go to `fluxhook-load soak` (see --help).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/quiet-machine.sh

store=memory
duration=300
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --store) store="$2"; shift 2 ;;
    --store=*) store="${1#--store=}"; shift ;;
    --duration) duration="$2"; shift 2 ;;
    --duration=*) duration="${1#--duration=}"; shift ;;
    *) args+=("$1"); shift ;;
  esac
done

if [ "$store" = redis ] && ! command -v redis-server >/dev/null 2>&1; then
  echo "redis-server is not installed (apt-get install redis-server), or pass --redis-url" >&2
  exit 2
fi

echo "==> cargo build --release -p fluxhook-load"
cargo build --release -p fluxhook-load --quiet
pin_args
wait_for_quiet_machine
echo "==> fluxhook-load soak --store $store --duration $duration"
exec "${harness_prefix[@]}" target/release/fluxhook-load soak --store "$store" \
  --duration "$duration" "${server_flags[@]}" "${args[@]}"
