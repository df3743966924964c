"""The runtime when things go wrong around it (docs/runtime.md): a
provider outage behind the circuit breaker, a crash (kill -9) with calls in
flight, and conversations whose next turn meets an open breaker (it waits like
any call; pause and stop still interrupt it). The real server calls the fake
provider (tests/fake_llm/fake_llm.py)."""

import os
import time

from beebeebrain import Client
from conftest import wait_until
from runtime_fixtures import RESTART_ENV, fake_llm, queue_runs, start_after_kill, start_runtime  # noqa: F401  (fixtures)

# Runs due during the outage. 200 is the figure; BBB_OUTAGE_RUNS lowers it on a slow machine.
OUTAGE_RUNS = int(os.environ.get("BBB_OUTAGE_RUNS", "200"))
COOLDOWN_MS = 1500
ALERT_WRITE_SLACK_MS = 500  # the most a loaded machine has taken to commit an alert after deciding it
RELEASE_SPREAD_MS = 4000
# The fake answers 503 until this long after the breaker opened: the probes at
# about +1.5 s and +4.5 s fail, the one at about +10.5 s succeeds.
OUTAGE_AFTER_OPEN_MS = 8000


def test_outage_opens_the_breaker_holds_the_runs_and_releases_them_spread_out(start_runtime):
    # Probes are calls of held runs and count as their attempts (nothing retries out of sight), so the
    # attempt cap is raised above the few failed probes of this outage: the test is about the breaker.
    rt = start_runtime(BEEBEEBRAIN_RETRY_MAX_ATTEMPTS="8", BEEBEEBRAIN_BREAKER_COOLDOWN_MS=str(COOLDOWN_MS),
                       BEEBEEBRAIN_RELEASE_SPREAD_MS=str(RELEASE_SPREAD_MS))
    rt.fake.mode(status=503, error="overloaded")  # until told otherwise
    prompts = [f"outage run {i}" for i in range(OUTAGE_RUNS)]
    with Client(rt.server.url, timeout=10) as client:
        queue_runs(client, rt.project_id, rt.agent_ids["anthropic"], prompts)

    # The breaker opened after 5 failures: one critical alert, one incident for the operator.
    unavailable = "SELECT * FROM alerts WHERE code = 'LLM_PROVIDER_UNAVAILABLE'"
    wait_until(lambda: rt.rows(unavailable), 10, "the LLM_PROVIDER_UNAVAILABLE alert")
    [alert] = rt.rows(unavailable)
    assert alert["status"] == "open" and alert["severity"] == "critical"
    opened_at = alert["first_raised_at"]
    incidents = "SELECT * FROM inbox_items WHERE item_type = 'incident' AND source_id = ?"
    [incident] = rt.rows(incidents, alert["id"])
    assert incident["status"] == "open"
    rt.fake.mode(status=503, error="overloaded",
                 duration_ms=max(1, opened_at + OUTAGE_AFTER_OPEN_MS - int(time.time() * 1000)))

    # Recovery: every run succeeds, the alert is resolved and the incident closed.
    succeeded = "SELECT count(*) FROM task_runs WHERE run_status = 'succeeded'"
    wait_until(lambda: rt.value(succeeded) == OUTAGE_RUNS, 60, f"all {OUTAGE_RUNS} runs to succeed")
    [alert] = rt.rows(unavailable)
    assert alert["status"] == "resolved"
    closed_at = alert["resolved_at"]
    [incident] = rt.rows(incidents, alert["id"])
    assert incident["status"] == "closed"
    assert rt.value("SELECT count(*) FROM inbox_items WHERE item_type = 'incident'") == 1

    # Every call the fake saw is an attempt row, and the other way round.
    attempts = rt.rows("SELECT * FROM run_attempts ORDER BY started_at")
    requests = sorted(rt.fake.requests(), key=lambda r: r["t_ms"])
    assert len(requests) == len(attempts)
    assert {r["body"]["messages"][0]["content"] for r in requests} == set(prompts)

    # While open, only probes went out: at most one call per cool-down (it doubles after a failed probe).
    # The probe that closed it is the first call answered 200 after the opening; timestamps are in ms,
    # so calls are told apart by their order, not by comparing equal milliseconds.
    # (A call started in the very millisecond the breaker opened is one of the failures that opened it.)
    closer = min((a for a in attempts if a["started_at"] > opened_at and a["http_status"] == 200),
                 key=lambda a: a["ended_at"])
    assert closer["ended_at"] <= closed_at
    probes = [a for a in attempts if opened_at < a["started_at"] < closer["started_at"]] + [closer]
    assert 1 <= len(probes) <= 4, probes
    # opened_at is when the alert was written, which is a little after the breaker opened in the dispatcher
    # (the same batch's transaction); the gaps between probes compare like with like.
    assert probes[0]["started_at"] - opened_at >= COOLDOWN_MS - ALERT_WRITE_SLACK_MS
    assert all(b["started_at"] - a["started_at"] >= COOLDOWN_MS for a, b in zip(probes, probes[1:])), probes
    assert all(p["http_status"] == 503 for p in probes[:-1])
    # The fake agrees. (Calls made just before the breaker opened may reach it a little later; the
    # first probe comes a whole cool-down after the opening, so a second's margin hides no probe.)
    during = [r for r in requests if opened_at + 1000 <= r["t_ms"] <= closer["ended_at"]]
    assert len(during) == len(probes), [(r["t_ms"] - opened_at, r["body"]["messages"][0]["content"]) for r in during]

    # The held runs were released spread over the release window, not all at once.
    released = [a for a in attempts if a["started_at"] >= closer["started_at"] and a is not closer]
    assert all(a["started_at"] >= closed_at and a["http_status"] == 200 for a in released)
    assert len(released) == OUTAGE_RUNS - 1  # every run but the probe's
    starts = [a["started_at"] for a in released]
    assert max(starts) - min(starts) >= RELEASE_SPREAD_MS / 2
    busiest = max(sum(1 for t in starts if s <= t < s + 100) for s in starts)
    assert busiest <= len(starts) // 4, f"{busiest} runs started within 100 ms"
    print(f"\noutage: {OUTAGE_RUNS} runs, breaker open {closed_at - opened_at} ms, {len(probes)} probe(s), "
          f"{len(attempts)} calls, release spread {max(starts) - min(starts)} ms")


