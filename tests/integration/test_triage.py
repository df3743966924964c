"""`beebeebrain triage` (AdminService/Triage) on a real server with the fake
provider: a healthy server, and each injected incident (provider timeouts
until the breaker opens, a held SQLite write lock, a denied workspace write)
showing the right verdict, the right finding and a next command the CLI
accepts; acknowledging the alerts turns `incident` into `attention`."""

import json
import shlex
import time

from beebeebrain.v1 import event_pb2
from beebeebrain import Client, RpcError
from conftest import wait_until
from runtime_fixtures import fake_llm, queue_runs, start_runtime  # noqa: F401  (fixtures)

EXIT_INCIDENT = 4


def triage(rt):
    """The JSON report and the exit status (0 or 4; anything else fails)."""
    rc, out, err = rt.cli("-o", "json", "triage")
    assert rc in (0, EXIT_INCIDENT), (rc, out, err)
    report = json.loads(out)
    assert (rc == EXIT_INCIDENT) == (report["verdict"] == "incident"), (rc, report["verdict"])
    return report, rc


def findings(report, area):
    return [f for f in report.get("findings", []) if f["area"] == area]


def assert_next_commands_parse(rt, report):
    """Every next_command is a command the CLI accepts: typed as is, it is no usage error."""
    commands = [f["next_command"] for f in report.get("findings", [])]
    assert commands, report
    for command in commands:
        argv = shlex.split(command)
        assert argv[0] == "beebeebrain", command
        rc, out, err = rt.cli(*argv[1:])
        assert rc in (0, 1, EXIT_INCIDENT) and "USAGE" not in err, (command, rc, out, err)


def ack_all(rt):
    for alert in rt.cli.json("alerts", "list", "--status", "open").get("alerts", []):
        rt.cli.json("alerts", "ack", alert["id"], "--note", "on it")


def test_a_healthy_server_says_healthy_and_exits_0(start_runtime):
    rt = start_runtime()
    report, rc = triage(rt)
    assert rc == 0
    assert report["verdict"] == "healthy" and report["verdict_line"].startswith("healthy")
    assert report["healthy"] is True and report["ready"] is True
    assert abs(int(report["generated_at_ms"]) - time.time() * 1000) < 60000
    assert "findings" not in report and "open_alerts" not in report  # proto3 JSON leaves empties out
    runs = report["runs"]
    assert [c["status"] for c in runs["by_status"]] == [
        "queued", "running", "succeeded", "failed", "retry_scheduled", "interrupted", "cancelled"]
    assert int(report["write_lock"]["last_commit_at_ms"]) > 0  # creating the project committed
    assert "workspace" in report

    rc, out, err = rt.cli("triage")
    assert rc == 0, err
    lines = out.strip().splitlines()
    assert lines[0].startswith("health      serving, ready")
    assert lines[-1].startswith("verdict: healthy"), out
    for label in ("alerts", "incidents", "awaiting", "runs", "retries", "breakers", "write lock", "workspace"):
        assert any(line.startswith(label) for line in lines), (label, out)

    rc, out, err = rt.cli("triage", "--help")
    assert rc == 0 and "incident" in out and "attention" in out and "Exit status 4" in out
    rc, out, err = rt.cli("triage", "extra")
    assert rc == 2, (rc, out, err)


