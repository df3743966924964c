"""Fixtures of the runtime tests (test_runtime*.py): the fake LLM provider
(tests/fake_llm/fake_llm.py, a real HTTP server on loopback) and a server whose
anthropic and openai endpoints point at it, with short retry and breaker
timings so that every scenario ends in seconds.

    fake_llm        FakeLlm: the fake's process (one per module), reset before
                    each test; script(), mode(), stats(), requests_for(). It
                    refuses what the real APIs refuse (strict_rules.py), and a
                    test whose runtime sent a refused request fails at its end
                    unless it set rt.refusals_expected
    start_runtime   start_runtime(**env) -> Runtime: a running server (fault
                    injection on) with RUNTIME_ENV overridden by env, on a
                    fresh database, project "p" rooted in a temp dir, agent 1
                    (anthropic) and agent 2 (openai), both max_concurrency 64;
                    helpers to make tasks and runs and to read the database
    rt              start_runtime() with the default test settings

Everything that waits polls with a bound (conftest.wait_until); the database
(the `db_path` of the engine under test) is read with db_rows: on SQLite a
read-only connection (WAL: the server keeps writing).
"""

import json
import pathlib
import sqlite3
import subprocess
import sys
import time
import urllib.request

import pytest

from beebeebrain.v1 import admin_pb2, task_pb2
from conftest import PG, Cli, Server, is_pg_target, pg_query, wait_until

# A server that crashed leaves its runs leased to it; on PostgreSQL the next
# start takes over only runs whose lease passed, the others a lease and a
# third later (docs/runtime.md, Leases): the crash tests run on a short lease,
# and start_after_kill waits it out.
RESTART_LEASE_MS = 300
RESTART_ENV = {"BEEBEEBRAIN_LEASE_MS": str(RESTART_LEASE_MS)} if PG else {}


def start_after_kill(server):
    """Starts a server killed with SIGKILL (on RESTART_ENV) again, once the
    leases of the runs it held have passed on PostgreSQL: the start then
    recovers every one of them, as it does on a SQLite file. (A server starts
    in less than a lease.)"""
    if PG:
        time.sleep(RESTART_LEASE_MS / 1000 + 0.1)
    return server.start()

FAKE_LLM = pathlib.Path(__file__).resolve().parents[1] / "fake_llm" / "fake_llm.py"
FAKE_START_TIMEOUT_S = 10.0

# Short timings: backoff 200 ms doubling up to 1 s with full jitter, a 1.5 s
# breaker cool-down (doubling after a failed probe), held runs released over 4 s.
RUNTIME_ENV = {
    "ANTHROPIC_API_KEY": "sk-ant-test-key",
    "OPENAI_API_KEY": "sk-test-key",
    "BEEBEEBRAIN_LLM_TIMEOUT_S": "10",
    "BEEBEEBRAIN_RETRY_BASE_MS": "200",
    "BEEBEEBRAIN_RETRY_MAX_MS": "1000",
    "BEEBEEBRAIN_RETRY_MAX_ATTEMPTS": "4",
    "BEEBEEBRAIN_BREAKER_COOLDOWN_MS": "1500",
    "BEEBEEBRAIN_RELEASE_SPREAD_MS": "4000",
    "BEEBEEBRAIN_MAX_IN_FLIGHT": "64",
}

FINAL_RUN_STATUSES = ("succeeded", "failed", "cancelled")


class FakeLlm:
    """The fake provider's process and its control API."""

    def __init__(self):
        self.proc = subprocess.Popen([sys.executable, str(FAKE_LLM)], stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        # It prints its port once it listens; a fake that dies first gives EOF.
        line = self.proc.stdout.readline().strip()
        if not line.isdigit():
            self.stop()
            raise RuntimeError(f"fake_llm.py did not print its port (got {line!r})")
        self.port = int(line)
        self.url = f"http://127.0.0.1:{self.port}"

    def _call(self, method, path, arg=None):
        data = json.dumps(arg).encode() if arg is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=FAKE_START_TIMEOUT_S) as resp:
            return json.loads(resp.read())

    def reset(self):
        self._call("POST", "/_reset", {})

    def script(self, steps):
        """Appends steps (a list shared by both APIs, or {"anthropic": [...], ...})."""
        self._call("POST", "/_script", steps)

    def mode(self, **rule):
        """A time-window rule over every call, e.g. mode(status=503, duration_ms=10000);
        mode(status=0) clears it."""
        self._call("POST", "/_mode", rule)

    def stats(self):
        return self._call("GET", "/_stats")

    def requests(self):
        return self.stats()["requests"]

    def count(self):
        return sum(self.stats()["counts"].values())

    def requests_for(self, prompt):
        """The calls whose conversation starts with this user prompt."""
        return [r for r in self.requests() if first_user_text(r["body"]) == prompt]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.proc.stdout.close()


