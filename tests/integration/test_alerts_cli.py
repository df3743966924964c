"""`beebeebrain alerts list|ack|resolve` from the outside: the operator's side
of alerts (EventService ListAlerts, AckAlert, ResolveAlert) on a real server.

Alerts for the list tests are written into the database before the
server starts (the server raises them itself only on real incidents, which
take long to produce); the last test acknowledges a DB_LOCKED alert the server
raised itself on an injected lock, and shows that it stays open and still
counts the repeats of its cause."""

import subprocess
import time

import pytest

from beebeebrain.v1 import admin_pb2, common_pb2, event_pb2

from beebeebrain import Client, RpcError
from conftest import BIN, PG, Server, child_env, free_port, sql, wait_until


def seed_alerts(db_path, rows):
    """Writes alerts (code, status, project_id, title) into a migrated database
    with no server running; returns their ids in order."""
    subprocess.run([BIN, "migrate", "up", "--db", str(db_path)], check=True, capture_output=True, env=child_env())
    now = int(time.time() * 1000)
    ids = []
    for i, (code, status, project_id, title) in enumerate(rows):
        [(id_,)] = sql(
            db_path,
            "INSERT INTO alerts (code, severity, dedup_key, title, message, status, raise_count, first_raised_at, "
            "last_raised_at, resolved_at, project_id) VALUES (?, 'warning', ?, ?, 'm', ?, 1, ?, ?, ?, ?) RETURNING id",
            code, f"{code}:{i}", title, status, now + i, now + i, now + i if status == "resolved" else None,
            project_id)
        ids.append(id_)
    return ids


def start(db_path, rpc_url, extra_args=(), env=None):
    return Server(db_path, rpc_url, extra_args=extra_args, env=env).start()


def stop(srv):
    rc = srv.stop()
    assert rc == 0, f"server exited {rc} on SIGTERM:\n{srv.log()}"


def alert_events(client, after_id=0):
    r = client.call("EventService", "Replay", event_pb2.ReplayRequest(after_id=after_id, type_prefix="alert."),
                    event_pb2.ReplayResponse)
    return list(r.events)


def audit_of(client, action):
    r = client.call("EventService", "Replay", event_pb2.ReplayRequest(type_prefix="security.audit.allowed"),
                    event_pb2.ReplayResponse)
    return [e.security_audit for e in r.events if e.security_audit.action == action]


@pytest.fixture
def seeded(db_path, rpc_url):
    ids = seed_alerts(db_path, [
        ("DB_LOCKED", "resolved", 0, "lock one"),
        ("LLM_PROVIDER_UNAVAILABLE", "open", 7, "provider down"),
        ("DB_LOCKED", "open", 0, "lock two"),
        ("LLM_RETRY_STORM", "open", 8, "storm"),
        ("LLM_PROVIDER_UNAVAILABLE", "resolved", 8, "provider was down"),
    ])
    srv = start(db_path, rpc_url)
    yield ids
    stop(srv)


def test_alerts_list_filters_by_status_code_and_project_newest_first(seeded, cli):
    ids = seeded
    every = cli.json("alerts", "list")["alerts"]
    assert [int(a["id"]) for a in every] == list(reversed(ids))

    open_ = cli.json("alerts", "list", "--status", "open")["alerts"]
    assert [int(a["id"]) for a in open_] == [ids[3], ids[2], ids[1]]
    assert all(a["status"] == "ALERT_STATUS_OPEN" for a in open_)

    resolved = cli.json("alerts", "list", "--status", "resolved")["alerts"]
    assert [int(a["id"]) for a in resolved] == [ids[4], ids[0]]

    locked = cli.json("alerts", "list", "--code", "DB_LOCKED", "--status", "open")["alerts"]
    assert [(int(a["id"]), a["title"]) for a in locked] == [(ids[2], "lock two")]

    project8 = cli.json("alerts", "list", "--project", "8")["alerts"]
    assert [(int(a["id"]), a["project_id"]) for a in project8] == [(ids[4], "8"), (ids[3], "8")]

    assert cli.json("alerts", "list", "--code", "NO_SUCH_CODE") == {}

    # The human table: a header and one line per alert.
    rc, out, err = cli("alerts", "list", "--status", "open")
    assert rc == 0, err
    lines = out.splitlines()
    assert lines[0].split()[:4] == ["ID", "STATUS", "SEVERITY", "CODE"]
    assert len(lines) == 4 and "storm" in lines[1] and "provider down" in lines[3]


