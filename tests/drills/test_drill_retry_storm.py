"""Drill: an LLM timeout and retry storm (docs/runbook.md, section 3.1).

200 runs are due when the provider (the fake LLM) becomes slower than the
call timeout (it answers after 3 s, the timeout is 1 s). The first wave of
calls times out, the runs go retry_scheduled, the retry storm alert is raised
and the endpoint's breaker opens; while it is open only its probes reach the
provider. `beebeebrain triage` shows the storm and the open breaker (its human
output is printed and kept in <build>/drills/retry_storm_triage.txt). The
operator follows the runbook: acknowledges the alerts, pauses the running
tasks, collects the evidence (`logs --run`, `run get`, `metrics
runs-summary`); the provider comes back; the operator resets the breaker,
resumes 20 tasks, sees them succeed, resumes the rest. Every run ends
succeeded, the provider saw no more calls during the outage than the first
wave and the breaker's probes, there was one incident, and the provider's
alert and incident are resolved."""

import sqlite3

import pytest

from drill_fixtures import (RUNTIME_ENV, Client, FakeLlm, Operator, Server, free_port, open_alerts, queue_runs,
                            report, scene, wait_until)

RUNS = 200
SUBSET = 20
MAX_IN_FLIGHT = 32
SLOW_MS = 3000  # the fake's answer time during the outage: beyond the call timeout
DRILL_ENV = {
    "BEEBEEBRAIN_LLM_TIMEOUT_S": "1",
    "BEEBEEBRAIN_MAX_IN_FLIGHT": str(MAX_IN_FLIGHT),
    # Enough attempts that no run runs out of them on the probes of a long outage.
    "BEEBEEBRAIN_RETRY_MAX_ATTEMPTS": "20",
    "BEEBEEBRAIN_BREAKER_COOLDOWN_MS": "2000",
    "BEEBEEBRAIN_RELEASE_SPREAD_MS": "2000",
}
NOTE = '"on it: provider outage"'


@pytest.fixture
def fake_llm():
    fake = FakeLlm()
    yield fake
    fake.stop()


def db_value(db, sql, *args):
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    try:
        return con.execute(sql, args).fetchone()[0]
    finally:
        con.close()


def anthropic_endpoint(op):
    eps = [e for e in op.json("beebeebrain runtime status").get("endpoints", []) if e["provider"] == "anthropic"]
    return eps[0] if eps else None


