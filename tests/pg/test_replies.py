"""The reply cache shared by the servers of one PostgreSQL database
(docs/protocol.md, Request ids; docs/scale-out.md): a mutating call repeated
with its request_id on another server gets the first reply and runs once, a
copy that arrives while the first still runs elsewhere waits for its reply
(until its deadline), and the claim of a server that died is taken over once
its lease passed."""
import re
import threading
import time

import psycopg2
import pytest

from beebeebrain.v1 import admin_pb2, common_pb2, rpc_pb2, task_pb2
from conftest import integration, start_server
from test_leases import Fake

Cli = integration.Cli
Client = integration.Client
wait_until = integration.wait_until

CREATE_TASK = "/beebeebrain.v1.TaskService/CreateTask"
RUN_TASK = "/beebeebrain.v1.TaskService/RunTask"
RESOURCE_EXHAUSTED = 8
# Claims of request ids are leased like runs (BEEBEEBRAIN_LEASE_MS), renewed every third of it.
LEASE_MS = 3000


@pytest.fixture
def fake():
    f = Fake()
    yield f
    f.stop()


@pytest.fixture
def servers(pg_db, tmp_path, fake):
    """start(seeded=...): a server on the test's database, its provider
    "anthropic" the fake; stopped at the end, it must exit 0 (a killed one is
    not)."""
    started = []
    env = {"ANTHROPIC_API_KEY": "sk-ant-test-key", "ANTHROPIC_BASE_URL": fake.url,
           "BEEBEEBRAIN_LLM_TIMEOUT_S": "60", "BEEBEEBRAIN_LEASE_MS": str(LEASE_MS)}

    def start(seeded=False, extra_args=()):
        srv = start_server(pg_db, tmp_path / f"server{len(started)}", env=env, seeded=seeded, extra_args=extra_args)
        started.append(srv)
        return srv

    yield start
    for srv in started:
        if srv.running():
            assert srv.stop() == 0, srv.log()


def server_id(srv):
    m = re.search(r"server ([0-9a-f]{16}): runs it starts are leased", srv.log())
    assert m, srv.log()
    return m.group(1)


def rows(pg_db, sql, *args):
    conn = psycopg2.connect(pg_db)
    try:
        with conn, conn.cursor() as cur:
            cur.execute(sql, args)
            if cur.description is None:
                return None
            return [tuple(bytes(v) if isinstance(v, memoryview) else v for v in row) for row in cur.fetchall()]
    finally:
        conn.close()


def envelope(method, request, request_id, timeout_ms=20000):
    return rpc_pb2.RpcRequest(method=method, payload=request.SerializeToString(), timeout_ms=timeout_ms,
                              request_id=request_id).SerializeToString()


def call(srv, data, timeout_s=30):
    """The raw reply (bytes) of one envelope sent to srv."""
    with Client(srv.url, timeout=timeout_s) as c:
        return c.raw(data, timeout=timeout_s)


def reply_of(data):
    r = rpc_pb2.RpcResponse()
    r.ParseFromString(data)
    return r


def task_titles(pg_db):
    return [t for (t,) in rows(pg_db, "SELECT title FROM tasks ORDER BY id")]


def setup_agent(srv, tmp_path):
    """A project and an agent on the fake; a task assigned to it: the task's id."""
    cli = Cli(srv.url, tmp_path)
    root = tmp_path / "workspace"
    root.mkdir()
    project = cli.json("project", "create", "p", "--root", str(root))["project"]["id"]
    agent = cli.json("agent", "create", "--project", project, "--name", "a", "--role", "coder", "--provider",
                     "anthropic", "--model", "claude-sonnet-4-5")["agent"]["id"]
    return int(cli.json("task", "create", "--project", project, "--title", "t", "--assignee", agent)["task"]["id"])


