"""Secrets and the audit trail from the outside (docs/security.md): a real server
with an API key and provider keys, the fake LLM, and what ends up in the
database file, the replies, the event stream and the server's log.

  - Secrets planted through every path that takes text (a provider's error
    body, Publish, AppendLog, task and inbox text, tool calls of an agent, an
    operator's input, an error message) are found nowhere afterwards: not in
    the bytes of the database and its WAL, not in any reply, not in any event
    a follower printed, not in the log.
  - 9,000 calls without the API key are a handful of security.audit.denied
    rows, each with its count and peer, and the counts add up.
  - A mutating call that succeeds commits security.audit.allowed with its
    change (one transaction: the events are adjacent, with the call's trace);
    a refused one and a read write none.
"""

import json
import os
import selectors
import subprocess
import time

import pytest

from beebeebrain.v1 import (admin_pb2, agent_pb2, common_pb2, event_pb2, events_pb2, inbox_pb2, log_pb2, project_pb2,
                            task_pb2, tool_pb2)
from beebeebrain import Client, RpcError
from conftest import BIN, PG, Server, child_env, sql, wait_until
from runtime_fixtures import RUNTIME_ENV, fake_llm  # noqa: F401  (fixture)

API_KEY = "bbbPlainApiKey7Hq2x"  # no shape a pattern knows: only the configured value can catch it
ANTHROPIC_KEY = "anthropicPlain0Key9z"
OPENAI_KEY = "openaiPlain1Key8y"

SERVER_ENV = {"BEEBEEBRAIN_API_KEY": API_KEY}


# ---- helpers -------------------------------------------------------------------------------------------------------


class Recorder:
    """A client that keeps the bytes of every reply and every error message."""

    def __init__(self, url, api_key=API_KEY):
        self.client = Client(url, timeout=10, api_key=api_key)
        self.replies = []

    def call(self, service, method, req, resp_cls, **kw):
        try:
            resp = self.client.call(service, method, req, resp_cls, **kw)
        except RpcError as e:
            self.replies.append(f"{e.reason} {e.message} {e.violations}".encode())
            raise
        self.replies.append(resp.SerializeToString())
        return resp

    def close(self):
        self.client.close()


def audit_rows(db_path, event_type):
    """(id, trace_id, SecurityAudit) of the events of a type, read from the database."""
    rows = sql(db_path, "SELECT id, trace_id, payload FROM events WHERE event_type = ? ORDER BY id", event_type,
               timeout_s=5)
    out = []
    for id_, trace, payload in rows:
        ev = events_pb2.Event()
        ev.ParseFromString(bytes(payload))
        out.append((id_, trace, ev.security_audit))
    return out


def follower(url, events_url):
    """`beebeebrain events --follow -o json` with the API key, as an operator runs it."""
    env = {**child_env(), "BEEBEEBRAIN_API_KEY": API_KEY}
    return subprocess.Popen([BIN, "--rpc", url, "events", "--follow", "-o", "json", "--events", events_url],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)


def read_until(proc, marker, timeout_s=30.0):
    """The bytes a follower printed up to and including the line with `marker`."""
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    out = b""
    deadline = time.monotonic() + timeout_s
    while marker.encode() not in out:
        left = deadline - time.monotonic()
        assert left > 0, f"the follower did not print {marker!r} within {timeout_s} s; got {out[-2000:]!r}"
        if sel.select(timeout=left):
            chunk = os.read(proc.stdout.fileno(), 65536)
            assert chunk, f"the follower ended early: {proc.stderr.read()!r}"
            out += chunk
    return out


def wait_run(rec, run_id, statuses, timeout_s=30):
    def done():
        run = rec.call("TaskService", "GetRun", task_pb2.GetRunRequest(run_id=run_id), task_pb2.GetRunResponse).run
        return run if common_pb2.RunStatus.Name(run.run_status).removeprefix("RUN_STATUS_").lower() in statuses \
            else None
    return wait_until(done, timeout_s, f"run {run_id} to become {statuses}")


