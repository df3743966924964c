#!/usr/bin/env bash
# Builds the server and the benchmarks in build/ and runs them against the
# real server (each starts and stops it itself, in a temp dir):
#   scripts/bench.sh            rpc_bench, then events_bench
#   scripts/bench.sh rpc ARGS   only rpc_bench, with ARGS (e.g. --seconds 1 --durability normal)
#   scripts/bench.sh http       the HTTP face: rpc_bench (its table holds GetTask as a Connect call,
#                               JSON, on 8 keep-alive clients next to GetTask over nng, "vs nng" the
#                               ratio), then http_sse.py (1,000 SSE clients against the server's
#                               memory and threads before they came, delivery latency)
#   scripts/bench.sh events ARGS  only events_bench (e.g. --seconds 2)
#   scripts/bench.sh memory ARGS  only reply_memory_bench (e.g. --clients 8 --workers 8)
#   scripts/bench.sh http-sse ARGS  only bench/http_sse.py: 1,000 SSE clients, the server's memory and
#                                 threads, delivery latency (e.g. --clients 200 --events 50)
# build/ is the same build dir scripts/test.sh and scripts/run.sh use, with
# the same build type (RelWithDebInfo: -O2, NDEBUG), so switching between the
# scripts does not rebuild everything; sanitizers are switched off here,
# because they would make the numbers meaningless.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/install-deps.sh --no-buf
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBBB_SANITIZE=OFF >/dev/null
cmake --build build -j"$(nproc)" --target beebeebrain rpc_bench events_bench runtime_bench reply_memory_bench >&2
case "${1:-all}" in
  rpc) shift; exec build/rpc_bench --server build/beebeebrain "$@" ;;
  http) build/rpc_bench --server build/beebeebrain; echo; exec /usr/bin/python3 bench/http_sse.py --server build/beebeebrain ;;
  events) shift; exec build/events_bench --server build/beebeebrain "$@" ;;
  runtime) shift; exec build/runtime_bench --server build/beebeebrain "$@" ;;
  memory) shift; exec build/reply_memory_bench --server build/beebeebrain "$@" ;;
  http-sse) shift; exec /usr/bin/python3 bench/http_sse.py --server build/beebeebrain "$@" ;;
  all) build/rpc_bench --server build/beebeebrain; echo; exec build/events_bench --server build/beebeebrain ;;
  *) echo "usage: scripts/bench.sh [rpc|http|events|runtime|memory|http-sse|all] [ARGS]" >&2; exit 2 ;;
esac