def test_provider_timeouts_open_the_breaker_and_page_until_the_alerts_are_acknowledged(start_runtime):
    # Every call outlives the 1 s call timeout; a long cool-down keeps the breaker open while we look.
    rt = start_runtime(BEEBEEBRAIN_LLM_TIMEOUT_S="1", BEEBEEBRAIN_BREAKER_COOLDOWN_MS="60000",
                       BEEBEEBRAIN_RETRY_MAX_ATTEMPTS="8")
    rt.fake.mode(status=200, delay_ms=3000)  # answered, but too late
    with Client(rt.server.url, timeout=10) as client:
        queue_runs(client, rt.project_id, rt.agent_ids["anthropic"], [f"storm {i}" for i in range(12)])

    def open_breaker():
        report, rc = triage(rt)
        eps = [e for e in report.get("endpoints", []) if e["provider"] == "anthropic"]
        return (report, rc) if eps and eps[0].get("breaker_state") == "open" else None

    report, rc = wait_until(open_breaker, 30, "triage to show the anthropic breaker open")
    assert rc == EXIT_INCIDENT and report["verdict"] == "incident"
    [ep] = [e for e in report["endpoints"] if e["provider"] == "anthropic"]
    assert int(ep["next_probe_at_ms"]) > int(report["generated_at_ms"])
    [breaker] = findings(report, "breakers")
    assert breaker["pages"] is True and breaker["severity"] == "SEVERITY_CRITICAL"
    assert breaker["next_command"] == "beebeebrain task broadcast pause --status running"
    assert rt.fake.url in breaker["summary"]
    assert report["findings"][0]["pages"] is True
    # The timed-out calls were retried: counted from the run.status.changed events.
    runs = report["runs"]
    assert int(runs.get("retries_last_5m", 0)) >= 1
    assert int(runs["retries_last_60m"]) >= int(runs["retries_last_5m"])
    codes = {a["code"] for a in report["open_alerts"]}
    assert "LLM_PROVIDER_UNAVAILABLE" in codes, codes
    assert int(report["open_alerts_total"]) == len(report["open_alerts"])
    assert int(report.get("open_incidents_total", 0)) == 1  # the breaker's incident item
    # The breaker's alerts and incident item are the breaker's finding, not findings of their own.
    assert not [f for f in report["findings"] if f["area"] == "inbox" and f.get("pages")]

    rc, out, err = rt.cli("triage")
    assert rc == EXIT_INCIDENT, err
    assert "[PAGES] breakers critical" in out and "next: beebeebrain task broadcast pause --status running" in out
    assert out.strip().splitlines()[-1].startswith("verdict: incident")

    # The operator takes it in hand: acknowledged, it still shows but no longer pages.
    ack_all(rt)
    report, rc = triage(rt)
    assert rc == 0 and report["verdict"] == "attention", report
    [breaker] = findings(report, "breakers")
    assert not breaker.get("pages") and "acknowledged" in breaker["summary"]
    assert_next_commands_parse(rt, report)
    rt.fake.mode(status=0)


def lock_once(rt, client):
    """An injected 2 s write lock under a write load: a write refused DB_LOCKED during it, one acknowledged after it
    (the writer raises DB_LOCKED with the first group that gets the lock again)."""
    rt.inject_fault(client, "db_lock", duration_ms=2000)

    def write():
        """True when the write was acknowledged, False when refused DB_LOCKED."""
        try:
            client.call("EventService", "Publish", event_pb2.PublishRequest(event_type="operator.load"),
                        event_pb2.PublishResponse)
            return True
        except RpcError as e:
            assert e.reason == "DB_LOCKED", e
            return False

    wait_until(lambda: not write(), 10, "a write refused DB_LOCKED under the injected lock")
    wait_until(write, 10, "a write acknowledged once the lock is gone")
    return write


def db_locked_open(rt):
    report, rc = triage(rt)
    return (report, rc) if report["write_lock"].get("db_locked_open") else None


