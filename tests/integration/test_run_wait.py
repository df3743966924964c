"""RunTask with wait (docs/protocol.md, Deadlines): the reply comes when the run is final,
and a waiting call holds no worker thread, so other calls keep being served."""

import subprocess
import time

import pytest

from conftest import BIN, Server, child_env


@pytest.fixture
def seeded(tmp_path, rpc_url):
    """A server on a brand-new database: project "default", agent "assistant" (echo)."""
    srv = Server(tmp_path / "new.db", rpc_url, seeded=True).start()
    yield srv
    assert srv.stop() == 0, srv.log()


def test_first_start_makes_the_default_project_and_echo_agent(seeded, cli):
    projects = cli.json("project", "list")["projects"]
    assert [p["name"] for p in projects] == ["default"]
    assert projects[0]["root_path"].endswith("/workspace")
    agents = cli.json("agent", "list")["agents"]
    assert [(a["name"], a["model_provider"]) for a in agents] == [("assistant", "echo")]


def test_task_run_wait_returns_the_final_run_with_the_echo_provider(seeded, cli):
    task = cli.json("task", "create", "--title", "hello", "--assignee", "1")["task"]
    run = cli.json("task", "run", task["id"], "--prompt", "hi", "--wait")["run"]
    assert run["run_status"] == "RUN_STATUS_SUCCEEDED"
    assert run["output_text"] == "echo: hi"
    assert cli.json("task", "get", task["id"])["task"]["status"] == "TASK_STATUS_REVIEW"
    items = cli.json("inbox", "list", "--type", "task_completed")["items"]
    assert [i["source_id"] for i in items] == [task["id"]]


def test_waiting_calls_hold_no_worker(tmp_path, workspace, rpc_url, cli):
    """With 4 workers and the runtime off, 6 waiting RunTask calls (runs that
    cannot finish) still leave health answering at once."""
    srv = Server(tmp_path / "w.db", rpc_url, extra_args=["--workers", "4"],
                 env={"BEEBEEBRAIN_RUNTIME": "off"}).start()
    try:
        cli.json("project", "create", "default", "--root", str(workspace))
        waiters = []
        for i in range(6):
            task = cli.json("task", "create", "--title", f"w{i}")["task"]
            p = subprocess.Popen([BIN, "--rpc", rpc_url, "task", "run", task["id"], "--prompt", "x",
                                  "--provider", "echo", "--wait"],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=child_env())
            waiters.append(p)
        time.sleep(0.5)
        started = time.monotonic()
        rc, out, _ = cli("health")
        assert rc == 0 and out.startswith("ok")
        assert time.monotonic() - started < 5
        assert all(p.poll() is None for p in waiters)  # still waiting
    finally:
        assert srv.stop() == 0, srv.log()  # shutdown answers the waiting calls
        for p in waiters:
            assert p.wait(timeout=10) == 0
