"""The operator's commands of the incident drills on a real server calling the
fake provider: `beebeebrain admin inject-fault|clear-faults` (AdminService
InjectFault, ClearFaults) and `beebeebrain runtime breaker reset ENDPOINT`
(RuntimeService/ResetBreaker; docs/runtime.md, Incident drills)."""

import json
import sqlite3
import time

import pytest

from beebeebrain.v1 import runtime_pb2
from beebeebrain import Client, RpcError
from conftest import Cli, Server, is_pg_target, sql, wait_until
from runtime_fixtures import fake_llm, queue_runs, rt, start_runtime  # noqa: F401  (fixtures)

MODES = ("llm_timeout", "llm_transient", "file_permission", "db_lock", "process_restart")


# ---- admin inject-fault | clear-faults ---------------------------------------------------------------------------


@pytest.mark.parametrize("args, says", [
    (("bogus",), "llm_timeout, llm_transient, file_permission, db_lock or process_restart"),
    ((), "missing MODE"),
    (("llm_timeout", "--count", "0"), "from 1 to 10000"),
    (("llm_timeout", "--count", "100001"), "from 1 to 10000"),
    (("llm_timeout", "--count", "two"), "from 1 to 10000"),
    (("db_lock", "--duration", "0"), "over 0 and at most 600"),
    (("db_lock", "--duration", "-1"), "over 0 and at most 600"),
    (("db_lock", "--duration", "601"), "over 0 and at most 600"),
    (("db_lock", "--duration", "nan"), "over 0 and at most 600"),
    (("llm_timeout", "--duration", "5"), "db_lock only"),
    (("db_lock", "--count", "2"), "--count applies to"),
])
def test_inject_fault_usage_errors_exit_2_naming_the_allowed_values(rt, args, says):
    rc, out, err = rt.cli("admin", "inject-fault", *args)
    assert rc == 2, (rc, out, err)
    assert "USAGE" in err and says in err, err
    # Nothing reached the server: nothing is armed.
    assert rt.cli.json("admin", "clear-faults").get("cleared", 0) == 0


def test_every_mode_parses_and_is_refused_without_fault_injection(tmp_path, db_path, rpc_url):
    srv = Server(db_path, rpc_url).start()
    try:
        cli = Cli(rpc_url, tmp_path)
        for mode in MODES:
            rc, out, err = cli("admin", "inject-fault", mode)
            assert rc == 1, (mode, rc, out, err)
            assert "error: PERMISSION_DENIED FORBIDDEN" in err and "--enable-fault-injection" in err, err
        rc, out, err = cli("admin", "clear-faults")
        assert rc == 1 and "FORBIDDEN" in err, (rc, out, err)
        assert srv.running()  # process_restart was refused, not run
    finally:
        assert srv.stop() == 0


def test_each_mode_but_process_restart_is_armed_and_cleared(rt):
    for args, says in ((("llm_timeout", "--count", "2"), "armed llm_timeout for the next 2 provider call(s)"),
                       (("llm_transient",), "armed llm_transient for the next 1 provider call(s)"),
                       (("file_permission", "--count", "3"), "armed file_permission for the next 3 workspace"),
                       (("db_lock", "--duration", "0.5"), "held for 0.5 s")):
        rc, out, err = rt.cli("admin", "inject-fault", *args)
        assert rc == 0 and says in out, (args, rc, out, err)
    assert rt.cli.json("admin", "inject-fault", "llm_timeout") == {}
    # The half-second lock has gone by itself; the three armed modes remain.
    wait_until(lambda: writable(rt.db_path, wait_s=1.0), 10, "the 0.5 s db_lock to end by itself")
    rc, out, err = rt.cli("admin", "clear-faults")
    assert (rc, out) == (0, "cleared 3 fault(s)\n"), (rc, out, err)
    assert rt.cli.json("admin", "clear-faults") == {}  # nothing left (proto3 JSON leaves 0 out)


# The advisory lock every write transaction on PostgreSQL takes first
# (docs/scale-out.md; its key is STORE_PG_BEGIN's in src/store/store.c).
PG_WRITERS_LOCK = 7062626202