def first_user_text(body):
    """The first user message of an Anthropic or OpenAI request body."""
    for m in (body or {}).get("messages", []) if isinstance(body, dict) else []:
        if isinstance(m, dict) and m.get("role") == "user":
            c = m.get("content")
            if isinstance(c, str):
                return c
            if isinstance(c, list):
                return " ".join(b.get("text", "") for b in c if isinstance(b, dict))
    return None


def db_rows(db, statement, *params):
    """The rows of a query on a server's database, SQLite file or PostgreSQL,
    as dicts by column name (`?` parameters on both engines)."""
    if is_pg_target(db):
        def run(cur):
            cur.execute(statement.replace("%", "%%").replace("?", "%s") if params else statement, params or None)
            names = [d[0] for d in cur.description]
            return [dict(zip(names, (bytes(v) if isinstance(v, memoryview) else v for v in r)))
                    for r in cur.fetchall()]

        return pg_query(db, run)
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    try:
        con.row_factory = sqlite3.Row
        return [dict(r) for r in con.execute(statement, params)]
    finally:
        con.close()


def db_write(db, *statements):
    """Runs statements, each (sql, *params), in one transaction on a server's
    database, SQLite file or PostgreSQL (beside a running server: SQLite waits
    for the file's write lock)."""
    if is_pg_target(db):
        def run(cur):
            for statement, *params in statements:
                cur.execute(statement.replace("%", "%%").replace("?", "%s") if params else statement,
                            params or None)

        pg_query(db, run)
        return
    con = sqlite3.connect(str(db), timeout=10)
    try:
        with con:
            for statement, *params in statements:
                con.execute(statement, params)
    finally:
        con.close()


class Runtime:
    """One server on the fake, with the project and agents of a scenario."""

    def __init__(self, server, cli, fake, root):
        self.server = server
        self.cli = cli
        self.fake = fake
        self.root = root
        self.db_path = server.db_path
        # Set by a test that makes the fake refuse requests on purpose.
        self.refusals_expected = False
        self.project_id = int(cli.json("project", "create", "p", "--root", str(root))["project"]["id"])
        self.agent_ids = {}
        for provider, model in (("anthropic", "claude-sonnet-4-5"), ("openai", "gpt-4o")):
            agent = cli.json("agent", "create", "--project", self.project_id, "--name", f"{provider}-agent",
                             "--role", "coder", "--provider", provider, "--model", model,
                             "--max-concurrency", 64)["agent"]
            self.agent_ids[provider] = int(agent["id"])

    # ---- making work -------------------------------------------------------

    def task(self, title="t", provider="anthropic"):
        return int(self.cli.json("task", "create", "--project", self.project_id, "--title", title,
                                 "--assignee", self.agent_ids[provider])["task"]["id"])

    def run(self, task_id, prompt, *args):
        """Queues a run (task run ID --prompt P ...); returns its id."""
        return int(self.cli.json("task", "run", task_id, "--prompt", prompt, *args)["run"]["id"])

    def task_and_run(self, prompt, provider="anthropic", *args):
        task_id = self.task(prompt[:160], provider)
        return task_id, self.run(task_id, prompt, *args)

    def inject_fault(self, client, mode, count=1, duration_ms=0):
        client.call("AdminService", "InjectFault",
                    admin_pb2.InjectFaultRequest(mode=mode, count=count, duration_ms=duration_ms),
                    admin_pb2.InjectFaultResponse)

    # ---- reading the database ----------------------------------------------

    def rows(self, sql, *args):
        return db_rows(self.db_path, sql, *args)

    def value(self, sql, *args):
        rows = self.rows(sql, *args)
        return next(iter(rows[0].values())) if rows else None

    def run_row(self, run_id):
        return self.rows("SELECT * FROM task_runs WHERE id = ?", run_id)[0]

    def attempts(self, run_id):
        """Every call of the run, in order; a call in flight has ended_at NULL (its row is written when it starts)."""
        return self.rows("SELECT * FROM run_attempts WHERE run_id = ? ORDER BY n", run_id)

    def ended_attempts(self, run_id):
        """The calls of the run that ended (answered, failed or aborted), in order."""
        return self.rows("SELECT * FROM run_attempts WHERE run_id = ? AND ended_at IS NOT NULL ORDER BY n", run_id)

    def task_status(self, task_id):
        return self.value("SELECT status FROM tasks WHERE id = ?", task_id)

    def run_events(self, run_id):
        """The run.status.changed events of a run, as proto3 JSON, in order."""
        out = self.cli.json("events", "--replay-last", 1000, "--type", "run.status.changed")
        return [e["run_status_changed"] for e in out["events"] if int(e.get("run_id", 0)) == run_id]

    def wait_run(self, run_id, statuses=FINAL_RUN_STATUSES, timeout_s=30):
        """Waits until the run's status is one of statuses; returns its row."""
        if isinstance(statuses, str):
            statuses = (statuses,)
        wait_until(lambda: self.run_row(run_id)["run_status"] in statuses, timeout_s,
                   f"run {run_id} to become {'|'.join(statuses)} "
                   f"(now {self.run_row(run_id)['run_status']})")
        return self.run_row(run_id)


