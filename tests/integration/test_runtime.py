"""The runtime against real HTTP (docs/runtime.md): runs of the real
server call the fake provider (tests/fake_llm/fake_llm.py) on loopback.

Covered here: retry on timeout with its alert, Retry-After, final errors, the
attempt cap, pause of an in-flight call and resume (also a resume racing the
abort), a tool-calling conversation over both APIs, the echo provider on a
brand-new database and what its runs record, and the injected faults
llm_timeout and file_permission.
The breaker (an outage; conversations waiting on it) and crash recovery are in
test_runtime_recovery.py.
"""

import time

import pytest

from beebeebrain.v1 import task_pb2
from beebeebrain import Client
from conftest import Server, wait_until
from runtime_fixtures import fake_llm, queue_runs, rt, start_runtime  # noqa: F401  (fixtures)


def statuses(events):
    return [e["to_status"].removeprefix("RUN_STATUS_").lower() for e in events]


# ---- retries and errors ------------------------------------------------------------------------------------------


def test_timeout_schedules_a_retry_that_succeeds_and_raises_llm_timeout(rt):
    rt.fake.script([{"delay_ms": 2500}])  # the first call outlives its 1 s limit; the next one is answered
    task_id, run_id = rt.task_and_run("slow answer", "anthropic", "--timeout", 1)

    run = rt.wait_run(run_id)
    assert run["run_status"] == "succeeded"
    assert run["output_text"] == "fake reply: slow answer"
    assert run["retry_count"] == 1
    first, second = rt.attempts(run_id)
    assert (first["error_code"], first["http_status"]) == ("LLM_TIMEOUT", 0)
    assert 1000 <= first["ended_at"] - first["started_at"] < 2500
    assert (second["error_code"], second["http_status"]) == ("", 200)

    # running -> retry_scheduled (with next_retry_at) -> running -> succeeded, each an event.
    events = rt.run_events(run_id)
    assert statuses(events) == ["queued", "running", "retry_scheduled", "running", "succeeded"]
    retry = events[2]
    assert retry["error_code"] == "LLM_TIMEOUT"
    next_retry_at = int(retry["next_retry_at_ms"])
    assert first["ended_at"] <= next_retry_at <= second["started_at"]
    assert len(rt.fake.requests_for("slow answer")) == 2

    # The endpoint's error alert was raised with the code, and resolved by the success.
    alerts = rt.rows("SELECT * FROM alerts WHERE code = 'LLM_TIMEOUT'")
    assert len(alerts) == 1
    assert alerts[0]["dedup_key"] == f"LLM_CALL_ERRORS:anthropic {rt.fake.url}"
    assert alerts[0]["run_id"] == run_id
    assert alerts[0]["status"] == "resolved"
    assert rt.task_status(task_id) == "review"


def test_server_call_timeout_applies_to_runs_without_their_own(start_runtime):
    rt = start_runtime(BEEBEEBRAIN_LLM_TIMEOUT_S="1")
    rt.fake.script([{"delay_ms": 2500}])
    _, run_id = rt.task_and_run("server timeout")

    rt.wait_run(run_id)
    assert rt.attempts(run_id)[0]["error_code"] == "LLM_TIMEOUT"


def test_rate_limited_call_is_not_retried_before_retry_after(rt):
    rt.fake.script([{"status": 429, "headers": {"Retry-After": "3"}, "error": "slow down"}])
    _, run_id = rt.task_and_run("rate limited")

    run = rt.wait_run(run_id, timeout_s=20)
    assert run["run_status"] == "succeeded"
    first, second = rt.attempts(run_id)
    assert (first["http_status"], first["error_code"], first["retry_after_ms"]) == (429, "LLM_RATE_LIMITED", 3000)
    assert second["started_at"] - first["ended_at"] >= 3000
    # The fake saw it too: its second request came at least 3 s after the first was answered.
    calls = rt.fake.requests_for("rate limited")
    assert len(calls) == 2
    assert calls[1]["t_ms"] - calls[0]["t_ms"] >= 3000


