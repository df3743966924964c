"""The Python package `beebeebrain` (clients/python) as its users see it:
installed with the command its README documents into a fresh venv, the
README's example run against a real server, every service through the
generated typed clients, RpcError's fields, concurrent calls from threads
(Client) and coroutines (AsyncClient) on one connection, the lossless
Subscriber across a server restart, a close that returns where nng's own
close hangs, and the environment variables.

Everything but the install test imports the package the build generated
(BBB_BUILD_DIR/python, the same generation step pip runs)."""

import asyncio
import os
import pathlib
import re
import shutil
import subprocess
import sys
import threading
import time
import warnings

import pytest

import beebeebrain
from beebeebrain.v1 import (admin_pb2, agent_pb2, common_pb2, event_pb2, health_pb2, inbox_pb2, log_pb2,
                            metrics_pb2, project_pb2, runtime_pb2, task_pb2, tool_pb2)
from conftest import PG, Server, child_env, wait_until
from runtime_fixtures import fake_llm, rt, start_runtime  # noqa: F401  (fixtures)

REPO = pathlib.Path(__file__).resolve().parents[2]
PACKAGE = REPO / "clients" / "python"
README = PACKAGE / "README.md"
PIP_TIMEOUT_S = 120
EXAMPLE_TIMEOUT_S = 60
SLOW_CALL_MS = 1500
CALLS = 8


def readme_block(lang, containing):
    """The README's first fenced block of `lang` whose text contains `containing`."""
    for block in re.findall(rf"```{lang}\n(.*?)```", README.read_text(), re.S):
        if containing in block:
            return block
    pytest.fail(f"README.md has no ```{lang} block containing {containing!r}")


# ---- (1) pip install into a venv, then the README's example -------------------