def writable(db_path, wait_s=0.0):
    """True when the write lock (SQLite's; on PostgreSQL the writers' advisory
    lock) can be taken within wait_s (nobody holds it longer: the server's own
    writes take it for milliseconds)."""
    if is_pg_target(db_path):
        import psycopg2.errors

        try:
            sql(db_path, f"SET LOCAL lock_timeout = {max(1, int(wait_s * 1000))}; "
                f"SELECT pg_advisory_xact_lock({PG_WRITERS_LOCK})")
            return True
        except psycopg2.errors.LockNotAvailable:
            return False
    con = sqlite3.connect(str(db_path), timeout=wait_s, isolation_level=None)
    try:
        con.execute("BEGIN IMMEDIATE")
        con.execute("ROLLBACK")
        return True
    except sqlite3.OperationalError:
        return False
    finally:
        con.close()


def test_clear_faults_ends_an_injected_db_lock_early(rt):
    rc, out, err = rt.cli("admin", "inject-fault", "db_lock", "--duration", "120")
    assert rc == 0, err
    assert not writable(rt.db_path)  # held by the injected connection
    started = time.monotonic()
    rc, out, err = rt.cli("admin", "clear-faults")
    assert (rc, out) == (0, "cleared 1 fault(s)\n"), (rc, out, err)
    # Released before the command returned, not after 120 s (the server's own
    # writes, such as the call's audit event, may hold it for a moment).
    assert writable(rt.db_path, wait_s=3.0)
    assert time.monotonic() - started < 60
    # And the server writes again.
    assert rt.cli.json("task", "create", "--project", rt.project_id, "--title", "after the lock")["task"]["id"]
    assert "injected db_lock released early" in rt.server.log()


def test_clear_faults_disarms_pending_llm_faults_so_the_next_run_succeeds(rt):
    for mode in ("llm_timeout", "llm_transient"):
        assert rt.cli("admin", "inject-fault", mode, "--count", "50")[0] == 0
    assert rt.cli("admin", "clear-faults")[1] == "cleared 2 fault(s)\n"

    task_id, run_id = rt.task_and_run("after clear-faults")
    run = rt.wait_run(run_id)
    assert (run["run_status"], run["error_code"], run["retry_count"]) == ("succeeded", "", 0)
    [attempt] = rt.attempts(run_id)
    assert attempt["error_code"] == ""
    assert len(rt.fake.requests_for("after clear-faults")) == 1


# ---- runtime breaker reset ---------------------------------------------------------------------------------------


def endpoint(rt, provider):
    for e in rt.cli.json("runtime", "status").get("endpoints", []):
        if e["provider"] == provider:
            return e
    return None


