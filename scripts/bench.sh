#!/usr/bin/env bash
# Builds the server and the benchmarks in build/ and runs them against the
# real server (each starts and stops it itself, in a temp dir):
#   scripts/bench.sh [all] [--seconds S]
#                               the performance table (docs/performance.md): rpc_bench,
#                               runtime_bench with durability full and normal, fsync_floor,
#                               grpc_bench and celery_baseline.py (skipped with a note when not
#                               installed: scripts/install-deps.sh --bench), then a summary:
#                               each row's figure, its baseline, the ratio and the goal.
#                               --seconds: the measured time of each timed run (default 3)
#   scripts/bench.sh rpc ARGS   only rpc_bench, with ARGS (e.g. --seconds 1 --durability normal)
#   scripts/bench.sh runtime ARGS  only runtime_bench (e.g. --durability normal --echo-runs 500)
#   scripts/bench.sh fsync ARGS    only fsync_floor: SQLite's durable commits/s on this file system
#   scripts/bench.sh grpc ARGS     only grpc_bench: the gRPC C++ unary baseline (e.g. --api sync)
#   scripts/bench.sh celery ARGS   only bench/celery_baseline.py: Celery + Redis no-op tasks/s
#   scripts/bench.sh threads       only nng_threads: the threads nng starts on its own (the floor
#                                  under the server's thread count)
#   scripts/bench.sh http       the HTTP face: rpc_bench (its table holds GetTask as a Connect call,
#                               JSON, on 8 keep-alive clients next to GetTask over nng, "vs nng" the
#                               ratio), then http_sse.py (1,000 SSE clients against the server's
#                               memory and threads before they came, delivery latency)
#   scripts/bench.sh events ARGS  only events_bench (e.g. --seconds 2)
#   scripts/bench.sh memory ARGS  only reply_memory_bench (e.g. --clients 8 --workers 8)
#   scripts/bench.sh http-sse ARGS  only bench/http_sse.py: 1,000 SSE clients, the server's memory and
#                                 threads, delivery latency (e.g. --clients 200 --events 50)
#   scripts/bench.sh pg [--echo-runs N]  echo runs end to end on one PostgreSQL database with 1, 2 and
#                               3 servers (a throw-away cluster of tests/pg/with_cluster.sh: fsync off),
#                               beside the same runs on SQLite measured just before; then its table:
#                               runs/s, database round trips per run, the ratio to SQLite
# build/ is the same build dir scripts/test.sh and scripts/run.sh use, with
# the same build type (RelWithDebInfo: -O2, NDEBUG), so switching between the
# scripts does not rebuild everything; sanitizers are switched off here,
# because they would make the numbers meaningless.
#
# The RESULT convention. Every benchmark program ends its output with one line
# per figure, on stdout, after its human-readable table:
#     RESULT <key> <value>
# <key> is lower case, dot-separated, <program>.<case>.<metric>, the unit in
# the metric's name (calls_per_s, runs_per_s, commits_per_s, tasks_per_s,
# p50_us, p99_us, rss_peak_kib, threads_peak); <value> is a plain decimal
# number (no thousands separator, no unit). A figure that depends on an option
# (durability, client count) carries it in the key only when one invocation
# prints several of them (rpc.gettask.c8.calls_per_s); the summary knows which
# options it ran a program with. `all` reads these lines, the last one of a
# key wins; a key missing leaves its figure "n/a". The keys the summary reads:
#   rpc_bench      rpc.echo.c8.calls_per_s, rpc.gettask.c8.calls_per_s,
#                  rpc.createtask.c8.calls_per_s, rpc.pipeline.echo.calls_per_s,
#                  rpc.pipeline.gettask.calls_per_s (256 calls in flight on one connection)
#   runtime_bench  runtime.echo.runs_per_s, runtime.echo.transactions_per_run,
#                  (pg) runtime.echo.pg.s{1,2,3}.runs_per_s, runtime.echo.pg.s{1,2,3}.round_trips_per_run,
#                  runtime.echo.fsyncs_per_run, runtime.inflight.threads_before,
#                  runtime.inflight.threads_peak, runtime.inflight.rss_peak_kib
#   fsync_floor    fsync.w1.commits_per_s (fsync.w8.commits_per_s: 8 writers, shown too)
#   (rpc_bench --only createtask.c8 runs twice more, with durability normal and
#   with --fsync-delay-us, and fsync_floor with --fsync-delay-us: the write rows
#   without the disk and on a disk that really flushes)
#   grpc_bench     grpc.c8.calls_per_s
#   celery         celery.tasks_per_s
#   nng_threads    nng.threads
set -euo pipefail
cd "$(dirname "$0")/.."

