"""Optimistic locking under real concurrency (docs/protocol.md, Versions): 8 clients race
conflicting commands with the same expected_version on the same tasks. The
version is checked inside the write transaction, so exactly one client wins
each race, every loser gets ABORTED TASK_VERSION_CONFLICT, and the event log
holds one task.intervention.audit per attempt, winners and losers alike."""

import socket
import subprocess
import threading

import pytest

from beebeebrain.v1 import common_pb2 as pb, events_pb2, project_pb2, task_pb2
from beebeebrain import Client, RpcError

from conftest import BIN, Server, child_env, sql

CLIENTS = 8
ABORTED = 10

# Commands whose target differs from the state they leave: racing any two of
# them from `running` (pause, cancel) or `blocked` (resume, cancel) conflicts.
METHODS = {
    pb.TASK_COMMAND_PAUSE: ("PauseTask", task_pb2.PauseTaskRequest, task_pb2.PauseTaskResponse),
    pb.TASK_COMMAND_RESUME: ("ResumeTask", task_pb2.ResumeTaskRequest, task_pb2.ResumeTaskResponse),
    pb.TASK_COMMAND_CANCEL: ("CancelTask", task_pb2.CancelTaskRequest, task_pb2.CancelTaskResponse),
}


def audits(db_path):
    """task.intervention.audit payloads in id order."""
    rows = sql(db_path, "SELECT payload FROM events WHERE event_type = 'task.intervention.audit' ORDER BY id")
    return [events_pb2.Event.FromString(bytes(p)).task_intervention_audit for (p,) in rows]


def make_default_project(client, root):
    client.call("ProjectService", "CreateProject", project_pb2.CreateProjectRequest(name="default",
                root_path=str(root)), project_pb2.CreateProjectResponse)


def get_task(client, task_id):
    return client.call("TaskService", "GetTask", task_pb2.GetTaskRequest(task_id=task_id),
                       task_pb2.GetTaskResponse).task


def race(clients, task_id, version, commands):
    """Client i sends commands[i] on task_id with expected_version `version`, all
    released at once by a barrier. Returns [(actor, command, task or RpcError)]."""
    barrier = threading.Barrier(len(clients))
    results = [None] * len(clients)

    def one(i):
        name, req_cls, resp_cls = METHODS[commands[i]]
        req = req_cls(task_id=task_id, expected_version=version, actor=f"client-{i}")
        barrier.wait()
        try:
            results[i] = (req.actor, commands[i], clients[i].call("TaskService", name, req, resp_cls).task)
        except RpcError as e:
            results[i] = (req.actor, commands[i], e)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(clients))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert all(r is not None for r in results), "a client did not finish"
    return results