def test_retry_storm_drill_pause_evidence_controlled_resume_and_every_run_succeeds(tmp_path, fake_llm):
    env = {**RUNTIME_ENV, **DRILL_ENV, "ANTHROPIC_BASE_URL": fake_llm.url, "OPENAI_BASE_URL": fake_llm.url + "/v1"}
    db = tmp_path / "bbb.db"
    srv = Server(db, f"tcp://127.0.0.1:{free_port()}", extra_args=["--enable-fault-injection"], env=env).start()
    try:
        op = Operator(srv.url, tmp_path)
        root = tmp_path / "workspace"
        root.mkdir()
        project_id = int(scene(op, "project", "create", "default", "--root", root)["project"]["id"])
        agent_id = int(scene(op, "agent", "create", "--name", "coder", "--role", "coder", "--provider", "anthropic",
                             "--model", "claude-sonnet-4-5", "--max-concurrency", 64)["agent"]["id"])

        # The outage: the provider answers after the call timeout. 200 runs are due.
        fake_llm.mode(status=200, delay_ms=SLOW_MS)
        with Client(srv.url, timeout=10) as c:
            run_ids = queue_runs(c, project_id, agent_id, [f"storm {i}" for i in range(RUNS)])
        task_of = {r: db_value(db, "SELECT task_id FROM task_runs WHERE id = ?", r) for r in run_ids}
        wait_until(lambda: (anthropic_endpoint(op) or {}).get("breaker_state") == "open", 30,
                   "the anthropic breaker to open")
        # The storm detector runs on its own tick (BEEBEEBRAIN_DETECTOR_INTERVAL_MS).
        wait_until(lambda: [a for a in open_alerts(op) if a["code"] == "LLM_RETRY_STORM"], 30, "the retry storm alert")

        # Triage shows the storm and the open breaker.
        rc, human, err = op.type("beebeebrain triage")
        report("retry_storm_triage", human)
        assert rc == 4, (rc, human, err)
        triage = op.json("beebeebrain triage", rcs=(4,))
        assert triage["verdict"] == "incident"
        [ep] = [e for e in triage["endpoints"] if e["provider"] == "anthropic"]
        assert ep["breaker_state"] in ("open", "half_open") and ep["base_url"] == fake_llm.url, ep
        assert int(triage["runs"]["retries_last_5m"]) >= 5, triage["runs"]
        codes = {a["code"] for a in triage["open_alerts"]}
        assert {"LLM_PROVIDER_UNAVAILABLE", "LLM_RETRY_STORM"} <= codes, codes
        assert int(triage["open_incidents_total"]) == 1
        breakers = [f for f in triage["findings"] if f["area"] == "breakers"]
        assert breakers and breakers[0].get("pages"), triage["findings"]
        assert breakers[0]["next_command"] == "beebeebrain task broadcast pause --status running", breakers
        assert triage["findings"][0].get("pages")

        # The runbook: see what fails, acknowledge, pause the running tasks.
        rc, out, err = op.type("beebeebrain runtime status")
        assert rc == 0 and (" open " in out or " half_open " in out), out + err  # a probe may be on its way
        [unavailable] = open_alerts(op, "LLM_PROVIDER_UNAVAILABLE")
        for alert in open_alerts(op):
            rc, out, err = op.type(f"beebeebrain alerts ack ALERT_ID --note {NOTE}", ALERT_ID=alert["id"])
            assert rc == 0, out + err
        paused = op.json("beebeebrain task broadcast pause --status running")
        assert paused["applied"] == RUNS, {k: v for k, v in paused.items() if k != "results"}
        wait_until(lambda: "in_flight" not in op.json("beebeebrain runtime status"), 20,
                   "the calls in flight to be aborted")
        assert db_value(db, "SELECT count(*) FROM tasks WHERE status = 'blocked'") == RUNS
        acked = op.json("beebeebrain triage", rcs=(0, 4))
        assert not [f for f in acked["findings"] if f.get("pages") and f["area"] == "alerts"], acked["findings"]

        # Evidence: a run that timed out, its log and its attempts; the counts by status.
        timed_out = db_value(db, "SELECT min(run_id) FROM run_attempts WHERE error_code = 'LLM_TIMEOUT'")
        assert timed_out in run_ids
        rc, out, err = op.type("beebeebrain logs --run RUN_ID", RUN_ID=timed_out)
        assert rc == 0, err
        run = op.json("beebeebrain run get RUN_ID", RUN_ID=timed_out)["run"]
        assert run["run_status"] in ("RUN_STATUS_RETRY_SCHEDULED", "RUN_STATUS_INTERRUPTED"), run
        summary = op.json("beebeebrain metrics runs-summary")
        assert int(summary["total"]) == RUNS and int(summary.get("retries", 0)) >= 5, summary

        # During the outage only the first wave and the breaker's probes reached the provider: a
        # wave of MAX_IN_FLIGHT calls, at most 5 more started while the failures that open the
        # breaker came back, then one probe per opening (a failed probe opens it again), and one
        # probe the pause may have aborted.
        outage_calls = fake_llm.count()
        opens = int(anthropic_endpoint(op)["opens"])
        assert opens >= 1
        assert outage_calls <= MAX_IN_FLIGHT + 5 + opens + 1, (outage_calls, opens)
        assert outage_calls < RUNS

        # The provider is back; the operator knows it and resets the breaker.
        fake_llm.mode(status=0)
        rc, out, err = op.type("beebeebrain runtime breaker reset ENDPOINT", ENDPOINT="anthropic")
        assert rc == 0, out + err
        assert anthropic_endpoint(op)["breaker_state"] == "closed"

        # A controlled subset first, then the rest.
        subset = [task_of[r] for r in run_ids[:SUBSET]]
        resumed = op.json("beebeebrain task broadcast resume --ids TASK_IDS", TASK_IDS=",".join(map(str, subset)))
        assert resumed["applied"] == SUBSET, resumed

        def subset_done():
            runs = op.json("beebeebrain run list --status succeeded").get("runs", [])
            return runs if len(runs) == SUBSET else None

        done = wait_until(subset_done, 60, f"the {SUBSET} resumed runs to succeed", interval_s=0.5)
        assert sorted(int(r["id"]) for r in done) == sorted(run_ids[:SUBSET])
        rest = op.json("beebeebrain task broadcast resume")
        assert rest["applied"] == RUNS - SUBSET, {k: v for k, v in rest.items() if k != "results"}
        wait_until(lambda: db_value(db, "SELECT count(*) FROM task_runs WHERE run_status = 'succeeded'") == RUNS,
                   120, f"all {RUNS} runs to succeed", interval_s=0.5)

        # Nothing lost: every run succeeded, one incident, the provider's alert and incident resolved.
        assert db_value(db, "SELECT count(*) FROM task_runs") == RUNS
        assert db_value(db, "SELECT count(*) FROM inbox_items WHERE item_type = 'incident'") == 1
        rc, out, err = op.type("beebeebrain runtime status")
        assert rc == 0, err
        assert anthropic_endpoint(op)["breaker_state"] == "closed"
        assert open_alerts(op, "LLM_PROVIDER_UNAVAILABLE") == []
        resolved = db_value(db, "SELECT status FROM alerts WHERE id = ?", int(unavailable["id"]))
        assert resolved == "resolved"
        incidents = op.json("beebeebrain inbox list --status open --type incident").get("items", [])
        assert incidents == [], incidents
        summary = op.json("beebeebrain metrics runs-summary")
        by_status = {s["status"]: int(s.get("count", 0)) for s in summary["by_status"]}
        assert by_status["RUN_STATUS_SUCCEEDED"] == RUNS, by_status
        rc, out, err = op.type("beebeebrain triage")
        assert rc == 0, out + err
        final = op.json("beebeebrain triage")
        assert final["verdict"] in ("healthy", "attention"), final["verdict_line"]
        assert not [e for e in final.get("endpoints", []) if e.get("breaker_state") not in ("closed", "")]
    finally:
        if srv.running():
            assert srv.stop() == 0, srv.log()
