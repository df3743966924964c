#!/usr/bin/env bash
# Runs buf, the Protobuf linter and breaking-change checker, at the version
# pinned by tools/buf/package-lock.json (npm package @bufbuild/buf). Installs
# it first with `npm ci` when tools/buf/node_modules is missing or was made
# from another lockfile; that needs node, npm and the npm registry
# (scripts/install-deps.sh installs node and npm). Arguments go to buf.
#   scripts/buf.sh lint                  (from the repository root: buf.yaml)
set -euo pipefail

dir="$(cd "$(dirname "$0")/../tools/buf" && pwd)"
bin="$dir/node_modules/.bin/buf"
stamp="$dir/node_modules/.bbb-package-lock.json"  # the lockfile node_modules was made from

if [[ ! -x $bin ]] || ! cmp -s "$dir/package-lock.json" "$stamp"; then
  if ! command -v npm >/dev/null; then
    echo "buf.sh: npm is missing: run scripts/install-deps.sh (Debian packages nodejs and npm)" >&2
    exit 1
  fi
  echo "buf.sh: installing buf: npm ci --prefix tools/buf" >&2
  # --ignore-scripts: the package's binary comes from its platform package;
  # its install script only optimises the launch, and nothing else may run.
  if ! npm ci --prefix "$dir" --ignore-scripts --no-audit --no-fund --fetch-retries=1 \
      --fetch-timeout=30000 >&2; then
    echo "buf.sh: npm ci failed: the npm registry ($(npm config get registry 2>/dev/null)) cannot" \
      "be reached, or the download was refused. buf is needed by scripts/lint.sh," \
      "scripts/proto_breaking.sh and tests/integration/test_proto_contract.py." >&2
    exit 1
  fi
  cp "$dir/package-lock.json" "$stamp"
fi
exec "$bin" "$@"