# The optional baselines are named through $b: a fresh checkout's build has
# no grpc_bench until gRPC is installed (tests check that every build/<name>
# written in a script is a file the build makes).
b=build
skip_grpc="skipped: install with scripts/install-deps.sh --bench"
logs=""

./scripts/install-deps.sh --no-buf
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBBB_SANITIZE=OFF >/dev/null
targets=(beebeebrain rpc_bench events_bench runtime_bench reply_memory_bench fsync_floor nng_threads)
have_grpc=0
# (grep without -q: with pipefail, a grep that stops reading early fails the
# pipeline through the writer's SIGPIPE.)
if cmake --build build --target help 2>/dev/null | grep -w grpc_bench >/dev/null; then
  targets+=(grpc_bench)
  have_grpc=1
fi
cmake --build build -j"$(nproc)" --target "${targets[@]}" >&2

# result LOG KEY: the value of the last `RESULT KEY VALUE` line of LOG, or nothing.
result() {
  awk -v k="$2" '$1 == "RESULT" && $2 == k { v = $3 } END { if (v != "") print v }' "$1"
}

# ratio FIGURE BASELINE: FIGURE / BASELINE to two decimals, or "-".
ratio() {
  if [[ -z "$1" || -z "$2" ]]; then echo "-"; return; fi
  awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2fx", a / b; else print "-" }'
}

# verdict VALUE OP LIMIT: "met" or "not met" (OP is >= or > or <=), "-" without a value.
verdict() {
  local v="${1%x}"
  if [[ -z "$v" || "$v" == "-" ]]; then echo "-"; return; fi
  awk -v v="$v" -v op="$2" -v l="$3" 'BEGIN {
    ok = (op == ">=") ? v >= l : (op == ">") ? v > l : v <= l
    print ok ? "met" : "not met" }'
}

# per_s VALUE: "12345/s" or "n/a".
per_s() { if [[ -n "$1" ]]; then printf "%.0f/s" "$1"; else echo "n/a"; fi; }

# step NAME TITLE CMD...: runs CMD, its output shown and kept in $logs/NAME. A
# benchmark that fails is reported and leaves its row empty; the rest go on.
step() {
  local name="$1" title="$2" rc=0
  shift 2
  echo; echo "== $title"
  "$@" | tee "$logs/$name" || rc=$?
  # 77: skipped (a baseline that is not installed), the reason already printed.
  if [[ $rc -ne 0 && $rc -ne 77 ]]; then
    echo "bench: $name failed (exit status $rc); its row stays empty" >&2
  fi
}

# The slower disk of the second write rows: every fsync 1 ms more, about what
# a SATA SSD without power-loss protection takes to flush its cache.
FSYNC_SLOW_US=1000

row() { printf "%-40s %-14s %-44s %-7s %-22s %s\n" "$@"; }

# The PostgreSQL section: echo runs with durability normal on both engines
# (the cluster runs with fsync off, so neither waits for a disk), SQLite first,
# then 1, 2 and 3 servers on one PostgreSQL database, each the median of 3
# passes on a fresh database. Logs in $logs/pg-sqlite and $logs/pg.
PG_ECHO_RUNS=2000
run_pg_steps() {
  local runs="$1"
  step pg-sqlite "runtime_bench, echo runs on SQLite, durability normal (the PostgreSQL rows' baseline)" \
    build/runtime_bench --server build/beebeebrain --runs 0 --durability normal --echo-runs "$runs"
  echo "(the PostgreSQL cluster below is tests/pg/with_cluster.sh's: fsync, synchronous_commit and" \
    "full_page_writes off, on a Unix socket)"
  step pg "runtime_bench, echo runs on PostgreSQL, 1, 2 and 3 servers on one database" \
    bash tests/pg/with_cluster.sh build/runtime_bench --server build/beebeebrain --runs 0 --durability normal \
    --echo-runs "$runs" --pg "" --servers 1,2,3
}

