#!/usr/bin/env bash
# The load harness: builds fluxhook-load in release mode, then
#   1. compare: the same axum route plain, behind VerifyLayer (a Receiver
#      with the library's defaults: replays refused by an in-memory store),
#      and behind VerifyLayer without the replay store (what the store
#      costs), all served by fluxbase_webhooks::axum::serve; signed 1 KiB
#      deliveries, each a new event dated when sent, on 16 keep-alive
#      connections, 3 alternating rounds of
#      at most 10 s (or 1,000,000 requests) per mode: req/s, p50/p99/max
#      latency, server CPU per request and RSS, side by side, with the ratios
#      against the targets (>= 0.90 of the plain req/s, p99 <= 1.3x);
#   2. memory: 64 connections sending bodies of exactly the 1 MiB limit to a
#      verified server (1,024 requests, at most 60 s): peak RSS growth vs
#      64 x 1 MiB + 4 MiB, and RSS after the load.
# Servers bind 127.0.0.1 only. Waits (bounded) for a quiet machine first.
#
#   ./scripts/load.sh            # as above
#   PIN=1 ./scripts/load.sh      # harness on CPU 0, servers on CPU 1 (taskset)
#   ./scripts/load.sh --json     # JSON reports instead of tables
# Extra arguments go to both subcommands (e.g. --json, --server-log warn).
#
# With --handoff first, the durable handoff's throughput instead
# (`fluxhook-load handoff-compare`, with the release `fluxhook` for its
# `fluxhook consume` drain): the same deliveries over HTTP to VerifyLayer
# with a do-nothing handler, to queue::Handoff on a Redis without
# persistence and to one with appendfsync always (16 connections, 3
# rotating rounds of at most 10 s or 200,000 requests each): req/s,
# latency, server and Redis CPU per request; then 50,000 messages out of a
# consumer group by one and by four StreamConsumers, and the whole stream by
# `fluxhook consume --json`: messages/s, consumer and Redis CPU per message.
#
#   ./scripts/load.sh --handoff
#   ./scripts/load.sh --handoff --json
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/quiet-machine.sh

if [ "${1:-}" = --handoff ]; then
  shift
  echo "==> cargo build --release -p fluxhook -p fluxhook-load"
  cargo build --release -p fluxhook -p fluxhook-load --quiet
  pin_args
  wait_for_quiet_machine
  echo "==> fluxhook-load handoff-compare"
  exec "${harness_prefix[@]}" target/release/fluxhook-load handoff-compare \
    --fluxhook target/release/fluxhook "${server_flags[@]}" "$@"
fi

echo "==> cargo build --release -p fluxhook-load"
cargo build --release -p fluxhook-load --quiet
bin=target/release/fluxhook-load
pin_args

status=0
wait_for_quiet_machine
echo "==> fluxhook-load compare"
"${harness_prefix[@]}" "$bin" compare --requests 1000000 --duration 10 --concurrency 16 \
  --rounds 3 --body 1024 "${server_flags[@]}" "$@" || status=$?

wait_for_quiet_machine
echo "==> fluxhook-load memory"
"${harness_prefix[@]}" "$bin" memory --concurrency 64 --limit 1048576 --requests 1024 \
  --duration 60 --pause 3 "${server_flags[@]}" "$@" || status=$?
exit "$status"
