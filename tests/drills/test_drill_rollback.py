"""Drill: backup and rollback (docs/runbook.md, section 4).

A server takes writes (tasks created over RPC, as fast as one client goes);
under that load the operator takes `beebeebrain backup` through the server.
Then, the server stopped: `scripts/rollback_with_backup.sh DB_PATH`, a plain
`serve` refuses the held schema (SCHEMA_HELD), `migrate status` says so,
`migrate up`, `serve` starts with every acknowledged write; and
`restore BACKUP_FILE` brings back exactly the rows the backup held."""

import re
import signal
import sqlite3

from drill_fixtures import Operator, Server, WriteLoad, free_port, wait_until  # first: it finds the stubs and helpers

from beebeebrain.v1 import health_pb2  # noqa: E402
from beebeebrain import Client, RpcError  # noqa: E402

START_TIMEOUT_S = 15


def ro(db):
    return sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)


def row_counts(db):
    """{table: rows} of every table of the database."""
    con = ro(db)
    try:
        tables = [t for (t,) in con.execute("SELECT name FROM sqlite_master WHERE type = 'table' "
                                            "AND name NOT LIKE 'sqlite_%' ORDER BY name")]
        return {t: con.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables}
    finally:
        con.close()


def task_ids(db):
    con = ro(db)
    try:
        return {i for (i,) in con.execute("SELECT id FROM tasks")}
    finally:
        con.close()


def schema_version(db):
    con = ro(db)
    try:
        return con.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchone()[0]
    finally:
        con.close()


def serve(op, tmp_path, db, name):
    """`beebeebrain serve --db DB_PATH` as the runbook has it (on ports of its
    own): returns the running process once it answers health."""
    url = f"tcp://127.0.0.1:{free_port()}"
    proc = op.spawn("beebeebrain serve --db DB_PATH", tmp_path / f"{name}.log", DB_PATH=db,
                    extra=("--rpc", url, "--events", f"tcp://127.0.0.1:{free_port()}"))

    def healthy():
        assert proc.poll() is None, f"serve exited {proc.returncode}:\n{(tmp_path / f'{name}.log').read_text()}"
        try:
            with Client(url, timeout=1) as c:
                return c.call("HealthService", "Check", health_pb2.CheckRequest(), health_pb2.CheckResponse)
        except RpcError:
            return False

    wait_until(healthy, START_TIMEOUT_S, "the restarted server to answer")
    return proc, url


def stop(proc):
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=15) == 0


def test_rollback_drill_backup_under_load_rollback_sticks_migrate_up_and_restore(tmp_path):
    db = tmp_path / "bbb.db"
    srv = Server(db, f"tcp://127.0.0.1:{free_port()}", seeded=True).start()
    op = Operator(srv.url, tmp_path)
    # A brand-new database has project "default", id 1.
    load = WriteLoad(srv.url, 1)
    try:
        wait_until(lambda: len(load.acked) >= 50, 30, "50 writes acknowledged before the backup")
        before = list(load.acked)
        backup = op.json("beebeebrain backup")
        wait_until(lambda: len(load.acked) >= len(before) + 50, 30, "50 writes acknowledged after the backup")
    finally:
        load.stop()
    assert load.refused == [], f"writes refused under load: {load.refused[:5]}"

    bak = backup["path"]
    assert backup["integrity"] == "ok" and int(backup["size_bytes"]) > 0, backup
    assert str(db) == backup["db_path"]
    held = row_counts(bak)
    assert set(before) <= task_ids(bak), "a write acknowledged before the backup is missing from it"
    assert held["tasks"] >= len(before)

    # The rollback is offline: the server stops first (SIGTERM: queued writes commit, exit 0).
    assert srv.stop() == 0, srv.log()
    assert set(load.acked) <= task_ids(db), "an acknowledged write was lost"
    latest = schema_version(db)

    rc, out, err = op.type("scripts/rollback_with_backup.sh DB_PATH", DB_PATH=db, timeout_s=120)
    assert rc == 0, out + err
    m = re.search(r"^schema version (\d+) \(held", out, re.M)
    assert m, out
    rolled = int(m.group(1))
    assert rolled < latest and schema_version(db) == rolled

    # A plain start refuses to re-apply what was just rolled back.
    rc, out, err = op.type("beebeebrain serve --db DB_PATH", DB_PATH=db, timeout_s=START_TIMEOUT_S,
                           extra=("--rpc", f"tcp://127.0.0.1:{free_port()}",
                                  "--events", f"tcp://127.0.0.1:{free_port()}"))
    assert rc != 0 and "FAILED_PRECONDITION SCHEMA_HELD" in err, (rc, err)
    assert schema_version(db) == rolled
    status = op.json("beebeebrain migrate status --db DB_PATH", DB_PATH=db)
    assert status["held"] is True and status.get("current_version", 0) == rolled, status

    op.json("beebeebrain migrate up --db DB_PATH", DB_PATH=db)
    assert schema_version(db) == latest
    proc, url = serve(op, tmp_path, db, "after-migrate-up")
    try:
        rc, out, err = Operator(url, tmp_path).type("beebeebrain ready")
        assert rc == 0, out + err
    finally:
        stop(proc)
    assert set(load.acked) <= task_ids(db), "an acknowledged write was lost by the rollback and migrate up"

    # Back to the data as the backup held it, row for row.
    rc, out, err = op.type("beebeebrain restore BACKUP_FILE --db DB_PATH", BACKUP_FILE=bak, DB_PATH=db)
    assert rc == 0, out + err
    assert row_counts(db) == held
    assert task_ids(db) == task_ids(bak)
    proc, url = serve(op, tmp_path, db, "after-restore")
    stop(proc)