# pg_rows LOGS: the section's rows of the summary table.
pg_rows() {
  local l="$1" sqlite n rate trips r
  sqlite=$(result "$l/pg-sqlite" runtime.echo.runs_per_s)
  for n in 1 2 3; do
    rate=$(result "$l/pg" "runtime.echo.pg.s$n.runs_per_s")
    trips=$(result "$l/pg" "runtime.echo.pg.s$n.round_trips_per_run")
    [[ -n "$trips" ]] && trips=$(printf "%.1f" "$trips")
    r=$(ratio "$rate" "$sqlite")
    row "echo runs, PostgreSQL, $n server(s)" "$(per_s "$rate")" "SQLite, normal, 1 server: $(per_s "$sqlite")" "$r" \
      "none; ${trips:-?} trips/run" "-"
  done
}

run_pg() {
  local runs=$PG_ECHO_RUNS
  while [[ $# -gt 0 ]]; do
    case "$1" in
      --echo-runs) runs="$2"; shift 2 ;;
      *) echo "usage: scripts/bench.sh pg [--echo-runs N]" >&2; exit 2 ;;
    esac
  done
  logs=$(mktemp -d "${TMPDIR:-/tmp}/bbb-bench-XXXXXX")
  trap 'rm -rf "$logs"' EXIT
  run_pg_steps "$runs"
  echo
  echo "== PostgreSQL: $(nproc) cores, $(date -u '+%Y-%m-%d %H:%M UTC'); CPU-bound here (docs/performance.md)"
  row path figure baseline ratio "goal; round trips" verdict
  pg_rows "$logs"
}

run_all() {
  local seconds=3 slow_us=$FSYNC_SLOW_US
  while [[ $# -gt 0 ]]; do
    case "$1" in
      --seconds) seconds="$2"; shift 2 ;;
      *) echo "usage: scripts/bench.sh all [--seconds S]" >&2; exit 2 ;;
    esac
  done
  logs=$(mktemp -d "${TMPDIR:-/tmp}/bbb-bench-XXXXXX")
  trap 'rm -rf "$logs"' EXIT
  step rpc "rpc_bench (closed loop and pipelined reads, writes)" \
    build/rpc_bench --server build/beebeebrain --seconds "$seconds"
  step runtime-full "runtime_bench, durability full (1,000 calls in flight; echo runs end to end)" \
    build/runtime_bench --server build/beebeebrain --durability full
  # Only the echo runs matter with durability normal: the in-flight part is
  # cut to one run without a delay.
  step runtime-normal "runtime_bench, durability normal (echo runs)" \
    build/runtime_bench --server build/beebeebrain --durability normal --runs 1 --delay-ms 0
  step fsync "fsync_floor (SQLite, one row per fsync'd commit, on the server's file system)" \
    build/fsync_floor --seconds "$seconds"
  # The write rows twice more: with no fsync at all (what the write path
  # costs without the disk) and with every fsync $slow_us us slower (a disk
  # that really flushes its cache), against the floor on that same disk.
  step rpc-normal "rpc_bench CreateTask, durability normal (no fsync)" \
    build/rpc_bench --server build/beebeebrain --seconds "$seconds" --only createtask.c8 --durability normal
  step rpc-slow "rpc_bench CreateTask, every fsync $slow_us us slower" \
    build/rpc_bench --server build/beebeebrain --seconds "$seconds" --only createtask.c8 --fsync-delay-us "$slow_us"
  step fsync-slow "fsync_floor, every fsync $slow_us us slower" \
    build/fsync_floor --seconds "$seconds" --fsync-delay-us "$slow_us"
  if [[ $have_grpc -eq 1 ]]; then
    step grpc "grpc_bench (gRPC C++ unary, GetTask's sizes)" "$b/grpc_bench" --seconds "$seconds"
  else
    echo "grpc_bench: $skip_grpc" | tee "$logs/grpc"
  fi
  step celery "celery_baseline.py (Celery + Redis, no-op tasks)" /usr/bin/python3 bench/celery_baseline.py
  step threads "nng_threads (the threads nng starts on its own)" build/nng_threads
  run_pg_steps "$PG_ECHO_RUNS"
  summary "$logs"
}

