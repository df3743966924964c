"""Durable conversations and cut answers (docs/runtime.md, issue 14 defects 3
and 5), on the real server against the fake provider.

A run's conversation is recorded turn by turn: a retried, resumed (pause) or
recovered (kill -9) run continues from its last recorded turn, so the request
after the interruption carries the earlier turns, and a tool call that was
recorded is never run again (a write_file the operator undid while the server
was down stays undone; an append_log line is there once); a tool whose call the
database did not take is not run at all. An answer cut at the
output limit (stop_reason max_tokens, finish_reason length) is never a plain
success: the conversation asks for the rest within max_turns, else the run
fails LLM_OUTPUT_TRUNCATED; a cut answer's tool calls are not run. The output
limit is the run's --max-output-tokens, else the agent's, else 4096.
"""

import pytest

from beebeebrain import Client
from conftest import PG, wait_until
from runtime_fixtures import RESTART_ENV, db_write, fake_llm, rt, start_after_kill, start_runtime  # noqa: F401  (fixtures)

CUT = {"anthropic": "max_tokens", "openai": "length"}
END = {"anthropic": "end_turn", "openai": "stop"}


def max_tokens_of(request):
    """The output limit a request asked for, whichever parameter carried it."""
    body = request["body"]
    return body.get("max_tokens", body.get("max_completion_tokens"))


def messages_of(request):
    return request["body"]["messages"]


def tool_results(request):
    """The tool results of a request, as (id, content, is_error), both APIs."""
    out = []
    for m in messages_of(request):
        if m.get("role") == "tool":
            out.append((m["tool_call_id"], m["content"], m["content"].startswith("ERROR: ")))
        elif m.get("role") == "user" and isinstance(m.get("content"), list):
            out += [(b["tool_use_id"], b["content"], b.get("is_error", False))
                    for b in m["content"] if b.get("type") == "tool_result"]
    return out



def log_lines(rt, run_id, message):
    return rt.value("SELECT count(*) FROM run_logs WHERE run_id = ? AND message = ?", run_id, message)


# ---- cut answers (defect 3) ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("provider", ["anthropic", "openai"])
def test_a_cut_answer_is_continued_and_the_whole_answer_is_the_output(start_runtime, provider):
    rt = start_runtime()
    rt.fake.script([{"text": "The first half, ", "stop_reason": CUT[provider]}, {"text": "and the second half."}])
    task_id, run_id = rt.task_and_run("write a long answer", provider, "--max-output-tokens", 50)

    run = rt.wait_run(run_id)
    assert (run["run_status"], run["error_code"]) == ("succeeded", ""), run
    assert run["output_text"] == "The first half, and the second half."
    assert (run["max_output_tokens"], run["stop_reason"]) == (50, END[provider])
    assert [(a["http_status"], a["stop_reason"]) for a in rt.attempts(run_id)] == [
        (200, CUT[provider]), (200, END[provider])]
    first, second = rt.fake.requests_for("write a long answer")
    assert max_tokens_of(first) == max_tokens_of(second) == 50
    # The cut text went back as the assistant's, followed by the request for the rest.
    cut, ask = messages_of(second)[-2:]
    assert cut["role"] == "assistant" and "The first half, " in str(cut["content"])
    assert ask["role"] == "user" and "cut off at the output limit (50 tokens)" in str(ask["content"])
    got = rt.cli.json("run", "get", run_id)
    assert got["run"]["stop_reason"] == END[provider]
    assert [a.get("stop_reason") for a in got["attempts"]] == [CUT[provider], END[provider]]
    assert rt.task_status(task_id) == "review"


def test_a_cut_answer_on_the_last_turn_fails_llm_output_truncated(rt):
    rt.fake.script([{"text": "Only the beginning", "stop_reason": "max_tokens"}])
    task_id, run_id = rt.task_and_run("answer in one turn", "anthropic", "--max-turns", 1)

    run = rt.wait_run(run_id)
    assert (run["run_status"], run["error_code"]) == ("failed", "LLM_OUTPUT_TRUNCATED"), run
    assert "max_output_tokens 4096" in run["error_message"]
    assert run["output_text"] == "Only the beginning"  # what there is, for the operator; never a success
    assert run["stop_reason"] == "max_tokens"
    assert rt.task_status(task_id) == "failed"
    assert len(rt.fake.requests_for("answer in one turn")) == 1
    assert max_tokens_of(rt.fake.requests_for("answer in one turn")[0]) == 4096


