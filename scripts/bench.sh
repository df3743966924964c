#!/usr/bin/env bash
# Builds the server and bench/rpc_bench in build/ and runs the RPC benchmark
# against the real server (rpc_bench starts and stops it itself, in a temp
# dir). Extra arguments go to rpc_bench, e.g.
#   scripts/bench.sh --seconds 1 --durability normal
# build/ is the same build dir scripts/test.sh and scripts/run.sh use, with
# the same build type (RelWithDebInfo: -O2, NDEBUG), so switching between the
# scripts does not rebuild everything; sanitizers are switched off here,
# because they would make the numbers meaningless.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBBB_SANITIZE=OFF >/dev/null
cmake --build build -j"$(nproc)" --target beebeebrain rpc_bench >&2
exec build/rpc_bench --server build/beebeebrain "$@"
