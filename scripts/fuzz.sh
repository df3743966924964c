#!/usr/bin/env bash
# Builds the libFuzzer targets of fuzz/ with clang (ASan + UBSan) in build-fuzz/
# and runs each for a while. Not part of the tests. See docs/fuzzing.md.
#   scripts/fuzz.sh                   every target, 60 s each
#   scripts/fuzz.sh 600               every target, 600 s each
#   scripts/fuzz.sh 600 dispatch ...  only the named targets (fuzz/corpus/<name>)
# Each target runs on build-fuzz/corpus/<name>/: the seeds of fuzz/corpus/<name>/
# copied in, plus what earlier runs found (the repository's corpus is never
# written). Crash inputs go to build-fuzz/artifacts/<name>/, the full output to
# build-fuzz/logs/<name>.log. Prints per target the executions, exec/s, the
# corpus at the end (inputs/bytes) and whether it crashed; exits 1 when any
# target crashed.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-60}
if ! [[ "$seconds" =~ ^[0-9]+$ ]] || [[ "$seconds" -lt 1 ]]; then
  echo "usage: scripts/fuzz.sh [SECONDS] [TARGET...]   (targets: $(ls fuzz/corpus | tr '\n' ' '))" >&2
  exit 2
fi
shift || true
if [[ $# -gt 0 ]]; then
  targets=("${@#fuzz_}")
else
  mapfile -t targets < <(ls fuzz/corpus)
fi
for t in "${targets[@]}"; do
  if [[ ! -d fuzz/corpus/$t ]]; then
    echo "fuzz.sh: no target '$t' (targets: $(ls fuzz/corpus | tr '\n' ' '))" >&2
    exit 2
  fi
done

./scripts/install-deps.sh --fuzz
CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBBB_FUZZ=ON -DBBB_TESTS=OFF >/dev/null
cmake --build build-fuzz -j"$(nproc)" --target "${targets[@]/#/fuzz_}" >/dev/null

# Scratch directories of the targets (fuzz_common.c): on tmpfs, gone at the end
# even when a target crashed before cleaning up.
scratch_base=/dev/shm
[[ -w $scratch_base ]] || scratch_base=${TMPDIR:-/tmp}
scratch=$(mktemp -d "$scratch_base/bbb-fuzz-run.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
export BBB_FUZZ_TMP=$scratch
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

mkdir -p build-fuzz/logs
printf '%-22s %8s %12s %8s %14s  %s\n' target seconds executions exec/s corpus result
crashed=0
for t in "${targets[@]}"; do
  corpus=build-fuzz/corpus/$t artifacts=build-fuzz/artifacts/$t log=build-fuzz/logs/$t.log
  mkdir -p "$corpus" "$artifacts"
  cp fuzz/corpus/"$t"/* "$corpus"/
  rc=0
  ./build-fuzz/fuzz/fuzz_"$t" -max_total_time="$seconds" -timeout=30 -rss_limit_mb=4096 -print_final_stats=1 \
    -artifact_prefix="$artifacts"/ "$corpus" >"$log" 2>&1 || rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  corp=$(grep -aoE 'corp: [0-9]+/[0-9]+[a-zA-Z]*' "$log" | tail -1 | cut -d' ' -f2 || true)
  if [[ $rc -eq 0 ]]; then
    result=ok
  else
    crashed=1
    artifact=$(grep -aoE 'Test unit written to [^ ]+' "$log" | tail -1 | cut -d' ' -f5 || true)
    result="CRASH (exit $rc): ${artifact:-see $log}"
  fi
  printf '%-22s %8s %12s %8s %14s  %s\n' "$t" "$seconds" "${execs:-?}" "${rate:-?}" "${corp:-?}" "$result"
done
if [[ $crashed -ne 0 ]]; then
  echo "fuzz.sh: crash(es) found; reproduce with build-fuzz/fuzz/fuzz_<target> <artifact> (docs/fuzzing.md)" >&2
fi
exit $crashed