def test_the_tool_calls_of_a_cut_answer_are_not_run(rt):
    rt.fake.script([
        {"tool_calls": [{"id": "toolu_cut", "name": "write_file",
                         "arguments": {"path": "half.txt", "content": "only half of"}}],
         "stop_reason": "max_tokens"},
        {"text": "I will write less."},
    ])
    _, run_id = rt.task_and_run("write a big file")

    run = rt.wait_run(run_id)
    assert run["run_status"] == "succeeded", run
    assert not (rt.root / "half.txt").exists()
    second = rt.fake.requests_for("write a big file")[1]
    [(call_id, content, is_error)] = tool_results(second)
    assert call_id == "toolu_cut" and is_error and "not run" in content


def test_the_output_limit_is_the_runs_else_the_agents_else_4096(rt):
    rt.cli.json("agent", "update", rt.agent_ids["anthropic"], "--max-output-tokens", 777)
    assert rt.cli.json("agent", "get", rt.agent_ids["anthropic"])["agent"]["max_output_tokens"] == 777
    _, from_agent = rt.task_and_run("limit from the agent")
    _, from_run = rt.task_and_run("limit from the run", "anthropic", "--max-output-tokens", 99)
    _, default = rt.task_and_run("limit by default", "openai")
    for run_id in (from_agent, from_run, default):
        assert rt.wait_run(run_id)["run_status"] == "succeeded"
    assert [rt.run_row(r)["max_output_tokens"] for r in (from_agent, from_run, default)] == [777, 99, 4096]
    assert max_tokens_of(rt.fake.requests_for("limit from the agent")[0]) == 777
    assert max_tokens_of(rt.fake.requests_for("limit from the run")[0]) == 99
    assert max_tokens_of(rt.fake.requests_for("limit by default")[0]) == 4096
    # Out of range is a violation, on the run and on the agent.
    rc, _, err = rt.cli("task", "run", rt.task(), "--prompt", "x", "--max-output-tokens", 200001)
    assert rc == 1 and "max_output_tokens" in err
    rc, _, err = rt.cli("agent", "update", rt.agent_ids["openai"], "--max-output-tokens", -1)
    assert rc == 1 and "max_output_tokens" in err


# ---- durable conversations (defect 5) ------------------------------------------------------------------------------

TURN_ONE = {"tool_calls": [
    {"id": "toolu_write", "name": "write_file", "arguments": {"path": "notes.txt", "content": "written by turn one\n"}},
    {"id": "toolu_log", "name": "append_log", "arguments": {"message": "turn one ran"}},
]}


def test_kill_9_between_two_tool_turns_resumes_from_the_last_turn_without_repeating_the_write(start_runtime):
    rt = start_runtime(**RESTART_ENV)
    rt.fake.script([TURN_ONE, {"delay_ms": 60000, "text": "never delivered"},
                    {"tool_calls": [{"name": "finish_task", "arguments": {"summary": "done after the crash"}}]}])
    task_id, run_id = rt.task_and_run("two tool turns", "anthropic", "--timeout", 120)
    wait_until(lambda: len(rt.fake.requests_for("two tool turns")) == 2, 10, "the second turn in flight")
    assert (rt.root / "notes.txt").read_text() == "written by turn one\n"

    rt.server.proc.kill()  # SIGKILL between the two turns: the first is recorded, the second in flight
    rt.server.proc.wait()
    # While the server is down the operator changes the file: a write_file run again would undo it.
    (rt.root / "notes.txt").write_text("changed by the operator\n")
    start_after_kill(rt.server)

    run = rt.wait_run(run_id, timeout_s=20)
    assert (run["run_status"], run["output_text"]) == ("succeeded", "done after the crash"), run
    assert (rt.root / "notes.txt").read_text() == "changed by the operator\n"
    assert log_lines(rt, run_id, "turn one ran") == 1
    first, lost, resumed = rt.fake.requests_for("two tool turns")
    # The resumed request is the one lost in the crash: the prompt, turn one's calls and their results.
    assert messages_of(resumed) == messages_of(lost)
    assert len(messages_of(resumed)) > len(messages_of(first))
    results = {call_id: (content, is_error) for call_id, content, is_error in tool_results(resumed)}
    assert results == {"toolu_write": ("wrote 20 bytes to notes.txt", False), "toolu_log": ("logged", False)}
    # Every request is an attempt row: the lost one closed by the recovery.
    assert [(a["n"], a["error_code"]) for a in rt.attempts(run_id)] == [
        (1, ""), (2, "PROCESS_RESTARTED"), (3, "")]
    assert [(t["n"], t["attempt_n"]) for t in rt.rows(
        "SELECT n, attempt_n FROM run_turns WHERE run_id = ? ORDER BY n", run_id)] == [(1, 1), (2, 3)]
    kinds = [(e["to_status"], e.get("error_code", "")) for e in rt.run_events(run_id)]
    assert kinds == [("RUN_STATUS_QUEUED", ""), ("RUN_STATUS_RUNNING", ""),
                     ("RUN_STATUS_INTERRUPTED", "PROCESS_RESTARTED"), ("RUN_STATUS_RUNNING", ""),
                     ("RUN_STATUS_SUCCEEDED", "")], kinds
    assert rt.task_status(task_id) == "review"