def test_eight_clients_racing_on_the_same_versions_win_exactly_once_each_and_all_are_audited(server, client,
                                                                                              db_path, workspace):
    make_default_project(client, workspace)
    tasks = []
    for i in range(4):
        t = client.call("TaskService", "CreateTask", task_pb2.CreateTaskRequest(title=f"contested {i}"),
                        task_pb2.CreateTaskResponse).task
        t = client.call("TaskService", "UpdateTask",
                        task_pb2.UpdateTaskRequest(task_id=t.id, status=pb.TASK_STATUS_RUNNING,
                                                   update_mask=["status"]), task_pb2.UpdateTaskResponse).task
        tasks.append(t.id)

    clients = [Client(server.url, timeout=30) for _ in range(CLIENTS)]
    attempts = wins = 0
    winners = []
    try:
        for round_no in range(6):
            for task_id in tasks:
                before = get_task(client, task_id)
                if before.status == pb.TASK_STATUS_RUNNING:
                    # Half try to pause, half to cancel: conflicting intents on one version.
                    commands = [pb.TASK_COMMAND_PAUSE, pb.TASK_COMMAND_CANCEL] * (CLIENTS // 2)
                elif before.status == pb.TASK_STATUS_BLOCKED:
                    commands = [pb.TASK_COMMAND_RESUME] * CLIENTS
                else:
                    continue
                results = race(clients, task_id, before.version, commands)
                attempts += len(results)
                won = [(actor, cmd, r) for actor, cmd, r in results if not isinstance(r, RpcError)]
                lost = [r for _, _, r in results if isinstance(r, RpcError)]
                assert len(won) == 1, f"round {round_no} task {task_id}: {len(won)} winners: {results}"
                assert all((e.code, e.reason) == (ABORTED, "TASK_VERSION_CONFLICT") for e in lost), lost
                wins += 1
                winners.append(won[0][:2])
                after = get_task(client, task_id)
                assert after.version == before.version + 1
                assert after == won[0][2]
    finally:
        for c in clients:
            c.close()

    # The log records every attempt: one audit each, applied exactly for the winners.
    log = audits(db_path)
    assert len(log) == attempts
    assert sum(a.applied for a in log) == wins
    assert sorted((a.actor, a.command) for a in log if a.applied) == sorted(winners)
    assert all(a.reason == "TASK_VERSION_CONFLICT" for a in log if not a.applied)
    assert wins >= len(tasks)  # every task raced at least once


def test_eight_cli_processes_pausing_one_task_at_one_version_have_one_winner(server, cli, db_path, tmp_path):
    root = tmp_path / "ws"
    root.mkdir()
    cli.json("project", "create", "default", "--root", root)
    task = cli.json("task", "create", "--title", "contested")["task"]
    task = cli.json("task", "update", task["id"], "--status", "running")["task"]
    procs = [subprocess.Popen([BIN, "--rpc", server.url, "-o", "json", "task", "pause", task["id"],
                               "--expected-version", task["version"], "--actor", f"cli-{i}"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=child_env())
             for i in range(CLIENTS)]
    outcomes = []
    for p in procs:
        out, err = p.communicate(timeout=60)
        outcomes.append((p.returncode, err))
    assert sorted(rc for rc, _ in outcomes) == [0] + [1] * (CLIENTS - 1)
    assert all(err.startswith("error: ABORTED TASK_VERSION_CONFLICT:") for rc, err in outcomes if rc == 1)
    log = audits(db_path)
    assert len(log) == CLIENTS
    assert sum(a.applied for a in log) == 1
    assert {a.actor for a in log} == {f"cli-{i}" for i in range(CLIENTS)}


def test_racing_broadcasts_over_the_same_tasks_apply_each_task_once(server, client, db_path, workspace):
    make_default_project(client, workspace)
    ids, versions = [], []
    for i in range(10):
        t = client.call("TaskService", "CreateTask", task_pb2.CreateTaskRequest(title=f"b{i}"),
                        task_pb2.CreateTaskResponse).task
        t = client.call("TaskService", "UpdateTask",
                        task_pb2.UpdateTaskRequest(task_id=t.id, status=pb.TASK_STATUS_RUNNING,
                                                   update_mask=["status"]), task_pb2.UpdateTaskResponse).task
        ids.append(t.id)
        versions.append(t.version)
    clients = [Client(server.url, timeout=30) for _ in range(CLIENTS)]
    barrier = threading.Barrier(CLIENTS)
    replies = [None] * CLIENTS

    def one(i):
        req = task_pb2.BroadcastCommandRequest(command=pb.TASK_COMMAND_PAUSE, task_ids=ids,
                                               expected_versions=versions, actor=f"b-{i}")
        barrier.wait()
        replies[i] = clients[i].call("TaskService", "BroadcastCommand", req, task_pb2.BroadcastCommandResponse)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(CLIENTS)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
    finally:
        for c in clients:
            c.close()
    # A broadcast is one transaction: one client applies all ten, the others conflict on all ten.
    assert sorted(r.applied for r in replies) == [0] * (CLIENTS - 1) + [10]
    assert all(r.conflict == 10 for r in replies if r.applied == 0)
    log = audits(db_path)
    assert len(log) == CLIENTS * 10
    assert sum(a.applied for a in log) == 10


@pytest.fixture
def silent_upstream():
    """An "LLM" that accepts connections and never answers: a run calling it
    stays active for the whole test, whatever the machine's speed."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    sock.close()


def test_racing_run_requests_queue_one_run_per_task(db_path, rpc_url, workspace, silent_upstream):
    """8 clients ask for a run of one task at once: with 8 different keys one
    run is queued and 7 are TASK_RUN_ALREADY_ACTIVE; with one shared key all 8
    get that same run. The runs call an upstream that never answers, so the
    first run is still active when the last request arrives (an echo run can
    finish in between, and then a second run is rightly allowed)."""
    env = {"ANTHROPIC_API_KEY": "sk-ant-test-key", "ANTHROPIC_BASE_URL": silent_upstream}
    server = Server(db_path, rpc_url, env=env).start()
    client = Client(server.url, timeout=10)
    make_default_project(client, workspace)
    clients = [Client(server.url, timeout=30) for _ in range(CLIENTS)]

    def run_all(task_id, keys):
        barrier = threading.Barrier(CLIENTS)
        out = [None] * CLIENTS

        def one(i):
            req = task_pb2.RunTaskRequest(task_id=task_id, prompt="go", provider="anthropic",
                                         idempotency_key=keys[i])
            barrier.wait()
            try:
                out[i] = clients[i].call("TaskService", "RunTask", req, task_pb2.RunTaskResponse).run
            except RpcError as e:
                out[i] = e

        threads = [threading.Thread(target=one, args=(i,)) for i in range(CLIENTS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        return out

    try:
        for keys in ([f"key-{i}" for i in range(CLIENTS)], ["shared"] * CLIENTS):
            task = client.call("TaskService", "CreateTask", task_pb2.CreateTaskRequest(title="run once"),
                               task_pb2.CreateTaskResponse).task
            out = run_all(task.id, keys)
            runs = [r for r in out if not isinstance(r, RpcError)]
            errors = [r for r in out if isinstance(r, RpcError)]
            assert len({r.id for r in runs}) == 1
            if keys[0] == "shared":
                assert len(runs) == CLIENTS
            else:
                assert len(runs) == 1
                assert {(e.code, e.reason) for e in errors} == {(9, "TASK_RUN_ALREADY_ACTIVE")}
            listed = client.call("TaskService", "ListRuns", task_pb2.ListRunsRequest(task_id=task.id),
                                 task_pb2.ListRunsResponse).runs
            assert [r.id for r in listed] == [runs[0].id] and listed[0].attempt == 1
    finally:
        for c in clients:
            c.close()
        client.close()
        assert server.stop() == 0, server.log()
