"""Drill: SQLite write-lock contention (docs/runbook.md, section 3.2).

A write load runs over RPC (tasks created, one every 20 ms) and through the
CLI (the runbook's `inbox note`), when another process (a Python sqlite3
connection in BEGIN IMMEDIATE) holds the database's write lock for 10 s. Writes
in that window are refused UNAVAILABLE DB_LOCKED (after a 1 s busy timeout
here); the DB_LOCKED alert is raised and `triage` shows it; the operator
follows the runbook. Every write acknowledged before, during and after is in
the database, and the alert resolves by itself: the writer resolves it with
its first commit after a quiet period without a lock failure (60 s by
default; 5 s here through BEEBEEBRAIN_DB_LOCKED_QUIET_MS)."""

import sqlite3
import subprocess
import sys
import time

from drill_fixtures import Operator, Server, WriteLoad, free_port, report, scene, wait_until

LOCK_HOLD_S = 10
QUIET_S = 5  # the DB_LOCKED alert's quiet period (docs/events.md, Alerts)
SERVER_ENV = {"BEEBEEBRAIN_BUSY_TIMEOUT_MS": "1000", "BEEBEEBRAIN_DB_LOCKED_QUIET_MS": str(QUIET_S * 1000)}
NOTE = 'beebeebrain inbox note --title "lock check" --content "one write after DB_LOCKED"'

LOCKER = """
import pathlib, sqlite3, sys, time
db, hold_s, marker = sys.argv[1], float(sys.argv[2]), pathlib.Path(sys.argv[3])
con = sqlite3.connect(db, timeout=30, isolation_level=None)
con.execute("BEGIN IMMEDIATE")
marker.write_text("locked")
time.sleep(hold_s)
con.execute("ROLLBACK")
con.close()
"""


def count(db, sql, *args):
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    try:
        return con.execute(sql, args).fetchone()[0]
    finally:
        con.close()


def stored_task_ids(db):
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    try:
        return {i for (i,) in con.execute("SELECT id FROM tasks")}
    finally:
        con.close()


def test_lock_contention_drill_loses_no_acknowledged_write_and_the_alert_resolves_itself(tmp_path):
    db = tmp_path / "bbb.db"
    srv = Server(db, f"tcp://127.0.0.1:{free_port()}", env=SERVER_ENV).start()
    locker = None
    try:
        op = Operator(srv.url, tmp_path)
        root = tmp_path / "workspace"
        root.mkdir()
        project_id = int(scene(op, "project", "create", "default", "--root", root)["project"]["id"])
        notes_acked = 0

        def note():
            nonlocal notes_acked
            rc, out, err = op.type(NOTE)
            if rc == 0:
                notes_acked += 1
            else:
                assert rc == 1 and "UNAVAILABLE DB_LOCKED" in err, (rc, err)
            return rc

        load = WriteLoad(srv.url, project_id, pause_s=0.02)
        try:
            # Before: the load is acknowledged.
            wait_until(lambda: len(load.acked) >= 20, 20, "20 writes acknowledged before the lock")
            assert note() == 0
            acked_before = len(load.acked)

            # During: another process holds the write lock.
            marker = tmp_path / "locked"
            locker = subprocess.Popen([sys.executable, "-c", LOCKER, str(db), str(LOCK_HOLD_S), str(marker)],
                                      stdin=subprocess.DEVNULL)
            wait_until(marker.exists, 10, "the other process to hold the write lock")
            locked_at = time.monotonic()
            wait_until(lambda: "DB_LOCKED" in load.refused, 10, "a write refused DB_LOCKED")
            assert set(load.refused) == {"DB_LOCKED"}, set(load.refused)
            # The CLI sees it as the runbook says: exit 1, UNAVAILABLE DB_LOCKED.
            assert note() == 1

            # Reads are served while the lock is held.
            rc, out, err = op.type("beebeebrain runtime status")
            assert rc == 0, err
            assert locker.wait(timeout=LOCK_HOLD_S + 20) == 0
            assert time.monotonic() - locked_at < LOCK_HOLD_S + 20

            # After: the writer has the lock again and raises DB_LOCKED (the alert needs a write itself).
            def raised():
                return [a for a in op.json("beebeebrain alerts list --code DB_LOCKED").get("alerts", [])
                        if a["status"] == "ALERT_STATUS_OPEN"]

            [alert] = wait_until(raised, 20, "the DB_LOCKED alert")
            assert "project_id" not in alert  # the whole server's

            # The runbook, step 1: triage.
            rc, human, err = op.type("beebeebrain triage")
            report("lock_contention_triage", human)
            assert rc == 4, (rc, human, err)  # an open alert nobody acknowledged pages
            triage = op.json("beebeebrain triage", rcs=(4,))
            assert triage["verdict"] == "incident"
            wl = triage["write_lock"]
            assert wl["db_locked_open"] is True and int(wl["last_db_locked_at_ms"]) > 0, wl
            assert int(wl["lock_failures"]) >= 1 and int(wl["last_commit_at_ms"]) > 0, wl
            assert any(f["area"] == "write_lock" and f.get("pages") for f in triage["findings"]), triage["findings"]
            assert [a["code"] for a in triage["open_alerts"]] == ["DB_LOCKED"]

            rc, out, err = op.type("beebeebrain runtime status")
            assert rc == 0, err

            # Steps 2 to 6: pause the writers, one representative write, resume.
            rc, out, err = op.type("beebeebrain task broadcast pause --status running")
            assert rc == 0, err
            wait_until(lambda: note() == 0, 20, "the runbook's representative write to succeed")
            acked_at_release = len(load.acked)
            wait_until(lambda: len(load.acked) >= acked_at_release + 20, 20, "20 writes acknowledged after")
            rc, out, err = op.type("beebeebrain task broadcast resume")
            assert rc == 0, err

            # The alert resolves by itself once the writer commits after its quiet period.
            def resolved():
                got = op.json("beebeebrain alerts list --status resolved --code DB_LOCKED").get("alerts", [])
                return [a for a in got if a["id"] == alert["id"]]

            wait_until(resolved, QUIET_S + 30, "the DB_LOCKED alert to resolve by itself", interval_s=1.0)
        finally:
            load.stop()

        # Nothing acknowledged was lost: every task id the server answered, every note it accepted.
        assert len(load.acked) > acked_before > 0
        assert set(load.acked) <= stored_task_ids(db), "an acknowledged write is missing"
        assert count(db, "SELECT count(*) FROM tasks") == len(load.acked)
        assert count(db, "SELECT count(*) FROM inbox_items WHERE title = 'lock check'") == notes_acked
        rc, out, err = op.type("beebeebrain triage")
        assert rc == 0, out + err
        after = op.json("beebeebrain triage")
        assert not after["write_lock"].get("db_locked_open", False)
        assert not [f for f in after.get("findings", []) if f.get("pages")], after["findings"]
    finally:
        if locker is not None and locker.poll() is None:
            locker.kill()
            locker.wait()
        if srv.running():
            assert srv.stop() == 0, srv.log()