def test_authentication_failure_fails_the_run_at_once(rt):
    rt.fake.script([{"status": 401, "error": "invalid x-api-key"}])
    task_id, run_id = rt.task_and_run("bad key")

    run = rt.wait_run(run_id)
    assert (run["run_status"], run["error_code"], run["retry_count"]) == ("failed", "LLM_AUTHENTICATION_FAILED", 0)
    assert "invalid x-api-key" in run["error_message"]
    assert [(a["http_status"], a["error_code"]) for a in rt.attempts(run_id)] == [(401, "LLM_AUTHENTICATION_FAILED")]
    assert statuses(rt.run_events(run_id)) == ["queued", "running", "failed"]
    assert rt.task_status(task_id) == "failed"
    assert len(rt.fake.requests_for("bad key")) == 1
    time.sleep(0.6)  # three dispatcher ticks: still exactly one call
    assert len(rt.fake.requests_for("bad key")) == 1


def test_attempts_are_capped_at_max_attempts(rt):
    rt.fake.script([{"status": 500}] * 6)  # more failures than attempts: the run must stop at 4
    task_id, run_id = rt.task_and_run("always failing")

    run = rt.wait_run(run_id, timeout_s=20)
    assert (run["run_status"], run["error_code"], run["retry_count"]) == ("failed", "LLM_PROVIDER_UNAVAILABLE", 3)
    attempts = rt.attempts(run_id)
    assert [a["n"] for a in attempts] == [1, 2, 3, 4]
    assert {(a["http_status"], a["error_code"]) for a in attempts} == {(500, "LLM_PROVIDER_UNAVAILABLE")}
    assert statuses(rt.run_events(run_id)) == ["queued"] + ["running", "retry_scheduled"] * 3 + ["running", "failed"]
    assert rt.task_status(task_id) == "failed"
    assert len(rt.fake.requests_for("always failing")) == 4


def test_a_protocol_error_is_retried_once_per_run(rt):
    # Two unusable answers in a row: the first is retried, the second fails the run (retryable once per run).
    # Each retry is a fresh start of the run, so the count must come from its recorded attempts.
    rt.fake.script([{"malformed": True}, {"malformed": True}])
    task_id, run_id = rt.task_and_run("garbled answers")

    run = rt.wait_run(run_id)
    assert (run["run_status"], run["error_code"], run["retry_count"]) == ("failed", "LLM_PROTOCOL_ERROR", 1)
    assert [(a["http_status"], a["error_code"]) for a in rt.attempts(run_id)] == [(200, "LLM_PROTOCOL_ERROR")] * 2
    assert statuses(rt.run_events(run_id)) == ["queued", "running", "retry_scheduled", "running", "failed"]
    assert len(rt.fake.requests_for("garbled answers")) == 2
    assert rt.task_status(task_id) == "failed"


# ---- pause and resume --------------------------------------------------------------------------------------------


def test_pause_aborts_the_call_in_flight_and_resume_completes_the_run(rt):
    rt.fake.script([{"delay_ms": 5000}])
    task_id, run_id = rt.task_and_run("long call")
    wait_until(lambda: len(rt.fake.requests_for("long call")) == 1, 10, "the call to reach the fake")

    paused_at = time.monotonic()
    rt.cli.json("task", "pause", task_id)
    run = rt.wait_run(run_id, "interrupted", timeout_s=10)
    assert time.monotonic() - paused_at < 3, "the call was not aborted: the run waited for the answer"
    assert run["error_code"] == "TASK_PAUSED"
    assert rt.task_status(task_id) == "blocked"
    [attempt] = rt.attempts(run_id)
    assert attempt["error_code"] == "TASK_PAUSED"
    assert attempt["ended_at"] - attempt["started_at"] < 3000

    # While paused nothing of the task is started (the dispatcher ticks every 200 ms).
    time.sleep(1.0)
    assert len(rt.fake.requests_for("long call")) == 1
    assert rt.run_row(run_id)["run_status"] == "interrupted"

    rt.cli.json("task", "resume", task_id)
    run = rt.wait_run(run_id, timeout_s=10)
    assert run["run_status"] == "succeeded"
    assert run["output_text"] == "fake reply: long call"
    assert [(a["n"], a["error_code"], a["http_status"]) for a in rt.attempts(run_id)] == [
        (1, "TASK_PAUSED", 0), (2, "", 200)]
    assert statuses(rt.run_events(run_id)) == ["queued", "running", "interrupted", "running", "succeeded"]
    assert len(rt.fake.requests_for("long call")) == 2
    assert rt.task_status(task_id) == "review"