def test_a_tool_call_recorded_without_its_result_is_never_run_again(start_runtime):
    """The crash this covers falls between a tool's side effect and the commit of its result: the call is
    recorded (it is written before the tool runs), its result is not. It is made here by killing the server
    while the next turn is in flight and clearing the first turn's results, which leaves the rows exactly as
    that crash would (the call rows without a result)."""
    rt = start_runtime(**RESTART_ENV)
    rt.fake.script([TURN_ONE, {"delay_ms": 60000, "text": "never delivered"}, {"text": "checked, all good"}])
    _, run_id = rt.task_and_run("crash before the results", "anthropic", "--timeout", 120)
    wait_until(lambda: len(rt.fake.requests_for("crash before the results")) == 2, 10, "the second turn in flight")
    rt.server.proc.kill()
    rt.server.proc.wait()
    db_write(rt.db_path, ("UPDATE run_tool_calls SET result = NULL, is_error = 0 WHERE run_id = ?", run_id))
    (rt.root / "notes.txt").write_text("changed by the operator\n")
    start_after_kill(rt.server)

    run = rt.wait_run(run_id, timeout_s=20)
    assert (run["run_status"], run["output_text"]) == ("succeeded", "checked, all good"), run
    assert (rt.root / "notes.txt").read_text() == "changed by the operator\n"  # not written again
    assert log_lines(rt, run_id, "turn one ran") == 1  # not logged again
    resumed = rt.fake.requests_for("crash before the results")[2]
    results = {call_id: (is_error, "outcome unknown" in content) for call_id, content, is_error in tool_results(resumed)}
    assert results == {"toolu_write": (True, True), "toolu_log": (True, True)}
    # What the model was told is recorded: the calls are settled, never to run.
    assert rt.value("SELECT count(*) FROM run_tool_calls WHERE run_id = ? AND result IS NULL", run_id) == 0
    assert rt.value("SELECT count(*) FROM run_tool_calls WHERE run_id = ? AND is_error = 1 AND "
                    "result LIKE 'outcome unknown%'", run_id) == 2
    assert "tool calls left in flight are not run again" in rt.server.log()


def test_a_retried_run_continues_its_conversation(rt):
    rt.fake.script([TURN_ONE, {"status": 503, "error": "overloaded"},
                    {"tool_calls": [{"name": "finish_task", "arguments": {"summary": "finished after a retry"}}]}])
    _, run_id = rt.task_and_run("retry in the middle")

    run = rt.wait_run(run_id)
    assert (run["run_status"], run["retry_count"]) == ("succeeded", 1), run
    assert run["output_text"] == "finished after a retry"
    first, failed, retried = rt.fake.requests_for("retry in the middle")
    assert messages_of(retried) == messages_of(failed) != messages_of(first)
    assert log_lines(rt, run_id, "turn one ran") == 1
    assert [(a["http_status"], a["error_code"]) for a in rt.attempts(run_id)] == [
        (200, ""), (503, "LLM_PROVIDER_UNAVAILABLE"), (200, "")]


def test_a_paused_and_resumed_run_continues_its_conversation(rt):
    rt.fake.script([TURN_ONE, {"delay_ms": 60000, "text": "never delivered"}, {"text": "resumed and done"}])
    task_id, run_id = rt.task_and_run("pause in the middle", "anthropic", "--timeout", 120)
    wait_until(lambda: len(rt.fake.requests_for("pause in the middle")) == 2, 10, "the second turn in flight")
    rt.cli.json("task", "pause", task_id)
    assert rt.wait_run(run_id, "interrupted", timeout_s=10)["error_code"] == "TASK_PAUSED"
    (rt.root / "notes.txt").write_text("changed by the operator\n")
    rt.cli.json("task", "resume", task_id)

    run = rt.wait_run(run_id)
    assert (run["run_status"], run["output_text"]) == ("succeeded", "resumed and done"), run
    _, aborted, resumed = rt.fake.requests_for("pause in the middle")
    assert messages_of(resumed) == messages_of(aborted)
    assert (rt.root / "notes.txt").read_text() == "changed by the operator\n"
    assert log_lines(rt, run_id, "turn one ran") == 1