def test_alerts_list_pages_through_every_alert(db_path, rpc_url, cli):
    n = 130
    ids = seed_alerts(db_path, [("DB_LOCKED", "resolved", 0, f"t{i}") for i in range(n)])
    srv = start(db_path, rpc_url)
    try:
        # One call: at most `limit` (the server's cap is 100), then a token.
        rc, out, err = cli("-o", "json", "alerts", "list", "--limit", "101")
        assert rc == 1 and "VALIDATION_ERROR" in err, (rc, out, err)
        page = cli.json("alerts", "list", "--limit", "40")
        assert [int(a["id"]) for a in page["alerts"]] == list(reversed(ids))[:40]
        rest = cli.json("alerts", "list", "--limit", "100", "--page-token", page["next_page_token"])
        assert [int(a["id"]) for a in rest["alerts"]] == list(reversed(ids))[40:]
        assert "next_page_token" not in rest
        rc, out, err = cli("alerts", "list", "--page-token", "not-a-token")
        assert rc == 1 and "INVALID_ARGUMENT INVALID_PAGE_TOKEN" in err, (rc, out, err)
    finally:
        stop(srv)


def test_ack_keeps_the_alert_open_records_who_and_why_and_is_audited(seeded, cli, rpc_url):
    target = seeded[1]
    with Client(rpc_url, timeout=10) as client:
        before = alert_events(client)
        acked = cli.json("alerts", "ack", target, "--note", "looking at the provider", "--actor", "alice")["alert"]
        assert acked["status"] == "ALERT_STATUS_OPEN"
        assert acked["acked_by"] == "alice" and acked["ack_note"] == "looking at the provider"
        assert int(acked["acked_at_ms"]) > 0 and "resolved_at_ms" not in acked
        # Still open, and shown acknowledged by the list.
        listed = {int(a["id"]): a for a in cli.json("alerts", "list", "--status", "open")["alerts"]}
        assert listed[target]["acked_by"] == "alice"

        evs = alert_events(client, before[-1].id if before else 0)
        assert [(e.event_type, e.alert.id, e.alert.acked_by, e.project_id) for e in evs] == [
            ("alert.acknowledged", target, "alice", 7)]
        audits = audit_of(client, "EventService/AckAlert")
        assert [(a.actor, a.resource) for a in audits] == [("alice", f"alert/{target}")]

        # Acknowledging again changes nothing and writes no alert event.
        again = cli.json("alerts", "ack", target, "--note", "other", "--actor", "bob")["alert"]
        assert (again["acked_by"], again["ack_note"], again["acked_at_ms"]) == (
            "alice", "looking at the provider", acked["acked_at_ms"])
        assert len(alert_events(client, evs[-1].id)) == 0

        # No actor: "operator".
        other = cli.json("alerts", "ack", seeded[2])["alert"]
        assert other["acked_by"] == "operator" and "ack_note" not in other


def test_resolve_closes_an_open_alert_and_a_resolved_one_is_refused(seeded, cli, rpc_url):
    target = seeded[3]
    with Client(rpc_url, timeout=10) as client:
        before = alert_events(client)
        done = cli.json("alerts", "resolve", target, "--note", "provider is back", "--actor", "bob")["alert"]
        assert done["status"] == "ALERT_STATUS_RESOLVED"
        assert done["resolved_by"] == "bob" and done["resolve_note"] == "provider is back"
        assert int(done["resolved_at_ms"]) > 0
        evs = alert_events(client, before[-1].id if before else 0)
        assert [(e.event_type, e.alert.id, e.alert.status, e.alert.resolved_by, e.project_id) for e in evs] == [
            ("alert.resolved", target, common_pb2.ALERT_STATUS_RESOLVED, "bob", 8)]
        assert [a.resource for a in audit_of(client, "EventService/ResolveAlert")] == [f"alert/{target}"]
        assert target not in [int(a["id"]) for a in cli.json("alerts", "list", "--status", "open")["alerts"]]

    # A resolved alert (by hand, or by the server) cannot be acknowledged or resolved again.
    for args in (("ack", target), ("resolve", target), ("ack", seeded[0]), ("resolve", seeded[0])):
        rc, out, err = cli("alerts", *args)
        assert rc == 1 and "error: FAILED_PRECONDITION ALERT_ALREADY_RESOLVED" in err, (args, rc, out, err)
    rc, out, err = cli("alerts", "ack", 999999)
    assert rc == 1 and "error: NOT_FOUND ALERT_NOT_FOUND" in err, (rc, out, err)
    rc, out, err = cli("alerts", "resolve", seeded[1], "--note", "x" * 2001)
    assert rc == 1 and "VALIDATION_ERROR" in err and "note" in err, (rc, out, err)
    # Usage errors and an unreachable server keep their exit codes.
    for args in (("ack",), ("ack", "abc"), ("resolve", 0), ("list", "--status", "closed"), ("silence", 1)):
        rc, out, err = cli("alerts", *args)
        assert rc == 2, (args, rc, out, err)
    p = subprocess.run([BIN, "--rpc", f"tcp://127.0.0.1:{free_port()}", "alerts", "list"], capture_output=True,
                       text=True, env=child_env(), timeout=60)
    assert p.returncode == 3, (p.stdout, p.stderr)
    # The server kept serving.
    assert len(cli.json("alerts", "list")["alerts"]) == 5


