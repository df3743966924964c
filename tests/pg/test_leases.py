"""Leases on runs in flight with two servers on one PostgreSQL database
(docs/runtime.md, Leases): a server that starts leaves the other's live runs
alone, and when a server dies (kill -9) the other resumes its run once its
lease passed, exactly once, the lost call closed and counted."""
import json
import pathlib
import re
import subprocess
import sys
import urllib.request

import psycopg2
import pytest

from conftest import integration

Server = integration.Server
Cli = integration.Cli
wait_until = integration.wait_until

FAKE_LLM = pathlib.Path(__file__).resolve().parents[1] / "fake_llm" / "fake_llm.py"
# Long enough that a live server's renewals (every second) never let it pass on a loaded machine.
LEASE_MS = 3000


class Fake:
    """The fake provider (tests/fake_llm/fake_llm.py) and the part of its control API used here."""

    def __init__(self):
        self.proc = subprocess.Popen([sys.executable, str(FAKE_LLM)], stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.url = f"http://127.0.0.1:{int(self.proc.stdout.readline().strip())}"

    def call(self, method, path, arg=None):
        data = json.dumps(arg).encode() if arg is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.loads(resp.read())

    def mode(self, **rule):
        self.call("POST", "/_mode", rule)

    def calls_for(self, prompt):
        return [r for r in self.call("GET", "/_stats")["requests"]
                if any(m.get("content") == prompt for m in r["body"].get("messages", []))]

    def stop(self):
        self.proc.kill()
        self.proc.wait()
        self.proc.stdout.close()


@pytest.fixture
def fake():
    f = Fake()
    yield f
    f.stop()


def server_id(srv):
    m = re.search(r"server ([0-9a-f]{16}): runs it starts are leased", srv.log())
    assert m, srv.log()
    return m.group(1)


def rows(pg_db, sql, *args):
    conn = psycopg2.connect(pg_db)
    try:
        with conn.cursor() as cur:
            cur.execute(sql, args)
            return cur.fetchall()
    finally:
        conn.close()


def test_a_dead_servers_run_is_resumed_once_by_the_other_after_its_lease_passed(pg_db, tmp_path, fake):
    env = {"ANTHROPIC_API_KEY": "sk-ant-test-key", "ANTHROPIC_BASE_URL": fake.url,
           "BEEBEEBRAIN_LLM_TIMEOUT_S": "60", "BEEBEEBRAIN_LEASE_MS": str(LEASE_MS)}
    started = []

    def start():
        srv = Server(pg_db, f"tcp://127.0.0.1:{integration.free_port()}", log_base=tmp_path / f"s{len(started)}",
                     env=env)
        started.append(srv)
        return srv.start()

    try:
        a = start()
        cli = Cli(a.url, tmp_path)
        root = tmp_path / "workspace"
        root.mkdir()
        project = cli.json("project", "create", "p", "--root", str(root))["project"]["id"]
        agent = cli.json("agent", "create", "--project", project, "--name", "a", "--role", "coder", "--provider",
                         "anthropic", "--model", "claude-sonnet-4-5")["agent"]["id"]
        task = cli.json("task", "create", "--project", project, "--title", "t", "--assignee", agent)["task"]["id"]
        fake.mode(status=200, delay_ms=120000)  # hangs until the kill
        run = int(cli.json("task", "run", task, "--prompt", "outlives its server")["run"]["id"])
        wait_until(lambda: len(fake.calls_for("outlives its server")) == 1, 20, "the call at the fake")
        assert rows(pg_db, "SELECT run_status, lease_owner FROM task_runs WHERE id = %s", run) == [
            ("running", server_id(a))]

        # A second server starts while the first runs: the run's lease is live, it is left alone.
        b = start()
        assert server_id(b) != server_id(a)
        assert rows(pg_db, "SELECT run_status, lease_owner FROM task_runs WHERE id = %s", run) == [
            ("running", server_id(a))]
        assert rows(pg_db, "SELECT n, ended_at FROM run_attempts WHERE run_id = %s", run) == [(1, None)]

        a.proc.kill()  # the first server dies with its call in flight
        a.proc.wait()
        fake.mode(status=0)
        cli_b = Cli(b.url, tmp_path)
        wait_until(lambda: rows(pg_db, "SELECT run_status FROM task_runs WHERE id = %s", run)[0][0] == "succeeded",
                   30, "the run to be resumed by the second server and succeed")
        events = cli_b.json("events", "--replay-last", 1000, "--type", "run.status.changed")["events"]
        path = [(e["run_status_changed"]["to_status"], e["run_status_changed"].get("error_code", ""))
                for e in events if int(e["run_status_changed"].get("run_id", 0)) == run]
        assert path == [("RUN_STATUS_QUEUED", ""), ("RUN_STATUS_RUNNING", ""),
                        ("RUN_STATUS_INTERRUPTED", "PROCESS_RESTARTED"), ("RUN_STATUS_RUNNING", ""),
                        ("RUN_STATUS_SUCCEEDED", "")], path
        assert rows(pg_db, "SELECT n, error_code, ended_at IS NOT NULL FROM run_attempts WHERE run_id = %s "
                    "ORDER BY n", run) == [(1, "PROCESS_RESTARTED", True), (2, "", True)]
        assert rows(pg_db, "SELECT lease_owner, lease_until FROM task_runs WHERE id = %s", run) == [(None, None)]
        assert len(fake.calls_for("outlives its server")) == 2
        assert rows(pg_db, "SELECT sum(request_count) FROM api_usage_daily") == [(2,)]
        assert "1 run(s) and 1 provider call(s) of a server that stopped renewing its leases" in b.log()
    finally:
        for srv in started:
            if srv.running():
                assert srv.stop() == 0, srv.log()
