#!/usr/bin/env bash
# Installs the Debian 12 packages BeeBeeBrain needs that are missing, then buf
# (the pinned npm package of tools/buf, through scripts/buf.sh) for the proto
# checks. Idempotent: does nothing (not even apt-get update or npm) when all
# are present, since scripts/test.sh runs it before every test run.
#   scripts/install-deps.sh          build, run and test dependencies
#   scripts/install-deps.sh --lint   also clang-format, clang-tidy, cppcheck
#   scripts/install-deps.sh --fuzz   also clang and its libFuzzer/sanitizer runtimes (scripts/fuzz.sh)
#   scripts/install-deps.sh --bench  also the baselines of scripts/bench.sh: gRPC C++ (bench/grpc_bench.cc),
#                                    Celery and Redis (bench/celery_baseline.py); the project never needs them
#   scripts/install-deps.sh --no-buf without buf (the npm registry), for building and running only
set -euo pipefail

packages=(
  build-essential cmake pkg-config
  libnng-dev libprotobuf-c-dev protobuf-c-compiler
  libsqlite3-dev libcurl4-openssl-dev libjansson-dev libmicrohttpd-dev
  libcmocka-dev
  protobuf-compiler python3 python3-protobuf python3-pytest
  python3-venv python3-pip python3-setuptools python3-wheel
  # promtool, which checks the /metrics text in the tests (Debian ships it
  # only with the server; on a host with systemd its service starts too).
  prometheus
  # PostgreSQL, the second store backend: libpq-dev to build its driver (and
  # pg_config, which names the server's bindir), the server binaries (initdb,
  # postgres) for the throw-away clusters of tests/pg/with_cluster.sh, and
  # psycopg2 for tests/pg. Debian's postgresql package also creates a "main"
  # cluster, whose service starts on a host with systemd; no test uses it.
  postgresql libpq-dev python3-psycopg2
)
# node and npm run buf and the TypeScript client's tests (clients/typescript).
# A node installed otherwise (nodesource, nvm) is used as
# it is: Debian's packages are asked for only when the commands are missing.
command -v node >/dev/null || packages+=(nodejs)
command -v npm >/dev/null || packages+=(npm)
buf=1
for arg in "$@"; do
  case "$arg" in
    --lint) packages+=(clang-format clang-tidy cppcheck) ;;
    --fuzz) packages+=(clang libclang-rt-14-dev) ;;
    # On a host with systemd, redis-server's own service starts too; the
    # benchmark starts its own instance on a free port and never uses it.
    --bench) packages+=(g++ libgrpc++-dev libprotobuf-dev protobuf-compiler-grpc
                        python3-celery python3-redis redis-server) ;;
    --no-buf) buf=0 ;;
    *) echo "usage: scripts/install-deps.sh [--lint] [--fuzz] [--bench] [--no-buf]" >&2; exit 2 ;;
  esac
done

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [[ ${#missing[@]} -gt 0 ]]; then
  sudo=()
  if [[ $(id -u) -ne 0 ]]; then
    sudo=(sudo)
  fi
  echo "install-deps: installing ${missing[*]}" >&2
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi

# buf: `npm ci` of tools/buf when it is missing or its lockfile changed; a
# clear error when the npm registry cannot be reached.
if [[ $buf -eq 1 ]]; then
  "$(dirname "$0")/buf.sh" --version >/dev/null
fi
