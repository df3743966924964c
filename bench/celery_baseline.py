#!/usr/bin/python3
"""The Celery baseline of issue 13 (docs/performance.md): how many no-op tasks
per second Celery 5.2 with a Redis 7 broker and result backend (Debian 12's
python3-celery and redis-server) runs end to end, to set next to
runtime_bench's echo runs (RunTask to succeeded).

What it measures. One run: --tasks N (2,000) no-op tasks are enqueued from
this process (`delay()`, one at a time), then every result is awaited
(`get()`); the figure is N divided by the time from the first enqueue to the
last result. A worker of 2 prefork processes (--concurrency 2, the machine
the issue was measured on has 2 cores) runs them. Before the runs a warm-up
batch of 200 tasks goes through, not counted. Median of --runs (3).

It starts its own redis-server on a free loopback port in a temp dir (no
snapshots, no append-only file: Redis keeps everything in memory and never
fsyncs, so unlike the server with durability full nothing here survives a
power cut), and its own worker (`python3 -m celery worker`, this file as the
app module), and stops both and removes the temp dir at the end.

Not a test: nothing here is asserted. Run it with `scripts/bench.sh celery`
or directly: bench/celery_baseline.py [--tasks N] [--runs R]. Without
python3-celery, python3-redis or redis-server it prints why and exits with
status 77 (skipped); `scripts/install-deps.sh --bench` installs them. Prints
`RESULT <key> <value>` lines at the end (scripts/bench.sh)."""

import argparse
import gc
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

SKIPPED = 77
BROKER_ENV = "BBB_CELERY_BROKER"

try:
    import celery
    import redis
except ImportError:  # reported by main(); the worker never gets here
    celery = None

# The app, for this process and for the worker, which imports this file as
# the module celery_baseline. The task has an explicit name so that both
# sides agree on it whatever the module is called here (__main__).
if celery is not None:
    _url = os.environ.get(BROKER_ENV, "redis://127.0.0.1:6379/0")
    app = celery.Celery("celery_baseline", broker=_url, backend=_url)
    app.conf.update(broker_connection_retry_on_startup=True, worker_hijack_root_logger=False)

    @app.task(name="bbb.noop")
    def noop():
        return None


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def missing_parts():
    missing = []
    if celery is None:
        missing.append("python3-celery and python3-redis")
    if shutil.which("redis-server") is None:
        missing.append("redis-server")
    return missing


def start_redis(tmp):
    port = free_port()
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", tmp, "--save", "",
         "--appendonly", "no", "--daemonize", "no", "--logfile", os.path.join(tmp, "redis.log")],
        stdin=subprocess.DEVNULL)
    client = redis.Redis(host="127.0.0.1", port=port)
    deadline = time.monotonic() + 10
    while True:
        try:
            client.ping()
            return proc, port
        except redis.exceptions.ConnectionError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError("redis-server did not start; see " + os.path.join(tmp, "redis.log"))
            time.sleep(0.05)


def start_worker(tmp, url, concurrency):
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.abspath(__file__)), **{BROKER_ENV: url})
    log = open(os.path.join(tmp, "worker.log"), "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "celery_baseline", "worker", "--pool", "prefork",
         "--concurrency", str(concurrency), "--loglevel", "WARNING", "--hostname", "bench@%h"],
        env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, cwd=tmp)
    deadline = time.monotonic() + 60
    while not app.control.ping(timeout=0.5):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError("the Celery worker did not start; see " + os.path.join(tmp, "worker.log"))
    return proc


def one_run(n):
    """Tasks per second of n no-op tasks, first enqueue to last result."""
    t0 = time.monotonic()
    results = [noop.delay() for _ in range(n)]
    for r in results:
        r.get(timeout=120)
    return n / (time.monotonic() - t0)


def stop(proc, sig):
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(sig)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tasks", type=int, default=2000, help="tasks per run (default 2000)")
    ap.add_argument("--runs", type=int, default=3, help="runs; the median is reported (default 3)")
    ap.add_argument("--concurrency", type=int, default=2, help="worker processes (default 2)")
    args = ap.parse_args()
    missing = missing_parts()
    if missing:
        print("celery_baseline: skipped: " + " and ".join(missing) + " not installed "
              "(scripts/install-deps.sh --bench installs them)")
        return SKIPPED

    tmp = tempfile.mkdtemp(prefix="bbb-celery-")
    redis_proc = worker = None
    try:
        redis_proc, port = start_redis(tmp)
        url = f"redis://127.0.0.1:{port}/0"
        # The app was configured at import with the default URL: point it
        # at this run's server (the worker gets it from its environment).
        app.conf.broker_url = app.conf.result_backend = url
        worker = start_worker(tmp, url, args.concurrency)
        print(f"celery_baseline: Celery {celery.__version__}, redis-server "
              f"{redis.Redis(port=port).info()['redis_version']}, {args.concurrency} prefork worker "
              f"processes, no-op task, {args.tasks} tasks per run, {args.runs} runs")
        one_run(200)
        rates = []
        for i in range(args.runs):
            print(f"\rrun {i + 1}/{args.runs} ", end="", file=sys.stderr, flush=True)
            rates.append(one_run(args.tasks))
        print("\r" + " " * 20 + "\r", end="", file=sys.stderr)
        med = statistics.median(rates)
        print("runs: " + ", ".join(f"{r:.0f}" for r in rates) + " tasks/s")
        print(f"median: {med:.0f} tasks/s end to end (first enqueue to last result)\n")
        print(f"RESULT celery.tasks_per_s {med:.0f}")
        return 0
    finally:
        # Results still referenced unsubscribe when collected: let them do
        # it while Redis is there, not at exit.
        gc.collect()
        stop(worker, signal.SIGTERM)  # a warm shutdown: the pool drains
        stop(redis_proc, signal.SIGTERM)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