def test_kill_9_with_calls_in_flight_resumes_them_and_never_repeats_a_finished_run(start_runtime):
    rt = start_runtime(**RESTART_ENV)
    done_task, done_run = rt.task_and_run("finished before the crash")
    assert rt.wait_run(done_run)["run_status"] == "succeeded"

    rt.fake.mode(status=200, delay_ms=120000)  # every call hangs until the kill, however slow the machine
    in_flight = [rt.task_and_run(f"in flight {i}")[1] for i in range(5)]
    wait_until(lambda: len([r for r in rt.fake.requests() if r["body"]["messages"][0]["content"].startswith(
        "in flight")]) == 5, 30, "5 calls in flight at the fake")
    assert {rt.run_row(r)["run_status"] for r in in_flight} == {"running"}

    rt.server.proc.kill()  # SIGKILL: no cleanup at all
    rt.server.proc.wait()
    rt.fake.mode(status=0)  # the provider answers at once from now on
    start_after_kill(rt.server)

    for run_id in in_flight:
        run = rt.wait_run(run_id, timeout_s=20)
        assert run["run_status"] == "succeeded", run
        assert run["output_text"] == f"fake reply: {run['prompt']}"
        events = rt.run_events(run_id)
        kinds = [(e["to_status"], e.get("error_code", "")) for e in events]
        assert kinds == [("RUN_STATUS_QUEUED", ""), ("RUN_STATUS_RUNNING", ""),
                         ("RUN_STATUS_INTERRUPTED", "PROCESS_RESTARTED"), ("RUN_STATUS_RUNNING", ""),
                         ("RUN_STATUS_SUCCEEDED", "")], kinds
        # The call lost in the crash and the one after the restart, both recorded: the lost one was
        # written when it started and closed by the recovery.
        assert len(rt.fake.requests_for(run["prompt"])) == 2
        assert [(a["n"], a["error_code"], a["ended_at"] is not None) for a in rt.attempts(run_id)] == [
            (1, "PROCESS_RESTARTED", True), (2, "", True)]
    assert "5 run(s) and 5 provider call(s) were in flight when the server stopped" in rt.server.log()

    # The run that had succeeded is final: never sent again.
    assert len(rt.fake.requests_for("finished before the crash")) == 1
    assert rt.run_row(done_run)["run_status"] == "succeeded"
    assert rt.task_status(done_task) == "review"

    # Usage adds up: the daily totals are the sum over the runs and over the recorded calls.
    daily = rt.rows("SELECT sum(token_in) AS i, sum(token_out) AS o, sum(request_count) AS n, "
                    "sum(cost_usd_micros) AS c FROM api_usage_daily")[0]
    runs = rt.rows("SELECT sum(token_in) AS i, sum(token_out) AS o, sum(cost_usd_micros) AS c FROM task_runs")[0]
    calls = rt.rows("SELECT sum(token_in) AS i, sum(token_out) AS o, count(*) AS n FROM run_attempts")[0]
    assert (daily["i"], daily["o"], daily["c"]) == (runs["i"], runs["o"], runs["c"])
    assert (daily["i"], daily["o"], daily["n"]) == (calls["i"], calls["o"], calls["n"])
    assert (daily["i"], daily["o"]) == (6 * 10, 6 * 3)  # 6 answered calls of 10 in / 3 out
    assert daily["n"] == 11  # and 5 lost in the crash: every request sent upstream is counted
    usage = rt.cli.json("metrics", "usage-daily")["days"]
    assert sum(int(u["token_in"]) for u in usage) == daily["i"]