def test_a_retry_on_another_server_gets_the_first_reply_and_the_call_runs_once(servers, pg_db):
    a, b = servers(seeded=True), servers()
    create = envelope(CREATE_TASK, task_pb2.CreateTaskRequest(title="once across servers"), "retry-across-1")
    first = call(a, create)
    assert reply_of(first).code == 0, reply_of(first)
    again = call(b, create)
    assert again == first  # the same reply: the same task id, even the first call's trace id
    assert task_titles(pg_db) == ["once across servers"]
    assert rows(pg_db, "SELECT method, owner, state FROM replies WHERE request_id = 'retry-across-1'") == [
        (CREATE_TASK, server_id(a), "done")]
    # A new request_id is a new call, wherever it lands.
    other = call(b, envelope(CREATE_TASK, task_pb2.CreateTaskRequest(title="once across servers"), "retry-across-2"))
    assert reply_of(other).code == 0
    assert task_titles(pg_db) == ["once across servers"] * 2


def test_a_copy_sent_to_another_server_while_the_first_runs_waits_for_its_reply(servers, pg_db, tmp_path, fake):
    a, b = servers(), servers()
    task = setup_agent(a, tmp_path)
    fake.mode(status=200, delay_ms=3000)  # the first copy's provider call takes a while
    run = envelope(RUN_TASK, task_pb2.RunTaskRequest(task_id=task, prompt="only once", wait=True), "slow-run-1")
    replies = {}
    first = threading.Thread(target=lambda: replies.setdefault("a", call(a, run)))
    first.start()
    try:
        wait_until(lambda: len(fake.calls_for("only once")) == 1, 20, "the first copy's call at the fake")
        assert rows(pg_db, "SELECT owner, state FROM replies WHERE request_id = 'slow-run-1'") == [
            (server_id(a), "running")]
        replies["b"] = call(b, run)  # sent while A still runs it: waits for A's reply
    finally:
        first.join()
    assert replies["b"] == replies["a"]
    r = reply_of(replies["a"])
    assert r.code == 0, r
    done = task_pb2.RunTaskResponse.FromString(r.payload).run
    assert done.run_status == common_pb2.RUN_STATUS_SUCCEEDED, done
    assert rows(pg_db, "SELECT count(*) FROM task_runs WHERE task_id = %s", task) == [(1,)]
    assert len(fake.calls_for("only once")) == 1


def test_a_live_claim_of_another_server_holds_a_copy_until_its_deadline_and_a_lapsed_one_is_taken_over(
        servers, pg_db):
    b = servers(seeded=True)
    # A claim as a server that is running the call elsewhere leaves it: its lease is far ahead.
    rows(pg_db, "INSERT INTO replies (request_id, method, owner, state, created_at, expires_at) "
         "VALUES ('held-1', %s, 'feedfacefeedface', 'running', 0, 9000000000000)", CREATE_TASK)
    create = envelope(CREATE_TASK, task_pb2.CreateTaskRequest(title="held elsewhere"), "held-1", timeout_ms=1500)
    busy = reply_of(call(b, create))
    assert (busy.code, busy.reason) == (RESOURCE_EXHAUSTED, "OVERLOADED"), busy
    assert task_titles(pg_db) == []
    # Its server died: the lease passed without a renewal. The next copy runs, once.
    rows(pg_db, "UPDATE replies SET expires_at = 1 WHERE request_id = 'held-1'")
    taken = call(b, create)
    assert reply_of(taken).code == 0, reply_of(taken)
    assert task_titles(pg_db) == ["held elsewhere"]
    assert rows(pg_db, "SELECT owner, state, reply FROM replies WHERE request_id = 'held-1'") == [
        (server_id(b), "done", taken)]
    assert call(b, create) == taken
    assert "the claim of server feedfacefeedface lapsed" in b.log()