def queue_runs(client, project_id, agent_id, prompts):
    """CreateTask + RunTask for each prompt over one client connection (much
    faster than a CLI process per call); returns the run ids in order."""
    run_ids = []
    for prompt in prompts:
        task = client.call("TaskService", "CreateTask",
                           task_pb2.CreateTaskRequest(project_id=project_id, title=prompt[:160],
                                                      assignee_agent_id=agent_id),
                           task_pb2.CreateTaskResponse).task
        run = client.call("TaskService", "RunTask", task_pb2.RunTaskRequest(task_id=task.id, prompt=prompt),
                          task_pb2.RunTaskResponse).run
        run_ids.append(run.id)
    return run_ids


@pytest.fixture(scope="module")
def fake_llm():
    fake = FakeLlm()
    yield fake
    fake.stop()


@pytest.fixture
def start_runtime(tmp_path, db_path, rpc_url, fake_llm):
    """start_runtime(**env) -> Runtime: a server with RUNTIME_ENV plus env
    (overrides), on a fresh database, with the fake reset. Stopped (SIGTERM,
    exit status 0 asserted) at the end of the test."""
    started = []
    started_rts = []

    def start(**overrides):
        assert not started, "one runtime per test"
        fake_llm.reset()
        env = {**RUNTIME_ENV, "ANTHROPIC_BASE_URL": fake_llm.url, "OPENAI_BASE_URL": fake_llm.url + "/v1",
               **overrides}
        root = tmp_path / "workspace"
        root.mkdir()
        srv = Server(db_path, rpc_url, extra_args=["--enable-fault-injection"], env=env).start()
        started.append(srv)
        started_rts.append(Runtime(srv, Cli(rpc_url, tmp_path), fake_llm, root))
        return started_rts[0]

    yield start
    fake_llm.mode(status=0)
    for srv in started:
        if srv.running():
            rc = srv.stop()
            assert rc == 0, f"server exited {rc} on SIGTERM:\n{srv.log()}"
    # The fake refuses what the real APIs refuse: a request it refused is a
    # request-building defect, unless the test provoked it on purpose.
    if started and not started_rts[0].refusals_expected:
        refused = [r["refused"] for r in fake_llm.requests() if r.get("refused")]
        assert refused == [], f"the fake refused {len(refused)} request(s) the real API would refuse: {refused[:3]}"


@pytest.fixture
def rt(start_runtime):
    """A Runtime with the default test settings (RUNTIME_ENV)."""
    return start_runtime()