def test_next_turn_of_a_conversation_waits_while_the_breaker_is_open(start_runtime):
    """Two runs are mid-conversation (their first answer asks for a tool) when
    five other runs' failures open the breaker. Their next turns are calls
    like any other: none goes out before the cool-down; the one that is still
    waiting then is the probe, and a pause of the other while it waits
    interrupts it without a call."""
    # The first turns take long enough for the breaker to open while they are in flight, and the cool-down is
    # long enough for both to be answered and one paused before it ends, also on a slow machine (the wait
    # bounds below are limits, not expectations).
    cooldown_ms = 12000
    rt = start_runtime(BEEBEEBRAIN_BREAKER_COOLDOWN_MS=str(cooldown_ms), BEEBEEBRAIN_RELEASE_SPREAD_MS="1000")
    tool_turn = {"delay_ms": 6000, "tool_calls": [{"name": "append_log", "arguments": {"message": "step one"}}]}
    rt.fake.script([tool_turn, tool_turn])
    _, talk = rt.task_and_run("conversation")
    wait_until(lambda: rt.fake.count() == 1, 20, "the first turn of the conversation at the fake")
    paused_task, paused = rt.task_and_run("conversation to pause")
    wait_until(lambda: rt.fake.count() == 2, 20, "the first turn of the second conversation at the fake")
    rt.fake.mode(status=503)  # for every call from now on, until the breaker opened
    with Client(rt.server.url, timeout=10) as client:
        failing = queue_runs(client, rt.project_id, rt.agent_ids["anthropic"], [f"failing {i}" for i in range(5)])

    unavailable = "SELECT * FROM alerts WHERE code = 'LLM_PROVIDER_UNAVAILABLE'"
    wait_until(lambda: rt.rows(unavailable), 20, "the breaker to open")
    assert not rt.ended_attempts(talk) and not rt.ended_attempts(paused), "a first turn ended before the breaker opened"
    rt.fake.mode(status=0)
    opened_at = rt.rows(unavailable)[0]["first_raised_at"]
    # Both first turns are answered (while the breaker is open) and ask for a next turn.
    wait_until(lambda: len(rt.ended_attempts(talk)) == 1 and len(rt.ended_attempts(paused)) == 1, 20,
               "the first answers")
    rt.cli.json("task", "pause", paused_task)
    run = rt.wait_run(paused, "interrupted", timeout_s=20)
    assert run["error_code"] == "TASK_PAUSED"
    assert [a["http_status"] for a in rt.attempts(paused)] == [200]  # the waiting turn was no call

    for run_id in [talk] + failing:
        assert rt.wait_run(run_id, timeout_s=60)["run_status"] == "succeeded"
    [alert] = rt.rows(unavailable)
    assert alert["status"] == "resolved"
    second_turn = rt.fake.requests_for("conversation")[1]
    assert second_turn["t_ms"] >= opened_at + cooldown_ms, second_turn["t_ms"] - opened_at
    assert [a["http_status"] for a in rt.attempts(talk)] == [200, 200]
    # Nothing else went out while the breaker was open: the next turn was the probe that closed it.
    assert second_turn["t_ms"] <= alert["resolved_at"]
    others = [r for r in rt.fake.requests() if opened_at + 1000 <= r["t_ms"] < alert["resolved_at"]
              and r != second_turn]
    assert others == [], [(r["t_ms"] - opened_at, r["body"]["messages"][0]["content"]) for r in others]
    assert len(rt.fake.requests_for("conversation to pause")) == 1
    assert rt.run_row(paused)["run_status"] == "interrupted"

    rt.cli.json("task", "resume", paused_task)
    assert rt.wait_run(paused, timeout_s=10)["run_status"] == "succeeded"