def test_a_held_write_lock_shows_db_locked_until_it_resolves_by_itself(start_runtime):
    rt = start_runtime(BEEBEEBRAIN_BUSY_TIMEOUT_MS="200", BEEBEEBRAIN_DB_LOCKED_QUIET_MS="1500")
    with Client(rt.server.url, timeout=10) as client:
        write = lock_once(rt, client)
        report, rc = wait_until(lambda: db_locked_open(rt), 10, "triage to show the DB_LOCKED alert open")
        assert rc == EXIT_INCIDENT
        lock = report["write_lock"]
        assert int(lock["last_db_locked_at_ms"]) > 0 and int(lock["lock_failures"]) >= 1
        assert int(lock["last_commit_at_ms"]) >= int(lock["last_db_locked_at_ms"]) - 1000
        [finding] = findings(report, "write_lock")
        assert finding["pages"] is True and finding["next_command"] == "beebeebrain alerts list --code DB_LOCKED"
        assert not findings(report, "alerts")  # DB_LOCKED is the write lock's finding, not one more
        assert_next_commands_parse(rt, report)

        # The lock is gone: after the quiet period a write resolves the alert, and triage is healthy again.
        def healthy():
            write()
            report, rc = triage(rt)
            return (report, rc) if report["verdict"] == "healthy" else None

        report, rc = wait_until(healthy, 15, "the DB_LOCKED alert to resolve by itself")
        assert rc == 0
        assert "db_locked_open" not in report["write_lock"] and int(report["write_lock"]["last_db_locked_at_ms"]) > 0


def test_an_acknowledged_db_locked_alert_needs_attention_and_an_operator_resolve_clears_it(start_runtime):
    rt = start_runtime(BEEBEEBRAIN_BUSY_TIMEOUT_MS="200", BEEBEEBRAIN_DB_LOCKED_QUIET_MS="600000")
    with Client(rt.server.url, timeout=10) as client:
        lock_once(rt, client)
    wait_until(lambda: db_locked_open(rt), 10, "triage to show the DB_LOCKED alert open")
    [alert] = rt.cli.json("alerts", "list", "--status", "open", "--code", "DB_LOCKED")["alerts"]
    rt.cli.json("alerts", "ack", alert["id"])
    report, rc = triage(rt)
    assert (report["verdict"], rc) == ("attention", 0)
    [finding] = findings(report, "write_lock")
    assert not finding.get("pages") and "acknowledged" in finding["summary"]
    rt.cli.json("alerts", "resolve", alert["id"], "--note", "the other process is gone")
    report, rc = triage(rt)
    assert (report["verdict"], rc) == ("healthy", 0), report


def test_a_denied_workspace_write_shows_the_failure_and_the_question(start_runtime):
    rt = start_runtime()
    with Client(rt.server.url, timeout=10) as client:
        rt.inject_fault(client, "file_permission", count=1)
    rt.fake.script([{"tool_calls": [{"name": "write_file", "arguments": {"path": "out.txt", "content": "x"}}]}])
    task_id, run_id = rt.task_and_run("write out.txt")
    run = rt.wait_run(run_id)
    assert (run["run_status"], run["error_code"]) == ("failed", "WORKSPACE_PERMISSION_DENIED")

    report, rc = triage(rt)
    assert rc == EXIT_INCIDENT, report
    ws = report["workspace"]
    assert int(ws["permission_failures_last_60m"]) == 1
    assert int(ws["last_failure_at_ms"]) == run["ended_at"]
    assert [int(p) for p in ws["project_ids"]] == [rt.project_id]
    [item] = report["awaiting_input"]
    assert int(item["source_id"]) == task_id and int(report["awaiting_input_total"]) == 1
    [finding] = findings(report, "workspace")
    assert finding["pages"] is True and str(rt.root) in finding["summary"]
    assert finding["next_command"] == f"beebeebrain inbox list --project {rt.project_id} --status open"
    [waiting] = findings(report, "inbox")
    assert waiting["next_command"] == "beebeebrain inbox list --status open --type await_user_input"
    assert not findings(report, "alerts")
    assert_next_commands_parse(rt, report)

    rc, out, err = rt.cli("triage")
    assert rc == EXIT_INCIDENT
    assert "1 run(s) failed WORKSPACE_PERMISSION_DENIED in the last hour" in out

    ack_all(rt)
    report, rc = triage(rt)
    assert (report["verdict"], rc) == ("attention", 0), report
