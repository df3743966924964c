#!/usr/bin/env bash
# Installs what is missing, builds, and starts the server on the embedded
# defaults: database ./beebeebrain.db, RPC tcp://127.0.0.1:7420, events
# tcp://127.0.0.1:7421, HTTP http://127.0.0.1:7422 (curl .../healthz), echo provider. Extra arguments go to `serve`.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/install-deps.sh --no-buf
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" --target beebeebrain
exec build/beebeebrain serve "$@"