def test_resume_right_after_pause_is_never_undone_by_the_aborted_call(start_runtime):
    """40 calls in flight, each task paused and at once resumed. Whether the
    dispatcher saw the pause or not, every task ends up running its run to the
    end: the aborted call's outcome must not put a resumed task back to blocked."""
    rt = start_runtime(BEEBEEBRAIN_LLM_TIMEOUT_S="60")
    rt.fake.mode(status=200, delay_ms=15000)  # in flight for all 40 pauses and resumes, however slow the machine
    prompts = [f"pause and resume {i}" for i in range(40)]
    with Client(rt.server.url, timeout=10) as client:
        run_ids = queue_runs(client, rt.project_id, rt.agent_ids["anthropic"], prompts)
        wait_until(lambda: rt.fake.count() == len(prompts), 20, "40 calls in flight")
        for run_id in run_ids:
            task_id = rt.run_row(run_id)["task_id"]
            client.call("TaskService", "PauseTask", task_pb2.PauseTaskRequest(task_id=task_id),
                        task_pb2.PauseTaskResponse)
            client.call("TaskService", "ResumeTask", task_pb2.ResumeTaskRequest(task_id=task_id),
                        task_pb2.ResumeTaskResponse)
    rt.fake.mode(status=0)

    settled = "SELECT count(*) FROM task_runs WHERE run_status IN ('succeeded', 'failed', 'cancelled')"
    wait_until(lambda: rt.value(settled) == len(prompts) or rt.value(
        "SELECT count(*) FROM tasks WHERE status = 'blocked'"), 40, "every run to end")
    assert rt.rows("SELECT status, count(*) AS n FROM tasks GROUP BY status") == [{"status": "review", "n": 40}]
    assert rt.value("SELECT count(*) FROM task_runs WHERE run_status = 'succeeded'") == 40
    # A call that was aborted left its TASK_PAUSED attempt and was made again.
    for run_id in run_ids:
        codes = [a["error_code"] for a in rt.attempts(run_id)]
        assert codes in ([""], ["TASK_PAUSED", ""]), (run_id, codes)


# ---- the agent loop with tools -----------------------------------------------------------------------------------


@pytest.mark.parametrize("provider", ["anthropic", "openai"])
def test_tool_calling_conversation_writes_reads_and_finishes(rt, provider):
    rt.fake.script([
        {"tool_calls": [{"name": "write_file", "arguments": {"path": "notes/hello.txt", "content": "hello, tools\n"}}]},
        {"tool_calls": [{"name": "read_file", "arguments": {"path": "notes/hello.txt"}}]},
        {"tool_calls": [{"name": "finish_task", "arguments": {"summary": "wrote notes/hello.txt and read it back"}}]},
    ])
    task_id, run_id = rt.task_and_run("write a note", provider)

    run = rt.wait_run(run_id)
    assert run["run_status"] == "succeeded", run
    assert run["output_text"] == "wrote notes/hello.txt and read it back"
    assert (rt.root / "notes" / "hello.txt").read_text() == "hello, tools\n"
    assert [(a["n"], a["http_status"]) for a in rt.attempts(run_id)] == [(1, 200), (2, 200), (3, 200)]
    assert (run["token_in"], run["token_out"]) == (30, 9)  # the fake's 10 in / 3 out per call, summed
    assert rt.task_status(task_id) == "review"

    # Each turn carried the conversation so far: the tool results went back to the model.
    calls = rt.fake.requests_for("write a note")
    assert len(calls) == 3
    assert "wrote" in str(calls[1]["body"]["messages"])
    assert "hello, tools" in str(calls[2]["body"]["messages"])
    assert rt.fake.stats()["counts"][provider] == 3
    items = rt.cli.json("inbox", "list", "--project", rt.project_id, "--type", "task_completed")["items"]
    assert [(int(i["source_id"]), i["status"]) for i in items] == [(task_id, "INBOX_STATUS_OPEN")]


