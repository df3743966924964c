#!/usr/bin/env bash
# Guards wire compatibility: `buf breaking` (rule set WIRE_JSON, buf.yaml)
# compares proto/ as it is in the working tree with proto/ at a base commit and
# fails on any change that breaks a client built from the base: a field's
# number, type or label, a removed field, enum value, message, method or
# service, a renamed JSON name. docs/protocol.md, "Versioning".
#   scripts/proto_breaking.sh              base: see below
#   scripts/proto_breaking.sh REF          base: REF (a commit, branch or tag)
#   BBB_PROTO_BASE=REF scripts/proto_breaking.sh
# Without REF the base is where this branch left main (git merge-base with
# main, else origin/main): the branch's changes as a whole (HEAD while it has
# no commit of its own). On main itself, or on a detached HEAD at main's tip
# (a CI checkout), the base is HEAD~1, the commit before the last one; CI that
# checks a push of several commits passes the previous tip as REF.
set -euo pipefail
cd "$(dirname "$0")/.."

base="${1:-${BBB_PROTO_BASE:-}}"
if [[ -z $base ]]; then
  head=$(git rev-parse HEAD)
  for ref in main origin/main; do
    if git rev-parse --verify --quiet "$ref^{commit}" >/dev/null; then
      mb=$(git merge-base HEAD "$ref" || true)
      if [[ -n $mb && $mb != "$head" ]]; then
        base=$mb
      fi
      break
    fi
  done
  if [[ -z $base ]]; then
    # A branch without commits of its own: its working tree against HEAD.
    # main itself, or a detached HEAD (a CI checkout): the last commit.
    branch=$(git symbolic-ref -q --short HEAD || true)
    if [[ -n $branch && $branch != main ]]; then base=HEAD; else base=HEAD~1; fi
  fi
fi
if ! commit=$(git rev-parse --verify --quiet "$base^{commit}"); then
  echo "proto_breaking: no commit $base in this clone (a shallow clone? git fetch --unshallow)" >&2
  exit 2
fi
if [[ -z $(git ls-tree -d "$commit" proto) ]]; then
  echo "proto_breaking: $base has no proto/: nothing to compare with" >&2
  exit 0
fi
echo "proto_breaking: proto/ against $base ($(git rev-parse --short "$commit"))"
scripts/buf.sh breaking proto --against ".git#ref=$commit,subdir=proto"
echo "proto_breaking: no breaking change"