def test_a_tool_never_runs_before_its_call_is_recorded(start_runtime):
    """The database refuses the answer's record (its write lock is held past the 5 s busy timeout): the tool it
    asked for is not run, the run stops in memory as the database has it (running, its call open), and the next start
    resumes it from its recorded turns (none) and asks again; the tool then runs once."""
    rt = start_runtime()  # renewals of a short lease would queue before the answer's record
    write = {"tool_calls": [{"name": "write_file", "arguments": {"path": "once.txt", "content": "written once\n"}}]}
    rt.fake.script([dict(write, delay_ms=1500), write,
                    {"tool_calls": [{"name": "finish_task", "arguments": {"summary": "written"}}]}])
    _, run_id = rt.task_and_run("record first", "anthropic", "--timeout", 120)
    wait_until(lambda: len(rt.fake.requests_for("record first")) == 1, 10, "the first call at the fake")
    # Held past two busy timeouts: the fault's own audit row waits first, then the answer's record.
    with Client(rt.server.url, timeout=10) as client:
        rt.inject_fault(client, "db_lock", duration_ms=15000)
    wait_until(lambda: "stops here: what it did could not be recorded" in rt.server.log(), 30,
               "the answer's record to fail")
    assert not (rt.root / "once.txt").exists()
    wait_until(lambda: "injected db_lock released" in rt.server.log(), 20, "the lock to go")
    assert rt.run_row(run_id)["run_status"] == "running"
    assert rt.value("SELECT count(*) FROM run_turns WHERE run_id = ?", run_id) == 0
    assert not (rt.root / "once.txt").exists()

    assert rt.server.stop() == 0, rt.server.log()
    rt.server.start()
    # On PostgreSQL the run is still leased to the stopped server (30 s): it is taken over a lease and a third
    # later at most.
    run = rt.wait_run(run_id, timeout_s=60 if PG else 20)
    assert (run["run_status"], run["output_text"]) == ("succeeded", "written"), run
    assert (rt.root / "once.txt").read_text() == "written once\n"
    assert rt.value("SELECT count(*) FROM run_tool_calls WHERE run_id = ? AND name = 'write_file'", run_id) == 1
    # The unrecorded call is still counted: its row was written when it started, and closed by the recovery.
    assert [(a["n"], a["error_code"]) for a in rt.attempts(run_id)] == [(1, "PROCESS_RESTARTED"), (2, ""), (3, "")]


def test_a_run_starting_again_with_every_turn_used_fails_without_a_call(start_runtime):
    """The last allowed turn's tools were cut short by a crash (their calls recorded without results): there is no
    turn left to tell the model, so the run fails MAX_TURNS_EXCEEDED at its next start and makes no call. The rows
    are made as that crash leaves them, from a run killed while its second turn was in flight."""
    rt = start_runtime(**RESTART_ENV)
    rt.fake.script([TURN_ONE, {"delay_ms": 60000, "text": "never delivered"}])
    task_id, run_id = rt.task_and_run("no turn left", "anthropic", "--timeout", 120, "--max-turns", 2)
    wait_until(lambda: len(rt.fake.requests_for("no turn left")) == 2, 10, "the second turn in flight")
    rt.server.proc.kill()
    rt.server.proc.wait()
    db_write(rt.db_path, ("UPDATE task_runs SET max_turns = 1 WHERE id = ?", run_id),
             ("UPDATE run_tool_calls SET result = NULL, is_error = 0 WHERE run_id = ?", run_id))
    start_after_kill(rt.server)

    run = rt.wait_run(run_id, timeout_s=20)
    assert (run["run_status"], run["error_code"]) == ("failed", "MAX_TURNS_EXCEEDED"), run
    assert "used all 1 turns" in run["error_message"]
    assert len(rt.fake.requests_for("no turn left")) == 2  # no call after the restart
    assert [a["error_code"] for a in rt.attempts(run_id)] == ["", "PROCESS_RESTARTED"]
    assert rt.task_status(task_id) == "failed"