def test_stop_while_a_next_turn_waits_for_the_breaker_interrupts_the_run(start_runtime):
    rt = start_runtime(BEEBEEBRAIN_BREAKER_COOLDOWN_MS="60000")
    # The first turn is answered only after the breaker opened (the bounds below are limits for slow machines).
    rt.fake.script([{"delay_ms": 8000, "tool_calls": [{"name": "append_log", "arguments": {"message": "step"}}]}])
    _, talk = rt.task_and_run("conversation at shutdown")
    wait_until(lambda: rt.fake.count() == 1, 20, "the first turn at the fake")
    rt.fake.mode(status=503)
    with Client(rt.server.url, timeout=10) as client:
        queue_runs(client, rt.project_id, rt.agent_ids["anthropic"], [f"failing {i}" for i in range(5)])
    wait_until(lambda: rt.value("SELECT count(*) FROM alerts WHERE code = 'LLM_PROVIDER_UNAVAILABLE'"), 20,
               "the breaker to open")
    assert not rt.ended_attempts(talk), "the first turn ended before the breaker opened"
    wait_until(lambda: rt.ended_attempts(talk), 20, "the first answer (its next turn now waits for the breaker)")

    stopping = time.monotonic()
    assert rt.server.stop() == 0, rt.server.log()
    assert time.monotonic() - stopping < 5
    run = rt.run_row(talk)
    assert (run["run_status"], run["error_code"]) == ("interrupted", "SHUTTING_DOWN")
    assert [a["http_status"] for a in rt.attempts(talk)] == [200]  # the waiting turn made no call
    assert len(rt.fake.requests_for("conversation at shutdown")) == 1