def file_bytes(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        return b""


def assert_absent(where, data, secrets):
    found = [s for s in secrets if s.encode() in data]
    assert not found, f"{where} holds {found}"


# ---- redaction everywhere ------------------------------------------------------------------------------------------


def test_planted_secrets_are_in_no_byte_of_the_database_replies_events_or_log(tmp_path, rpc_url, fake_llm):  # noqa: F811
    fake_llm.reset()
    env = {**RUNTIME_ENV, "ANTHROPIC_BASE_URL": fake_llm.url, "OPENAI_BASE_URL": fake_llm.url + "/v1",
           "ANTHROPIC_API_KEY": ANTHROPIC_KEY, "OPENAI_API_KEY": OPENAI_KEY, "BEEBEEBRAIN_API_KEY": API_KEY}
    db = tmp_path / "sec.db"
    srv = Server(db, rpc_url, env=env).start()
    rec = Recorder(rpc_url)
    follow = follower(rpc_url, srv.events_url)
    secrets = [API_KEY, ANTHROPIC_KEY, OPENAI_KEY, "abc123"]

    def plant(value):
        secrets.append(value)
        return value

    try:
        time.sleep(0.3)  # the follower subscribes; anything it missed it replays
        root = tmp_path / "ws"
        root.mkdir()
        project = rec.call("ProjectService", "CreateProject",
                           project_pb2.CreateProjectRequest(name="p", root_path=str(root)),
                           project_pb2.CreateProjectResponse).project
        agent = rec.call("AgentService", "CreateAgent", agent_pb2.CreateAgentRequest(
            project_id=project.id, name="a", role="coder", model_provider="anthropic",
            model_name="claude-sonnet-4-5", enabled_tools=["append_log", "finish_task", "request_input"],
            persona_prompt=f"you hold token={plant('personaTok1')}"),
            agent_pb2.CreateAgentResponse).agent

        def task(title, description=""):
            return rec.call("TaskService", "CreateTask", task_pb2.CreateTaskRequest(
                project_id=project.id, title=title, description=description, assignee_agent_id=agent.id),
                task_pb2.CreateTaskResponse).task

        def run(task_id, prompt):
            return rec.call("TaskService", "RunTask", task_pb2.RunTaskRequest(task_id=task_id, prompt=prompt),
                            task_pb2.RunTaskResponse).run

        # 1. A provider's 401 whose body quotes keys: stored as the run's error message.
        fake_llm.script([{"status": 401, "error": f"bad api_key=abc123 (key {ANTHROPIC_KEY} revoked)"}])
        t1 = task("t1", f"rotate it: password={plant('taskDescPass4')}")
        failed = wait_run(rec, run(t1.id, "hello").id, ("failed",))
        assert failed.error_code == "LLM_AUTHENTICATION_FAILED"
        assert "api_key=[REDACTED]" in failed.error_message and "key [REDACTED] revoked" in failed.error_message

        # 2. An agent that logs a secret through its tool and finishes with one.
        fake_llm.script([
            {"tool_calls": [{"name": "append_log", "arguments": {"message": f"saw secret={plant('toolSecret9')}"}}]},
            {"tool_calls": [{"name": "finish_task", "arguments": {"summary": f"done, token={plant('finishTok10')}"}}]},
        ])
        t2 = task("t2")
        r2 = run(t2.id, f"use {OPENAI_KEY} and token={plant('runPromptTok6')}")
        wait_run(rec, r2.id, ("succeeded",))

        # 3. An agent that asks for input with a secret in it; the operator answers with one.
        fake_llm.script([{"tool_calls": [{"name": "request_input", "arguments": {
            "title": f"need token={plant('askTitle12')}", "content": f"the password: {plant('askPass11')}"}}]}])
        t3 = task("t3")
        r3 = run(t3.id, "ask me")
        wait_run(rec, r3.id, ("interrupted",))
        items = rec.call("InboxService", "ListItems", inbox_pb2.ListItemsRequest(project_id=project.id),
                         inbox_pb2.ListItemsResponse).items
        ask = next(i for i in items if i.source_id == t3.id)
        closed = rec.call("InboxService", "CloseItem", inbox_pb2.CloseItemRequest(
            item_id=ask.id, user_input=f"use secret={plant('closeInput13')} and {API_KEY}"),
            inbox_pb2.CloseItemResponse)
        wait_run(rec, closed.run.id, ("succeeded",))

        # 4. Operators' text: Publish (message and data), log lines of every shape, an inbox note.
        rec.call("EventService", "Publish", event_pb2.PublishRequest(
            event_type="operator.deploy", actor="ops", message=f"deploy with token={plant('pubTok3nValue')}",
            data_json=json.dumps({"password": plant("pubJsonPass"), "note": plant("sk-ant-api03-PublishShape00"),
                                  "token": 424242})), event_pb2.PublishResponse)
        for line in (f"using {API_KEY} now", f"anthropic {ANTHROPIC_KEY}, openai {OPENAI_KEY}",
                     f"api_key: {plant('logColonKey1')}", f"secret: {plant('logSecretVal2')}",
                     json.dumps({"password": plant("logJsonPass3")}),
                     f"Authorization: Basic {plant('dXNlcjpsb2dCYXNpYw==')}",
                     f"aws {plant('AKIALOGKEY0123456789')}", f"gh {plant('ghp_LogToken0123456789abcdefghij')}"):
            line_reply = rec.call("LogService", "AppendLog", log_pb2.AppendLogRequest(run_id=r2.id, message=line),
                                  log_pb2.AppendLogResponse).line
            assert "[REDACTED]" in line_reply.message, line_reply.message
        rec.call("InboxService", "CreateItem", inbox_pb2.CreateItemRequest(
            project_id=project.id, title=f"note token={plant('noteTitle14')}",
            content=f"the secret: {plant('inboxSecret5')}"), inbox_pb2.CreateItemResponse)

        # 5. An agent calling back through ToolService: its question is stored with the item and, as the
        #    first reply, under its idempotency key (returned again for a repeated key).
        t4 = task("t4")
        rec.call("TaskService", "UpdateTask", task_pb2.UpdateTaskRequest(
            task_id=t4.id, status=common_pb2.TASK_STATUS_RUNNING, update_mask=["status"]), task_pb2.UpdateTaskResponse)
        for _ in range(2):
            rec.call("ToolService", "RequestInput", tool_pb2.RequestInputRequest(
                task_id=t4.id, idempotency_key="ask-1", title=f"token={plant('toolTitle15')}",
                content=f"my password: {plant('toolContent16')}"), tool_pb2.RequestInputResponse)

        # 6. An error message that quotes the caller's text.
        with pytest.raises(RpcError):
            rec.call("TaskService", f"token={plant('methodTok8')}", task_pb2.GetTaskRequest(task_id=1),
                     task_pb2.GetTaskResponse)

        # Read everything back, as an operator would.
        for req, resp in ((task_pb2.ListRunsRequest(), task_pb2.ListRunsResponse),):
            rec.call("TaskService", "ListRuns", req, resp)
        for t in (t1, t2, t3):
            rec.call("TaskService", "GetTask", task_pb2.GetTaskRequest(task_id=t.id), task_pb2.GetTaskResponse)
        for r in (failed.id, r2.id, r3.id):
            rec.call("TaskService", "GetRun", task_pb2.GetRunRequest(run_id=r), task_pb2.GetRunResponse)
        rec.call("LogService", "QueryLogs", log_pb2.QueryLogsRequest(limit=200), log_pb2.QueryLogsResponse)
        rec.call("InboxService", "ListItems", inbox_pb2.ListItemsRequest(), inbox_pb2.ListItemsResponse)
        rec.call("AgentService", "GetAgent", agent_pb2.GetAgentRequest(agent_id=agent.id),
                 agent_pb2.GetAgentResponse)
        replay = rec.call("EventService", "Replay", event_pb2.ReplayRequest(last_n=1000), event_pb2.ReplayResponse)
        assert any(e.event_type == "operator.deploy" for e in replay.events)
        data = next(e.custom.data_json for e in replay.events if e.event_type == "operator.deploy")
        assert json.loads(data) == {"password": "[REDACTED]", "note": "[REDACTED]", "token": "[REDACTED]"}

        rec.call("EventService", "Publish", event_pb2.PublishRequest(event_type="operator.sweep_done"),
                 event_pb2.PublishResponse)
        followed = read_until(follow, "operator.sweep_done")
        assert b"operator.deploy" in followed and b"run.log" in followed

        assert_absent("the database file", file_bytes(db), secrets)
        assert_absent("the WAL", file_bytes(f"{db}-wal"), secrets)
        assert_absent("a reply", b"\n".join(rec.replies), secrets)
        assert_absent("the followed events", followed, secrets)
    finally:
        follow.kill()
        follow.wait()
        rec.close()
        rc = srv.stop()
    assert rc == 0, srv.log()
    assert_absent("the database file after shutdown", file_bytes(db) + file_bytes(f"{db}-wal"), secrets)
    assert_absent("the server's log", srv.log().encode(), secrets)


# ---- the audit trail -----------------------------------------------------------------------------------------------


def test_nine_thousand_refused_calls_are_a_handful_of_counted_rows(server, db_path, cli):
    anonymous = Client(server.url, timeout=10)
    req = task_pb2.CreateTaskRequest(title="no key")

    def refuse():
        with pytest.raises(RpcError) as e:
            anonymous.call("TaskService", "CreateTask", req, task_pb2.CreateTaskResponse)
        assert e.value.reason == "UNAUTHORIZED"

    try:
        refuse()
        # The first refusal is written promptly, with its count and the peer.
        rows = wait_until(lambda: audit_rows(db_path, "security.audit.denied"), 5, "the first denial's row")
        assert len(rows) == 1
        first = rows[0][2]
        assert (first.count, first.peer, first.reason, first.action) == (
            1, "127.0.0.1", "UNAUTHORIZED", "TaskService/CreateTask")
        for _ in range(8999):
            refuse()
        # Other connections from the same host (new ports) count under the same peer.
        for _ in range(3):
            rc, _, err = cli("task", "get", "1")
            assert rc == 1 and "UNAUTHENTICATED" in err
        assert len(audit_rows(db_path, "security.audit.denied")) <= 2
    finally:
        anonymous.close()
    assert server.stop() == 0
    # The first one, then one per 60 s window (one or two windows on a slow machine).
    rows = [a for _, _, a in audit_rows(db_path, "security.audit.denied")]
    assert 2 <= len(rows) <= 4, [(a.count, a.peer) for a in rows]
    assert sum(a.count for a in rows) == 9003
    assert all(a.peer == "127.0.0.1" and a.reason == "UNAUTHORIZED" and a.count >= 1 for a in rows)
    assert all(a.first_at_ms <= a.last_at_ms for a in rows)
    # The last window counted both methods.
    assert rows[-1].action == "*"


def test_a_mutating_call_commits_its_allowed_audit_with_the_change_and_a_read_does_not(server, db_path):
    with Client(server.url, timeout=10, api_key=API_KEY) as c:
        def replay_after(after_id):
            return c.call("EventService", "Replay", event_pb2.ReplayRequest(after_id=after_id),
                          event_pb2.ReplayResponse)

        project = c.call("ProjectService", "CreateProject",
                         project_pb2.CreateProjectRequest(name="p", root_path="/tmp/bbb-audit"),
                         project_pb2.CreateProjectResponse).project
        created = c.call("TaskService", "CreateTask", task_pb2.CreateTaskRequest(project_id=project.id, title="t"),
                         task_pb2.CreateTaskResponse, trace_id="trace-create").task
        head = replay_after(0).head_id
        c.call("TaskService", "UpdateTask", task_pb2.UpdateTaskRequest(
            task_id=created.id, status=common_pb2.TASK_STATUS_RUNNING, update_mask=["status"], actor="bob"),
            task_pb2.UpdateTaskResponse)
        before = replay_after(0).head_id
        c.call("TaskService", "PauseTask", task_pb2.PauseTaskRequest(task_id=created.id, actor="alice"),
               task_pb2.PauseTaskResponse, trace_id="trace-pause-1")

        events = replay_after(before).events
        assert [e.event_type for e in events] == [
            "task.status.changed", "task.intervention.audit", "security.audit.allowed"]
        # One transaction: adjacent ids, the call's trace on each.
        assert [e.id for e in events] == [before + 1, before + 2, before + 3]
        assert {e.trace_id for e in events} == {"trace-pause-1"}
        audit = events[-1].security_audit
        assert (audit.actor, audit.action, audit.resource, audit.reason, audit.count) == (
            "alice", "TaskService/PauseTask", f"task/{created.id}", "API key accepted", 1)
        assert audit.peer.startswith("127.0.0.1:") and int(audit.peer.split(":")[1]) > 0

        # The earlier calls: who and what, one row each, in the order of the calls.
        earlier = [e for e in replay_after(0).events if e.event_type == "security.audit.allowed" and e.id <= before]
        assert [(e.security_audit.action, e.security_audit.actor, e.security_audit.resource) for e in earlier] == [
            ("ProjectService/CreateProject", "api", f"project/{project.id}"),
            ("TaskService/CreateTask", "api", f"task/{created.id}"),
            ("TaskService/UpdateTask", "bob", f"task/{created.id}")]
        assert earlier[1].trace_id == "trace-create" and earlier[1].id <= head

        # A command's own trace_id (a field of the task commands) is the trace of all it wrote.
        before = replay_after(0).head_id
        c.call("TaskService", "ResumeTask", task_pb2.ResumeTaskRequest(task_id=created.id, trace_id="cmd-trace-7"),
               task_pb2.ResumeTaskResponse)
        assert {e.trace_id for e in replay_after(before).events} == {"cmd-trace-7"}

        # A write that rolls back writes no audit; reads write nothing.
        head = replay_after(0).head_id
        with pytest.raises(RpcError) as e:
            c.call("TaskService", "UpdateTask", task_pb2.UpdateTaskRequest(
                task_id=created.id, title="x", update_mask=["title"], expected_version=1),
                task_pb2.UpdateTaskResponse)
        assert e.value.reason == "TASK_VERSION_CONFLICT"
        c.call("TaskService", "GetTask", task_pb2.GetTaskRequest(task_id=created.id), task_pb2.GetTaskResponse)
        c.call("TaskService", "ListTasks", task_pb2.ListTasksRequest(), task_pb2.ListTasksResponse)
        c.call("ProjectService", "GetProject", project_pb2.GetProjectRequest(project_id=project.id),
               project_pb2.GetProjectResponse)
        assert replay_after(0).head_id == head

        if PG:
            # Backup copies a SQLite file: refused on PostgreSQL, which pg_dump backs up.
            with pytest.raises(RpcError) as e:
                c.call("AdminService", "Backup", admin_pb2.BackupRequest(out_path="/tmp/bbb-audit.bak"),
                       admin_pb2.BackupResponse, trace_id="trace-backup")
            assert (e.value.code_name, e.value.reason) == ("FAILED_PRECONDITION", "DB_ENGINE_UNSUPPORTED")
            return
        # A mutating call that changes no row is audited in a write of its own, just after.
        c.call("AdminService", "Backup", admin_pb2.BackupRequest(out_path=f"{db_path}.audit.bak"),
               admin_pb2.BackupResponse, trace_id="trace-backup")
        last = wait_until(lambda: replay_after(head).events, 5, "the audit of the backup")
        assert [(e.event_type, e.trace_id, e.security_audit.action, e.security_audit.resource) for e in last] == [
            ("security.audit.allowed", "trace-backup", "AdminService/Backup", "AdminService")]
    assert audit_rows(db_path, "security.audit.denied") == []