summary() {
  local l="$1"
  local echo8 get8 create8 pecho pget grpc8 fsync1 fsync8 celery full normal tpr fpr thr_rest thr_peak rss_kib nng
  echo8=$(result "$l/rpc" rpc.echo.c8.calls_per_s)
  get8=$(result "$l/rpc" rpc.gettask.c8.calls_per_s)
  create8=$(result "$l/rpc" rpc.createtask.c8.calls_per_s)
  pecho=$(result "$l/rpc" rpc.pipeline.echo.calls_per_s)
  pget=$(result "$l/rpc" rpc.pipeline.gettask.calls_per_s)
  grpc8=$(result "$l/grpc" grpc.c8.calls_per_s)
  fsync1=$(result "$l/fsync" fsync.w1.commits_per_s)
  fsync8=$(result "$l/fsync" fsync.w8.commits_per_s)
  celery=$(result "$l/celery" celery.tasks_per_s)
  nng=$(result "$l/threads" nng.threads)
  full=$(result "$l/runtime-full" runtime.echo.runs_per_s)
  normal=$(result "$l/runtime-normal" runtime.echo.runs_per_s)
  tpr=$(result "$l/runtime-full" runtime.echo.transactions_per_run)
  fpr=$(result "$l/runtime-full" runtime.echo.fsyncs_per_run)
  thr_rest=$(result "$l/runtime-full" runtime.inflight.threads_before)
  thr_peak=$(result "$l/runtime-full" runtime.inflight.threads_peak)
  rss_kib=$(result "$l/runtime-full" runtime.inflight.rss_peak_kib)

  local create_normal create_slow fsync_slow
  create_normal=$(result "$l/rpc-normal" rpc.createtask.c8.calls_per_s)
  create_slow=$(result "$l/rpc-slow" rpc.createtask.c8.calls_per_s)
  fsync_slow=$(result "$l/fsync-slow" fsync.w1.commits_per_s)

  local grpc_base celery_base pipe_fig pipe_base r
  grpc_base="gRPC C++ unary, 8 clients: $(per_s "$grpc8")"
  [[ -z "$grpc8" ]] && grpc_base="gRPC skipped: install-deps.sh --bench"
  celery_base="Celery+Redis no-op, 2 workers: $(per_s "$celery")"
  [[ -z "$celery" ]] && celery_base="Celery skipped: install-deps.sh --bench"
  pipe_fig=$(per_s "$pget")
  pipe_base="nng echo, same client: $(per_s "$pecho")"
  [[ -z "$pget" ]] && pipe_fig="n/a" && pipe_base="rpc_bench printed no pipelined result"

  echo
  echo "== summary: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p' | head -1), Linux $(uname -r)," \
    "Debian $(cat /etc/debian_version 2>/dev/null || echo '?'), $(date -u '+%Y-%m-%d %H:%M UTC')"
  row path figure baseline ratio goal verdict
  r=$(ratio "$get8" "$echo8")
  row "GetTask, 8 closed-loop clients" "$(per_s "$get8")" "nng echo, 8 clients: $(per_s "$echo8")" "$r" \
    ">= 0.85x" "$(verdict "$r" '>=' 0.85)"
  r=$(ratio "$get8" "$grpc8")
  row "GetTask, 8 closed-loop clients" "$(per_s "$get8")" "$grpc_base" "$r" "> 1.0x" "$(verdict "$r" '>' 1.0)"
  r=$(ratio "$pget" "$pecho")
  row "GetTask pipelined, 256 in flight" "$pipe_fig" "$pipe_base" "$r" ">= 0.8x" "$(verdict "$r" '>=' 0.8)"
  r=$(ratio "$create8" "$fsync1")
  row "CreateTask, 8 clients, full" "$(per_s "$create8")" "fsync floor, 1 writer: $(per_s "$fsync1")" "$r" \
    ">= 2x (group commit)" "$(verdict "$r" '>=' 2)"
  r=$(ratio "$create_normal" "$fsync1")
  row "CreateTask, 8 clients, normal (no fsync)" "$(per_s "$create_normal")" \
    "fsync floor, 1 writer: $(per_s "$fsync1")" "$r" "the ceiling without the disk" "-"
  r=$(ratio "$create_slow" "$fsync_slow")
  row "CreateTask, 8 clients, fsync +${FSYNC_SLOW_US} us" "$(per_s "$create_slow")" \
    "fsync floor, fsync +${FSYNC_SLOW_US} us: $(per_s "$fsync_slow")" "$r" ">= 2x (group commit)" \
    "$(verdict "$r" '>=' 2)"
  r=$(ratio "$full" "$celery")
  row "echo runs end to end, full" "$(per_s "$full")" "$celery_base" "$r" ">= 10x" "$(verdict "$r" '>=' 10)"
  row "echo runs end to end, normal" "$(per_s "$normal")" "-" "-" "not fsync-bound: CPU" "-"
  if [[ -n "$thr_peak" ]]; then
    row "1,000 LLM calls in flight: threads" "$thr_peak" "at rest ${thr_rest:-?}; nng's own ${nng:-?}" "-" "<= 8" \
      "$(verdict "$thr_peak" '<=' 8)"
  else
    row "1,000 LLM calls in flight: threads" "n/a" "-" "-" "<= 8" "-"
  fi
  if [[ -n "$rss_kib" ]]; then
    row "1,000 LLM calls in flight: peak RSS" "$((rss_kib / 1024)) MiB" "-" "-" "<= 64 MiB" \
      "$(verdict "$rss_kib" '<=' 65536)"
  else
    row "1,000 LLM calls in flight: peak RSS" "n/a" "-" "-" "<= 64 MiB" "-"
  fi
  pg_rows "$l"
  echo "also: the fsync floor with 8 writers on 8 connections: $(per_s "$fsync8")"
  if [[ -n "$tpr$fpr" ]]; then
    echo "also: an echo run costs ${tpr:-?} transactions and ${fpr:-?} fsyncs (durability full)"
  fi
}