# ---- the echo provider -------------------------------------------------------------------------------------------


def test_echo_provider_runs_a_task_on_a_brand_new_database(tmp_path, rpc_url, cli, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the default project's root is ./workspace of the server
    srv = Server(tmp_path / "new.db", rpc_url, seeded=True).start()
    try:
        rc, out, err = cli("task", "create", "--title", "hello", "--assignee", "1")
        assert rc == 0, err
        rc, out, err = cli("task", "run", "1", "--prompt", "hi")
        assert rc == 0, err
        run_id = int(cli.json("run", "list", "--task", "1")["runs"][0]["id"])
        wait_until(lambda: cli.json("run", "get", run_id)["run"]["run_status"] == "RUN_STATUS_SUCCEEDED", 10,
                   "the echo run to succeed")
        got = cli.json("run", "get", run_id)
        assert got["run"]["output_text"] == "echo: hi"
        assert got["run"]["provider"] == "echo"
        assert len(got["attempts"]) == 1
        assert cli.json("task", "get", "1")["task"]["status"] == "TASK_STATUS_REVIEW"
        items = cli.json("inbox", "list", "--status", "open")["items"]
        assert [(i["item_type"], i["source_id"]) for i in items] == [("INBOX_ITEM_TYPE_TASK_COMPLETED", "1")]
    finally:
        assert srv.stop() == 0, srv.log()


def test_echo_runs_record_every_transition_call_and_token_in_order(rt, client_of):
    """An echo run starts and ends in one transaction (its call never leaves the
    process): every transition still has its event, in order, with its call and
    usage; a run whose answer asks for a tool goes on to a second call."""
    agent = rt.cli.json("agent", "create", "--project", rt.project_id, "--name", "echo-agent", "--role", "coder",
                        "--provider", "echo", "--model", "echo", "--max-concurrency", 64)["agent"]
    prompts = [f"echo run {i}" for i in range(12)] + ['#tool list_path {"path": "."}']
    run_ids = queue_runs(client_of(rt), rt.project_id, int(agent["id"]), prompts)
    for run_id in run_ids:
        assert rt.wait_run(run_id)["run_status"] == "succeeded"

    events = rt.cli.json("events", "--replay-last", 1000)["events"]
    for prompt, run_id in zip(prompts, run_ids):
        run = rt.run_row(run_id)
        task_id = run["task_id"]
        mine = [e for e in events if int(e.get("run_id", 0)) == run_id or int(e.get("task_id", 0)) == task_id]
        seen = []
        for e in mine:
            if e["event_type"] == "run.status.changed":
                seen.append(e["run_status_changed"]["to_status"].removeprefix("RUN_STATUS_").lower())
            elif e["event_type"] == "task.status.changed":
                seen.append("task " + e["task_status_changed"]["to_status"].removeprefix("TASK_STATUS_").lower())
            elif e["event_type"] in ("usage.recorded", "inbox.item.created"):
                seen.append(e["event_type"])
        calls = 2 if prompt.startswith("#tool") else 1
        assert seen == ["task todo", "queued", "task running", "running"] + ["usage.recorded"] * calls + \
            ["succeeded", "task review", "inbox.item.created"], (prompt, seen)
        attempts = rt.attempts(run_id)
        assert [(a["n"], a["http_status"], a["ended_at"] is not None) for a in attempts] == \
            [(n, 200, True) for n in range(1, calls + 1)]
        assert run["token_in"] == sum(a["token_in"] for a in attempts) > 0
        assert run["token_out"] == sum(a["token_out"] for a in attempts) > 0
        assert run["started_at"] <= attempts[0]["started_at"] <= attempts[0]["ended_at"] <= run["ended_at"]
        if calls == 1:
            assert run["output_text"] == "echo: " + prompt
    assert rt.value("SELECT sum(request_count) FROM api_usage_daily WHERE provider = 'echo'") == len(prompts) + 1
    assert rt.value("SELECT sum(token_in) FROM api_usage_daily WHERE provider = 'echo'") == \
        rt.value("SELECT sum(token_in) FROM task_runs WHERE provider = 'echo'")


# ---- fault injection ---------------------------------------------------------------------------------------------


def test_injected_llm_timeout_makes_the_next_call_time_out(rt, client_of):
    rt.inject_fault(client_of(rt), "llm_timeout", count=1)
    task_id, run_id = rt.task_and_run("after a fault")

    run = rt.wait_run(run_id)
    assert run["run_status"] == "succeeded"
    first, second = rt.attempts(run_id)
    assert first["error_code"] == "LLM_TIMEOUT"
    assert second["error_code"] == ""
    assert statuses(rt.run_events(run_id)) == ["queued", "running", "retry_scheduled", "running", "succeeded"]
    assert len(rt.fake.requests_for("after a fault")) == 1  # the timed-out call never left the process
    assert rt.value("SELECT count(*) FROM alerts WHERE code = 'LLM_TIMEOUT'") == 1


def test_injected_file_permission_fault_blocks_the_task_and_asks_the_operator(rt, client_of):
    rt.inject_fault(client_of(rt), "file_permission", count=1)
    rt.fake.script([{"tool_calls": [{"name": "write_file", "arguments": {"path": "out.txt", "content": "x"}}]}])
    task_id, run_id = rt.task_and_run("write out.txt")

    run = rt.wait_run(run_id)
    assert (run["run_status"], run["error_code"]) == ("failed", "WORKSPACE_PERMISSION_DENIED")
    assert rt.task_status(task_id) == "blocked"
    assert not (rt.root / "out.txt").exists()
    [alert] = rt.rows("SELECT * FROM alerts WHERE code = 'WORKSPACE_PERMISSION_DENIED'")
    assert alert["status"] == "open" and alert["task_id"] == task_id
    assert "out.txt" in alert["message"]
    [item] = rt.cli.json("inbox", "list", "--project", rt.project_id, "--type", "await_user_input")["items"]
    assert (item["status"], int(item["source_id"])) == ("INBOX_STATUS_OPEN", task_id)
    assert "out.txt" in item["content"]

    # The operator fixes the permissions and closes the item: the task runs again and this time writes.
    rt.fake.script([{"tool_calls": [{"name": "write_file", "arguments": {"path": "out.txt", "content": "x"}}]},
                    {"tool_calls": [{"name": "finish_task", "arguments": {"summary": "done"}}]}])
    rt.cli.json("inbox", "close", item["id"], "--input", "fixed the mode of the workspace")
    wait_until(lambda: rt.value("SELECT count(*) FROM task_runs WHERE task_id = ? AND run_status = 'succeeded'",
                                task_id) == 1, 20, "a new run of the task to succeed")
    assert (rt.root / "out.txt").read_text() == "x"
    assert rt.task_status(task_id) == "review"


@pytest.fixture
def client_of():
    """client_of(rt) -> a Python client of that runtime's server (closed at the end)."""
    from beebeebrain import Client

    clients = []

    def make(runtime):
        c = Client(runtime.server.url, timeout=10)
        clients.append(c)
        return c

    yield make
    for c in clients:
        c.close()