def test_conversations_waiting_for_an_open_breaker_hold_no_call_slot(start_runtime):
    """Two anthropic conversations wait for their open breaker (parked). With 3 calls allowed in flight, three
    openai runs still go at once: a waiting turn is no call and must not starve another endpoint."""
    rt = start_runtime(BEEBEEBRAIN_MAX_IN_FLIGHT="3", BEEBEEBRAIN_BREAKER_COOLDOWN_MS="60000")
    tool_turn = {"delay_ms": 3000, "tool_calls": [{"name": "append_log", "arguments": {"message": "step one"}}]}
    rt.fake.script({"anthropic": [tool_turn, tool_turn], "openai": [{"delay_ms": 30000}] * 3})
    with Client(rt.server.url, timeout=10) as client:
        talks = queue_runs(client, rt.project_id, rt.agent_ids["anthropic"], ["talk a", "talk b"])
        wait_until(lambda: rt.fake.stats()["counts"]["anthropic"] == 2, 10, "both first turns at the fake")
        rt.fake.mode(status=503, endpoint="anthropic")
        queue_runs(client, rt.project_id, rt.agent_ids["anthropic"], [f"failing {i}" for i in range(5)])
        wait_until(lambda: rt.value("SELECT count(*) FROM alerts WHERE code = 'LLM_PROVIDER_UNAVAILABLE'"), 10,
                   "the anthropic breaker to open")
        wait_until(lambda: all(len(rt.ended_attempts(t)) == 1 for t in talks), 10, "both first turns answered")
        assert {rt.run_row(t)["run_status"] for t in talks} == {"running"}  # waiting for their next turn

        queue_runs(client, rt.project_id, rt.agent_ids["openai"], [f"openai {i}" for i in range(3)])
        wait_until(lambda: rt.fake.stats()["counts"]["openai"] == 3, 10, "three openai calls in flight at once")
    assert len(rt.fake.requests_for("talk a")) == 1 and len(rt.fake.requests_for("talk b")) == 1


def test_parked_turns_are_released_spread_out_when_the_breaker_closes(start_runtime):
    """Ten conversations wait for an open breaker. The probe (one of their next turns) closes it, and the other
    nine next turns go out spread over the release window, like held runs, not all at once."""
    cooldown_ms, spread_ms = 4000, 4000
    rt = start_runtime(BEEBEEBRAIN_BREAKER_COOLDOWN_MS=str(cooldown_ms),
                       BEEBEEBRAIN_RELEASE_SPREAD_MS=str(spread_ms), BEEBEEBRAIN_RETRY_MAX_ATTEMPTS="20")
    tool_turn = {"delay_ms": 2500, "tool_calls": [{"name": "append_log", "arguments": {"message": "step one"}}]}
    prompts = [f"waiting talk {i}" for i in range(10)]
    rt.fake.script({"anthropic": [tool_turn] * len(prompts)})
    with Client(rt.server.url, timeout=10) as client:
        talks = queue_runs(client, rt.project_id, rt.agent_ids["anthropic"], prompts)
        wait_until(lambda: rt.fake.count() == len(prompts), 10, "every first turn at the fake")
        rt.fake.mode(status=503)
        failing = queue_runs(client, rt.project_id, rt.agent_ids["anthropic"], [f"failing {i}" for i in range(5)])
    unavailable = "SELECT * FROM alerts WHERE code = 'LLM_PROVIDER_UNAVAILABLE'"
    wait_until(lambda: rt.rows(unavailable), 10, "the breaker to open")
    rt.fake.mode(status=0)
    wait_until(lambda: all(len(rt.ended_attempts(t)) == 1 for t in talks), 10, "every first turn answered")
    opened_at = rt.rows(unavailable)[0]["first_raised_at"]

    for run_id in talks + failing:
        assert rt.wait_run(run_id, timeout_s=30)["run_status"] == "succeeded"
    [alert] = rt.rows(unavailable)
    assert alert["status"] == "resolved"
    second = sorted(rt.fake.requests_for(p)[1]["t_ms"] for p in prompts)
    probe, released = second[0], second[1:]
    assert probe >= opened_at + cooldown_ms - 1000  # the fake's clock; the breaker counts from its own
    assert probe <= alert["resolved_at"] <= released[0]
    # Spread, not all at once (the dispatcher ticks every 200 ms; the release has 1 slot per held run).
    assert released[-1] - released[0] >= spread_ms / 4, [t - released[0] for t in released]
    busiest = max(sum(1 for t in released if s <= t < s + 100) for s in released)
    assert busiest <= 3, [t - released[0] for t in released]
    print(f"\nparked turns released at +{[t - released[0] for t in released]} ms after the first")