def test_breaker_reset_closes_it_releases_held_runs_and_resolves_the_alert(start_runtime):
    # A minute of cool-down: only the reset can close the breaker within the test.
    rt = start_runtime(BEEBEEBRAIN_BREAKER_COOLDOWN_MS="60000", BEEBEEBRAIN_RETRY_MAX_ATTEMPTS="8",
                       BEEBEEBRAIN_RELEASE_SPREAD_MS="1000")
    rt.fake.mode(status=503, error="overloaded")
    with Client(rt.server.url, timeout=10) as client:
        run_ids = queue_runs(client, rt.project_id, rt.agent_ids["anthropic"], [f"held {i}" for i in range(6)])
    ep = wait_until(lambda: (lambda e: e if e and e.get("breaker_state") == "open" else None)(endpoint(rt, "anthropic")),
                    20, "the anthropic breaker to open")
    probe_at = int(ep["next_probe_at_ms"])
    wait_until(lambda: rt.value("SELECT count(*) FROM alerts WHERE code = 'LLM_PROVIDER_UNAVAILABLE' "
                                "AND status = 'open'") == 1, 10, "the breaker's alert")
    wait_until(lambda: rt.value("SELECT count(*) FROM inbox_items WHERE item_type = 'incident' "
                                "AND status = 'open'") == 1, 10, "the breaker's incident item")

    # The provider is back; the operator says so instead of waiting a minute for the probe.
    rt.fake.mode(status=0)
    reset = rt.cli.json("runtime", "breaker", "reset", "anthropic")
    assert reset["were_open"] == 1
    [e] = reset["endpoints"]
    assert (e["provider"], e["base_url"], e["breaker_state"]) == ("anthropic", rt.fake.url, "closed")
    assert endpoint(rt, "anthropic")["breaker_state"] == "closed"

    for run_id in run_ids:
        assert rt.wait_run(run_id, timeout_s=30)["run_status"] == "succeeded"
    assert time.time() * 1000 < probe_at  # done before the probe would have gone

    [alert] = rt.rows("SELECT * FROM alerts WHERE code = 'LLM_PROVIDER_UNAVAILABLE'")
    assert (alert["status"], alert["resolved_by"]) == ("resolved", "operator")
    assert "reset by an operator" in alert["resolve_note"]
    [item] = rt.rows("SELECT * FROM inbox_items WHERE item_type = 'incident'")
    assert (item["status"], item["resolver"]) == ("closed", "operator")
    events = rt.cli.json("events", "--replay-last", 1000, "--type", "alert.resolved")["events"]
    assert any(ev.get("alert", {}).get("resolved_by") == "operator" for ev in events), events
    audits = rt.cli.json("events", "--replay-last", 1000, "--type", "security.audit.allowed")["events"]
    assert any("ResetBreaker" in str(ev) for ev in audits), audits
    assert "reset by an operator: open -> closed" in rt.server.log()

    # A closed breaker may be reset again: nothing was open.
    rc, out, err = rt.cli("runtime", "breaker", "reset", rt.fake.url)
    assert rc == 0, err
    assert "anthropic" in out and "closed" in out and "0 of 1 endpoint(s) were open" in out, out


def test_an_alert_resolved_by_hand_closes_its_incident_item(start_runtime):
    rt = start_runtime(BEEBEEBRAIN_BREAKER_COOLDOWN_MS="60000", BEEBEEBRAIN_RETRY_MAX_ATTEMPTS="8")
    rt.fake.mode(status=503, error="overloaded")
    with Client(rt.server.url, timeout=10) as client:
        queue_runs(client, rt.project_id, rt.agent_ids["anthropic"], [f"held {i}" for i in range(4)])
    wait_until(lambda: rt.value("SELECT count(*) FROM inbox_items WHERE item_type = 'incident' "
                                "AND status = 'open'") == 1, 20, "the breaker's incident item")
    [alert] = rt.rows("SELECT * FROM alerts WHERE code = 'LLM_PROVIDER_UNAVAILABLE' AND status = 'open'")

    rc, out, err = rt.cli("alerts", "resolve", alert["id"], "--note", "provider confirmed back")
    assert rc == 0, err
    [item] = rt.rows("SELECT * FROM inbox_items WHERE item_type = 'incident'")
    assert (item["source_id"], item["status"], item["resolver"]) == (alert["id"], "closed", "operator")
    rc, out, err = rt.cli("-o", "json", "triage")
    assert rc in (0, 4), err  # the breaker is still open: it may page on its own
    assert int(json.loads(out).get("open_incidents_total", 0)) == 0, out


def test_breaker_reset_of_an_unknown_endpoint_is_endpoint_not_found(rt):
    rc, out, err = rt.cli("runtime", "breaker", "reset", "nowhere")
    assert rc == 1 and "error: NOT_FOUND ENDPOINT_NOT_FOUND" in err, (rc, out, err)
    for args in (("breaker", "reset"), ("breaker",), ("breaker", "open", "anthropic")):
        rc, out, err = rt.cli("runtime", *args)
        assert rc == 2 and "USAGE" in err, (args, rc, out, err)
    with Client(rt.server.url, timeout=10) as client:
        with pytest.raises(RpcError) as e:
            client.call("RuntimeService", "ResetBreaker", runtime_pb2.ResetBreakerRequest(endpoint=""),
                        runtime_pb2.ResetBreakerResponse)
        assert e.value.reason == "VALIDATION_ERROR"
    assert rt.server.running()