def test_a_secret_in_a_note_is_not_stored(seeded, cli, db_path):
    secret = "sk-ant-api03-" + "A" * 40
    out = cli.json("alerts", "ack", seeded[1], "--note", f"key was {secret}")["alert"]
    assert secret not in out["ack_note"]
    out = cli.json("alerts", "resolve", seeded[2], "--note", f"rotated {secret}")["alert"]
    assert secret not in out["resolve_note"]
    notes = sql(db_path, "SELECT ack_note || resolve_note FROM alerts")
    assert notes and not any(secret in n for (n,) in notes)


def lock_once(client):
    """An injected 2 s write lock: writes during it are refused DB_LOCKED
    (the lock is taken by another connection a moment after the call, so
    writes are tried until one is refused); the writer raises (or bumps) the
    DB_LOCKED alert once it has the lock again, with the next write."""
    client.call("AdminService", "InjectFault", admin_pb2.InjectFaultRequest(mode="db_lock", duration_ms=2000),
                admin_pb2.InjectFaultResponse)
    deadline = time.monotonic() + 1.5

    def refused():
        try:
            client.call("EventService", "Publish", event_pb2.PublishRequest(event_type="operator.probe"),
                        event_pb2.PublishResponse)
        except RpcError as e:
            assert e.reason == "DB_LOCKED", e
            return True
        assert time.monotonic() < deadline, "no write was refused DB_LOCKED during the injected lock"
        return False

    wait_until(refused, 5, "a write refused DB_LOCKED")
    time.sleep(2.0)


def test_an_acknowledged_db_locked_alert_stays_open_and_counts_repeats(db_path, rpc_url, cli):
    srv = start(db_path, rpc_url, extra_args=["--enable-fault-injection"],
                env={"BEEBEEBRAIN_BUSY_TIMEOUT_MS": "200"})
    try:
        with Client(rpc_url, timeout=10) as client:
            lock_once(client)

            def open_locked():
                client.call("EventService", "Publish", event_pb2.PublishRequest(event_type="operator.nudge"),
                            event_pb2.PublishResponse)
                found = cli.json("alerts", "list", "--status", "open", "--code", "DB_LOCKED").get("alerts", [])
                return found[0] if found else None

            alert = wait_until(open_locked, 20, "the DB_LOCKED alert")
            assert "project_id" not in alert  # the whole server's: project 0
            # It names the engine's lock, so the operator looks in the right place (runbook 3.2, 7).
            assert alert["title"] == ("PostgreSQL lock contention" if PG else "SQLite write lock contention"), alert
            acked = cli.json("alerts", "ack", alert["id"], "--note", "someone holds the lock")["alert"]
            assert acked["status"] == "ALERT_STATUS_OPEN"

            # The cause comes back: the same alert counts it, still acknowledged and open.
            lock_once(client)
            again = wait_until(lambda: (lambda a: a if a and a["raise_count"] >= 2 else None)(open_locked()), 20,
                               "the second lock to be counted on the alert")
            assert again["id"] == alert["id"]
            assert again["acked_by"] == "operator" and again["ack_note"] == "someone holds the lock"
            assert again["status"] == "ALERT_STATUS_OPEN"
    finally:
        stop(srv)