case "${1:-all}" in
  rpc) shift; exec build/rpc_bench --server build/beebeebrain "$@" ;;
  http) build/rpc_bench --server build/beebeebrain; echo; exec /usr/bin/python3 bench/http_sse.py --server build/beebeebrain ;;
  events) shift; exec build/events_bench --server build/beebeebrain "$@" ;;
  runtime) shift; exec build/runtime_bench --server build/beebeebrain "$@" ;;
  fsync) shift; exec build/fsync_floor "$@" ;;
  grpc)
    shift
    if [[ $have_grpc -eq 0 ]]; then echo "grpc_bench: $skip_grpc"; exit 77; fi
    exec "$b/grpc_bench" "$@" ;;
  celery) shift; exec /usr/bin/python3 bench/celery_baseline.py "$@" ;;
  threads) exec build/nng_threads ;;
  memory) shift; exec build/reply_memory_bench --server build/beebeebrain "$@" ;;
  http-sse) shift; exec /usr/bin/python3 bench/http_sse.py --server build/beebeebrain "$@" ;;
  pg) shift; run_pg "$@" ;;
  all) shift || true; run_all "$@" ;;
  --seconds) run_all "$@" ;;
  *) echo "usage: scripts/bench.sh [all|rpc|runtime|fsync|grpc|celery|threads|http|events|memory|http-sse|pg] [ARGS]" >&2; exit 2 ;;
esac