def test_the_claim_of_a_killed_server_is_taken_over_once_its_lease_passed(servers, pg_db, tmp_path, fake):
    a = servers()
    task = setup_agent(a, tmp_path)
    fake.mode(status=200, delay_ms=120000)  # hangs until the kill
    run = envelope(RUN_TASK, task_pb2.RunTaskRequest(task_id=task, prompt="outlives its server", wait=True,
                                                     idempotency_key="kill-run-1"), "kill-req-1", timeout_ms=60000)
    lost = threading.Thread(target=lambda: pytest.raises(integration.RpcError, call, a, run), daemon=True)
    lost.start()
    wait_until(lambda: len(fake.calls_for("outlives its server")) == 1, 20, "the call at the fake")
    assert rows(pg_db, "SELECT owner, state FROM replies WHERE request_id = 'kill-req-1'") == [
        (server_id(a), "running")]
    b = servers()  # started now, so that the run is A's
    a.proc.kill()  # dies with the call in flight: its claim is never stored nor let go
    a.proc.wait()
    fake.mode(status=0)
    # The client's retry lands on B: it waits for A's claim to lapse, takes it over, and runs the call,
    # which finds the run A made (its idempotency key) and waits for B to resume it.
    reply = call(b, run, timeout_s=60)
    r = reply_of(reply)
    assert r.code == 0, r
    got = task_pb2.RunTaskResponse.FromString(r.payload).run
    assert got.run_status == common_pb2.RUN_STATUS_SUCCEEDED, got
    assert rows(pg_db, "SELECT count(*) FROM task_runs WHERE task_id = %s", task) == [(1,)]
    assert rows(pg_db, "SELECT owner, state, reply FROM replies WHERE request_id = 'kill-req-1'") == [
        (server_id(b), "done", reply)]
    assert f"the claim of server {server_id(a)} lapsed" in b.log()
    lost.join()


def test_a_write_whose_session_was_lost_is_not_kept_and_its_retry_on_another_server_runs(servers, pg_db):
    """DB_UNAVAILABLE (the session lost under the write) is no answer for
    good: a kept copy would answer every retry, on any server, with the
    failure of a connection that is gone."""
    a = servers(seeded=True, extra_args=("--enable-fault-injection",))
    # A alone, so that the one session waiting is its writer's. A's writer is made to wait for the write lock (its own db_lock fault holds it) ...
    fault = call(a, envelope("/beebeebrain.v1.AdminService/InjectFault",
                             admin_pb2.InjectFaultRequest(mode="db_lock", duration_ms=4000), "fault-1"))
    assert reply_of(fault).code == 0, reply_of(fault)
    create = envelope(CREATE_TASK, task_pb2.CreateTaskRequest(title="lost once"), "lost-session-1")
    result = {}
    writer = threading.Thread(target=lambda: result.update(reply=call(a, create)))
    writer.start()
    waiting = ("SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
               "AND wait_event_type = 'Lock' AND wait_event = 'advisory'")
    # ... and its session is ended while it waits (as a restart of the database would), again for
    # each new session, until the group that holds the call (not only the fault's audit row) failed.
    deadline = time.monotonic() + 3.5
    while writer.is_alive() and time.monotonic() < deadline:
        rows(pg_db, f"SELECT pg_terminate_backend(pid, 10000) FROM ({waiting} OFFSET 0) s")
        time.sleep(0.02)
    writer.join(30)
    lost = reply_of(result["reply"])
    assert (lost.code, lost.reason) == (14, "DB_UNAVAILABLE"), lost
    assert task_titles(pg_db) == []
    assert rows(pg_db, "SELECT count(*) FROM replies WHERE request_id = 'lost-session-1'") == [(0,)]
    # The retry on B runs (once the fault lets go of the lock), and its reply is the one kept.
    b = servers()
    again = reply_of(call(b, create))
    assert again.code == 0, again
    assert task_titles(pg_db) == ["lost once"]
    assert rows(pg_db, "SELECT owner, state FROM replies WHERE request_id = 'lost-session-1'") == [
        (server_id(b), "done")]