def test_documented_pip_install_into_a_venv_then_the_readme_example_against_a_real_server(tmp_path, rpc_url):
    # A copy of the repository's layout (clients/python next to proto/), so
    # that the in-tree build leaves nothing in the checkout.
    repo = tmp_path / "repo"
    shutil.copytree(PACKAGE, repo / "clients" / "python",
                    ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    shutil.copytree(REPO / "proto", repo / "proto")
    venv = tmp_path / "venv"
    py = venv / "bin" / "python"
    env = {k: v for k, v in child_env().items() if k != "PYTHONPATH"}

    install = readme_block("sh", "pip install")
    commands = [line.strip() for line in install.splitlines() if line.strip()]
    assert commands[0] == "/usr/bin/python3 -m venv --system-site-packages --without-pip ~/.venvs/bbb", commands
    assert commands[1] == "~/.venvs/bbb/bin/python -m pip install --no-build-isolation --no-index ./clients/python"
    for cmd in commands[:2]:
        done = subprocess.run(cmd.replace("~/.venvs/bbb", str(venv)), shell=True, cwd=repo, env=env,
                              stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=PIP_TIMEOUT_S)
        assert done.returncode == 0, f"{cmd}\n{done.stdout}\n{done.stderr}"

    # The generated modules and their stubs are in the installed package.
    where = subprocess.run([str(py), "-c", "import beebeebrain, os; print(os.path.dirname(beebeebrain.__file__))"],
                           cwd=tmp_path, env=env, capture_output=True, text=True, check=True).stdout.strip()
    installed = pathlib.Path(where)
    assert installed.is_relative_to(venv), where
    for name in ("_services.py", "_services.pyi", "py.typed", "v1/task_pb2.py", "v1/task_pb2.pyi",
                 "v1/events_pb2.pyi"):
        assert (installed / name).is_file(), name

    srv = Server(tmp_path / "example.db", rpc_url, seeded=True).start()  # as ./scripts/run.sh: agent 1 on echo
    try:
        example = readme_block("python", "import beebeebrain")
        done = subprocess.run([str(py), "-c", example], cwd=tmp_path, env={**env, "BEEBEEBRAIN_RPC_URL": srv.url},
                              stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=EXAMPLE_TIMEOUT_S)
        assert done.returncode == 0, done.stderr
        lines = done.stdout.splitlines()
        assert lines[0] == "task 1: my first task"
        assert lines[1] == "run 1: RUN_STATUS_SUCCEEDED 'echo: hi'"
        events = [line.split() for line in lines[2:]]
        assert all(e[0] == "event" for e in events), lines
        ids = [int(e[1]) for e in events]
        assert ids == sorted(set(ids))  # each once, in order
        types = [e[2] for e in events]
        assert types[0] == "task.status.changed"
        assert "run.status.changed" in types
    finally:
        assert srv.stop() == 0


# ---- (2) every service through the generated client --------------------------


def test_every_service_has_its_attribute_and_typed_methods(client):
    attrs = {attr for attr, _ in beebeebrain._services.SERVICES}
    assert attrs >= {"admin", "agent", "event", "health", "inbox", "log", "metrics", "project", "runtime", "task",
                     "tool"}
    for attr, full_name in beebeebrain._services.SERVICES:
        assert full_name == f"beebeebrain.v1.{type(getattr(client, attr)).__name__}"
    assert "task_id" in client.task.get_task.__doc__
    assert "CreateTaskResponse" in client.task.create_task.__doc__


def test_every_service_through_the_typed_client(client, workspace, tmp_path):
    assert isinstance(client.health.check(), health_pb2.CheckResponse)
    assert isinstance(client.health.ready(), health_pb2.ReadyResponse)

    project = client.project.create_project(name="p", root_path=str(workspace)).project
    assert isinstance(project, common_pb2.Project)
    got = client.project.get_project(project_pb2.GetProjectRequest(project_id=project.id))
    assert isinstance(got, project_pb2.GetProjectResponse) and got.project.name == "p"

    agent = client.agent.create_agent(project_id=project.id, name="a", role="coder", model_provider="echo",
                                      model_name="echo").agent
    assert isinstance(client.agent.list_agents(project_id=project.id), agent_pb2.ListAgentsResponse)
    assert client.agent.get_agent(agent_id=agent.id).agent.name == "a"

    task = client.task.create_task(project_id=project.id, title="typed", assignee_agent_id=agent.id).task
    assert isinstance(task, common_pb2.Task)
    run = client.task.run_task(task_id=task.id, prompt="hi", wait=True, timeout=20)
    assert isinstance(run, task_pb2.RunTaskResponse)
    assert run.run.run_status == common_pb2.RUN_STATUS_SUCCEEDED and run.run.output_text == "echo: hi"
    assert [t.id for t in client.task.list_tasks(project_id=project.id).tasks] == [task.id]

    note = client.inbox.create_item(project_id=project.id, title="look", content="here").item
    assert isinstance(client.inbox.get_item(item_id=note.id), inbox_pb2.GetItemResponse)
    assert client.inbox.close_item(item_id=note.id).item.status == common_pb2.INBOX_STATUS_CLOSED

    assert isinstance(client.log.append_log(run_id=run.run.id, message="from python", source="test"),
                      log_pb2.AppendLogResponse)
    logs = client.log.query_logs(run_id=run.run.id)
    assert isinstance(logs, log_pb2.QueryLogsResponse)
    assert "from python" in [line.message for line in logs.lines]

    assert isinstance(client.metrics.runs_summary(project_id=project.id), metrics_pb2.RunsSummaryResponse)
    assert isinstance(client.metrics.usage_daily(), metrics_pb2.UsageDailyResponse)
    assert isinstance(client.admin.migration_status(), admin_pb2.MigrationStatusResponse)
    if PG:
        # PostgreSQL is backed up with pg_dump: the typed error says so.
        with pytest.raises(beebeebrain.RpcError) as refused:
            client.admin.backup(out_path=str(tmp_path / "copy.bak"))
        assert (refused.value.code_name, refused.value.reason) == ("FAILED_PRECONDITION", "DB_ENGINE_UNSUPPORTED")
        assert "pg_dump" in refused.value.message
        assert not (tmp_path / "copy.bak").exists()
    else:
        backup = client.admin.backup(out_path=str(tmp_path / "copy.bak"))
        assert isinstance(backup, admin_pb2.BackupResponse) and os.path.exists(backup.path)
    assert isinstance(client.runtime.status(), runtime_pb2.RuntimeStatusResponse)

    published = client.event.publish(event_type="operator.note", project_id=project.id, actor="py", message="hi")
    assert isinstance(published, event_pb2.PublishResponse)
    replayed = client.event.replay(type_prefix="operator.")
    assert isinstance(replayed, event_pb2.ReplayResponse)
    assert [e.event_type for e in replayed.events] == ["operator.note"]

    # A tool call outside a run's rules is refused with the typed error;
    # one that applies returns its declared type.
    blocked = client.tool.block_task(task_id=task.id, idempotency_key="k1", reason="needs a human")
    assert isinstance(blocked, tool_pb2.BlockTaskResponse)
    assert blocked.task.status == common_pb2.TASK_STATUS_BLOCKED


def test_the_plugin_leaves_streaming_methods_out(tmp_path):
    """A server-streaming RPC (served over HTTP only) gets no method, and the
    rest of its service is generated as before."""
    protos = tmp_path / "proto"
    shutil.copytree(REPO / "proto", protos)
    event_proto = protos / "beebeebrain" / "v1" / "event.proto"
    assert "rpc Subscribe(SubscribeRequest) returns (stream SubscribeResponse);" in event_proto.read_text()
    out = tmp_path / "out"
    subprocess.run([sys.executable, str(PACKAGE / "build_tools" / "generate.py"), "--out", str(out),
                    "--proto-dir", str(protos)], check=True, capture_output=True, timeout=60)
    services = (out / "beebeebrain" / "_services.py").read_text()
    assert "def subscribe" not in services and "def replay" in services
    assert "def subscribe" not in (out / "beebeebrain" / "_services.pyi").read_text()


def test_a_request_message_or_keywords_and_nothing_else(client):
    with pytest.raises(TypeError, match="no_such_field"):
        client.task.get_task(no_such_field=1)
    with pytest.raises(TypeError, match="GetTaskRequest"):
        client.task.get_task(task_pb2.ListTasksRequest())
    with pytest.raises(TypeError, match="not both"):
        client.task.get_task(task_pb2.GetTaskRequest(task_id=1), task_id=1)


# ---- (3) RpcError ----------------------------------------------------------------


def test_rpc_error_of_a_not_found_and_of_a_validation_error(client):
    with pytest.raises(beebeebrain.RpcError) as e:
        client.task.get_task(task_id=999, trace_id="py-trace-1")
    err = e.value
    assert (err.code, err.code_name, err.reason) == (5, "NOT_FOUND", "TASK_NOT_FOUND")
    assert err.trace_id == "py-trace-1" and err.violations == [] and "999" in err.message

    with pytest.raises(beebeebrain.RpcError) as e:
        client.task.create_task(title="")
    err = e.value
    assert (err.code, err.reason) == (3, "VALIDATION_ERROR")
    assert [(v.field, v.description) for v in err.violations] == [("title", "is required")]
    assert err.violations[0].field == "title"
    assert err.trace_id.startswith("trace-")


def test_a_repeated_request_id_is_answered_once(client, workspace):
    project = client.project.create_project(name="p", root_path=str(workspace)).project
    first = client.inbox.create_item(project_id=project.id, title="once", request_id="py-req-0001").item
    again = client.inbox.create_item(project_id=project.id, title="once", request_id="py-req-0001").item
    assert first.id == again.id
    assert len(client.inbox.list_items().items) == 1


# ---- (4), (5) concurrency: threads and coroutines on one connection ------------


def slow_runs(rt, client, n):
    """n tasks on the fake provider, each of whose calls takes SLOW_CALL_MS."""
    rt.fake.script([{"text": "done", "delay_ms": SLOW_CALL_MS}] * n)
    return [client.task.create_task(project_id=rt.project_id, title=f"slow {i}",
                                    assignee_agent_id=rt.agent_ids["anthropic"]).task.id for i in range(n)]


def assert_overlapped(rt, runs, returned_ms):
    """Every provider call had started before the first RunTask call returned:
    the calls were in flight together, not one after the other."""
    assert all(r.run.run_status == common_pb2.RUN_STATUS_SUCCEEDED for r in runs), runs
    provider_calls = [r["t_ms"] for r in rt.fake.requests() if r["path"].endswith("/messages")]
    assert len(provider_calls) == len(runs)
    assert max(provider_calls) < min(returned_ms), (provider_calls, returned_ms)


def test_threads_on_one_client_run_concurrently(rt):
    with beebeebrain.Client(rt.server.url, timeout=30) as client:
        task_ids = slow_runs(rt, client, CALLS)
        runs, returned_ms, errors = [None] * CALLS, [0] * CALLS, []

        def run(i):
            try:
                runs[i] = client.task.run_task(task_id=task_ids[i], prompt=f"slow {i}", wait=True)
                returned_ms[i] = int(time.time() * 1000)
            except Exception as e:  # reported below
                errors.append(e)

        threads = [threading.Thread(target=run, args=(i,)) for i in range(CALLS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        assert_overlapped(rt, runs, returned_ms)


def test_async_client_gather(rt):
    async def main():
        async with beebeebrain.AsyncClient(rt.server.url, timeout=30) as client:
            assert (await client.health.check()).status == "ok"
            with beebeebrain.Client(rt.server.url) as sync:
                task_ids = slow_runs(rt, sync, CALLS)
            returned_ms = [0] * CALLS

            async def run(i):
                resp = await client.task.run_task(task_id=task_ids[i], prompt=f"slow {i}", wait=True)
                returned_ms[i] = int(time.time() * 1000)
                return resp

            runs = await asyncio.gather(*(run(i) for i in range(CALLS)))
            assert all(isinstance(r, task_pb2.RunTaskResponse) for r in runs)
            assert_overlapped(rt, runs, returned_ms)
            with pytest.raises(beebeebrain.RpcError) as e:
                await client.task.get_task(task_id=999)
            assert e.value.reason == "TASK_NOT_FOUND"

    asyncio.run(main())


# ---- (6) the Subscriber through a server restart --------------------------------


def publish(client, *messages):
    return [client.event.publish(event_type="operator.py", actor="test", message=m).event.id for m in messages]


def test_subscriber_exactly_once_in_order_through_a_server_restart(server):
    with beebeebrain.Client(server.url, timeout=5) as writer:
        before = publish(writer, "before-1", "before-2", "before-3")
    with beebeebrain.Subscriber(after_id=0, type_prefix="operator.", rpc_url=server.url,
                                replay_timeout=1) as sub:
        assert sub.url == server.events_url  # from StreamInfo
        got = [sub.next_event(timeout=10) for _ in before]
        assert [e.custom.message for e in got] == ["before-1", "before-2", "before-3"]

        assert server.stop() == 0
        # Down: nothing arrives, and nothing fails (Replay is retried).
        assert sub.next_event(timeout=3.5) is None

        server.start()
        with beebeebrain.Client(server.url, timeout=5) as writer:
            after = publish(writer, "after-1", "after-2", "after-3")
        got += [sub.next_event(timeout=10) for _ in after]
        assert [e.custom.message for e in got] == ["before-1", "before-2", "before-3", "after-1", "after-2", "after-3"]
        assert [e.id for e in got] == before + after
        assert sub.next_event(timeout=1.5) is None  # no duplicates
        assert sub.last_id == after[-1]


def test_subscriber_as_an_async_iterator_resumes_after_an_id(server):
    with beebeebrain.Client(server.url, timeout=5) as writer:
        ids = publish(writer, "a", "b", "c")

    async def main():
        async with beebeebrain.Subscriber(after_id=ids[0], type_prefix="operator.", rpc_url=server.url) as sub:
            seen = []
            async for ev in sub:
                seen.append((ev.id, ev.custom.message))
                if len(seen) == 2:
                    break
            return seen

    assert asyncio.run(main()) == [(ids[1], "b"), (ids[2], "c")]


# ---- (7) close returns where nng's own close hangs ----------------------------------


def test_close_returns_while_nng_close_hangs_and_later_closes_do_not_wait_for_it(server, monkeypatch):
    """nng 1.5.2 can hang in nng_close for ever (a connection cut while a
    message was in transfer leaves its reaper thread stuck: docs/decisions.md).
    Such a hang is made here by holding nng_close back: close() returns anyway
    with a warning and the client is closed to its callers; while that close
    hangs another one returns without a second warning; once nng_close returns,
    a close waits for it again."""
    nng = beebeebrain._nng.lib()
    real_close = nng.nng_close
    release, entered = threading.Event(), []

    def held_close(sock):
        entered.append(sock.id)
        release.wait()
        return real_close(sock)

    monkeypatch.setattr(nng, "nng_close", held_close)
    monkeypatch.setattr(beebeebrain._nng, "CLOSE_WAIT_S", 0.5)
    first, second = beebeebrain.Client(server.url), beebeebrain.Client(server.url)
    # A close that waited for nng_close would wait for ever: fail instead.
    unblock = threading.Timer(60, release.set)
    unblock.start()
    try:
        with pytest.warns(RuntimeWarning, match="nng_close has not returned"):
            first.close()
        with pytest.raises(beebeebrain.RpcError) as e:
            first.health.check()
        assert e.value.reason == "SERVER_UNREACHABLE" and "the client is closed" in e.value.message
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            second.close()
        assert len(entered) == 2
    finally:
        release.set()
        unblock.cancel()
    wait_until(lambda: beebeebrain._nng._hung_closes == 0, 10, "the held closes to return")
    monkeypatch.setattr(nng, "nng_close", real_close)
    third = beebeebrain.Client(server.url)
    assert third.health.check().status == "ok"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        third.close()


def test_clients_never_closed_do_not_hold_up_the_exit(server):
    """Clients left to the interpreter's exit (a global, and one in a
    reference cycle that only the last garbage collection frees) are dropped
    without a close: the process ends, and its connections with it."""
    script = ("import sys; sys.path.insert(0, sys.argv[1]); import beebeebrain\n"
              "kept = beebeebrain.Client(sys.argv[2])\n"
              "cycle = beebeebrain.Client(sys.argv[2]); cycle.me = cycle\n"
              "print(kept.health.check().status, cycle.health.check().status)\n"
              "del cycle\n")
    p = subprocess.run([sys.executable, "-c", script, str(pathlib.Path(beebeebrain.__file__).parents[1]), server.url],
                       capture_output=True, text=True, timeout=EXAMPLE_TIMEOUT_S, env=child_env())
    assert (p.returncode, p.stdout) == (0, "ok ok\n"), p.stderr


# ---- (8) environment variables ----------------------------------------------------

SERVER_KEY = "pyPackageKey4Zr9"


def test_environment_variables(tmp_path, rpc_url, monkeypatch):
    srv = Server(tmp_path / "env.db", rpc_url, env={"BEEBEEBRAIN_API_KEY": SERVER_KEY})
    srv.spawn()
    try:
        monkeypatch.setenv("BEEBEEBRAIN_RPC_URL", srv.url)
        monkeypatch.setenv("BEEBEEBRAIN_API_KEY", "")  # empty: unset
        wait_until(lambda: srv.running() and reachable(), 10, "the server to listen")
        with beebeebrain.Client() as anonymous:
            assert anonymous.url == srv.url and anonymous.api_key == ""
            with pytest.raises(beebeebrain.RpcError) as e:
                anonymous.task.list_tasks()
            assert e.value.code_name == "UNAUTHENTICATED"

        monkeypatch.setenv("BEEBEEBRAIN_API_KEY", SERVER_KEY)
        with beebeebrain.Client() as keyed:
            assert keyed.task.list_tasks().tasks is not None
            publish(keyed, "env")
            # An explicit argument wins over the environment.
            with pytest.raises(beebeebrain.RpcError):
                beebeebrain.Client(api_key="wrong").task.list_tasks()

            monkeypatch.setenv("BEEBEEBRAIN_EVENTS_URL", srv.events_url)
            with beebeebrain.Subscriber(after_id=0, type_prefix="operator.", client=keyed) as sub:
                assert sub.url == srv.events_url
                assert sub.next_event(timeout=10).custom.message == "env"
    finally:
        assert srv.stop() == 0


def reachable():
    try:
        with beebeebrain.Client(timeout=1) as c:
            c.health.check()
        return True
    except beebeebrain.RpcError:
        return False


def test_no_server_is_reported_by_the_constructor():
    with pytest.raises(beebeebrain.RpcError) as e:
        beebeebrain.Client("tcp://127.0.0.1:1")
    assert (e.value.code_name, e.value.reason) == ("UNAVAILABLE", "SERVER_UNREACHABLE")
    assert "tcp://127.0.0.1:1" in e.value.message


if __name__ == "__main__":
    sys.exit(pytest.main([__file__]))
