#!/usr/bin/env bash
# Installs the Debian 12 packages BeeBeeBrain needs that are missing.
# Idempotent: does nothing (not even apt-get update) when all are present.
#   scripts/install-deps.sh          build, run and test dependencies
#   scripts/install-deps.sh --lint   also clang-format, clang-tidy, cppcheck
#   scripts/install-deps.sh --fuzz   also clang and its libFuzzer/sanitizer runtimes (scripts/fuzz.sh)
set -euo pipefail

packages=(
  build-essential cmake pkg-config
  libnng-dev libprotobuf-c-dev protobuf-c-compiler
  libsqlite3-dev libcurl4-openssl-dev libjansson-dev libmicrohttpd-dev
  libcmocka-dev
  protobuf-compiler python3 python3-protobuf python3-pytest
)
for arg in "$@"; do
  case "$arg" in
    --lint) packages+=(clang-format clang-tidy cppcheck) ;;
    --fuzz) packages+=(clang libclang-rt-14-dev) ;;
    *) echo "usage: scripts/install-deps.sh [--lint] [--fuzz]" >&2; exit 2 ;;
  esac
done

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [[ ${#missing[@]} -eq 0 ]]; then
  exit 0
fi

sudo=()
if [[ $(id -u) -ne 0 ]]; then
  sudo=(sudo)
fi
echo "install-deps: installing ${missing[*]}" >&2
"${sudo[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
