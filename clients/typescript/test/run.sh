#!/usr/bin/env bash
# The TypeScript client's tests, as ctest runs them (integration.typescript):
# installs the packages of package-lock.json (npm ci) when node_modules is
# missing or was installed from another lockfile, generates the stubs and
# compiles (npm run build), then runs test/*.test.ts with Node's test runner
# against the real server ($BEEBEEBRAIN_BIN). Fails, never skips, when node or
# npm is missing: scripts/install-deps.sh installs them.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

for tool in node npm; do
  if ! command -v "$tool" >/dev/null; then
    echo "typescript tests: '$tool' is not on PATH; run scripts/install-deps.sh" >&2
    exit 1
  fi
done
if [[ -z "${BEEBEEBRAIN_BIN:-}" ]]; then
  echo "typescript tests: set BEEBEEBRAIN_BIN to the beebeebrain binary (ctest does this)" >&2
  exit 1
fi

stamp=node_modules/.bbb-package-lock.sha256
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
  # No install scripts: the only one (@bufbuild/buf's) is an optional speed-up.
  npm ci --ignore-scripts --no-audit --no-fund
  echo "$want" >"$stamp"
fi
npm run --silent build

node --test dist/test/*.test.js
