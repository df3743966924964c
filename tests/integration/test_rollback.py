"""A rollback that sticks (docs/decisions.md, "Storage"): `migrate down` holds the schema
below the binary's, `serve` refuses to re-apply it (SCHEMA_HELD) until
`migrate up` or `serve --migrate`, while a fresh or normally older database
still migrates automatically after its automatic backup; and the script
scripts/rollback_with_backup.sh that does backup + downgrade + verify.

On PostgreSQL the hold is the same; there is no automatic backup (the server
says to take a pg_dump) and the script, which copies SQLite files, refuses
the database (docs/runbook.md, section 7)."""

import glob
import os
import subprocess

import pytest

from conftest import BIN, PG, START_TIMEOUT_S, Server, child_env, free_port, sql

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(REPO, "scripts", "rollback_with_backup.sh")


def version(path):
    return sql(path, "SELECT coalesce(max(version), 0) FROM schema_migrations")[0][0]


def previous(path):
    """The version one `migrate down` leaves: versions need not be contiguous."""
    applied = [v for (v,) in sql(path, "SELECT version FROM schema_migrations ORDER BY version")]
    return applied[-2] if len(applied) > 1 else 0


def task_count(path):
    return sql(path, "SELECT count(*) FROM tasks")[0][0]


def backups(db):
    """The backups next to a SQLite file; on PostgreSQL, files a server would
    have named after its connection string in its working directory (ours):
    there must be none."""
    return sorted(glob.glob(f"{db}.*.bak"))


def serve_once(db, *extra):
    """`serve` on db expected to exit by itself (refused): (rc, stderr)."""
    p = subprocess.run([BIN, "serve", "--db", str(db), "--rpc", f"tcp://127.0.0.1:{free_port()}",
                        "--events", f"tcp://127.0.0.1:{free_port()}", *extra],
                       stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=START_TIMEOUT_S,
                       env=child_env())
    return p.returncode, p.stderr


def seed(cli, tmp_path, n):
    root = tmp_path / "ws"
    root.mkdir(exist_ok=True)
    cli.json("project", "create", "default", "--root", root)
    for i in range(n):
        cli.json("task", "create", "--title", f"t{i}")


def test_serve_refuses_a_schema_held_by_migrate_down_until_migrate_up(server, cli, tmp_path):
    seed(cli, tmp_path, 3)
    assert server.stop() == 0
    db = server.db_path
    latest, prev = version(db), previous(db)
    down = cli.json("migrate", "down", "--db", db)
    assert down["current_version"] == prev
    assert down["held"] is True and down["held_version"] == prev
    baks = backups(db)

    rc, err = serve_once(db)
    assert rc != 0
    assert "FAILED_PRECONDITION SCHEMA_HELD" in err, err
    assert "migrate up" in err and "serve --migrate" in err, err
    # Nothing re-applied, nothing backed up, the data is where it was.
    assert version(db) == prev
    assert backups(db) == baks
    assert task_count(db) == 3
    # The status says so too, also in the human output.
    rc, out, err = cli("migrate", "status", "--db", db)
    assert rc == 0 and "held at version" in out, out

    up = cli.json("migrate", "up", "--db", db)
    assert up["current_version"] == latest
    assert not up.get("held", False)
    server.start()
    assert cli.json("ready")["ready"] is True
    assert len(cli.json("task", "list")["tasks"]) == 3


def test_the_hold_survives_a_rollback_to_version_zero(server, cli, tmp_path):
    assert server.stop() == 0
    db = server.db_path
    n = sql(db, "SELECT count(*) FROM schema_migrations")[0][0]
    down = cli.json("migrate", "down", str(n), "--db", db)
    assert down.get("current_version", 0) == 0 and down["held"] is True
    rc, err = serve_once(db)
    assert rc != 0 and "SCHEMA_HELD" in err, err
    assert version(db) == 0


def test_serve_migrate_applies_a_held_schema_after_its_automatic_backup(server, cli, tmp_path):
    seed(cli, tmp_path, 2)
    assert server.stop() == 0
    db = server.db_path
    latest, prev = version(db), previous(db)
    cli.json("migrate", "down", "--db", db)
    before = backups(db)

    # seeded: the held database as it is, no `migrate up` before the start.
    held = Server(db, server.url, extra_args=["--migrate"], seeded=True).start()
    try:
        assert cli.json("ready")["ready"] is True
        status = cli.json("migrate", "status", "--db", db)
        assert status["current_version"] == latest and not status.get("held", False)
        new = sorted(set(backups(db)) - set(before))
        if PG:
            # PostgreSQL is backed up with pg_dump: the server says so.
            assert new == []
            assert "no automatic backup on PostgreSQL (pg_dump first)" in held.log(), held.log()
        else:
            assert len(new) == 1
            assert version(new[0]) == prev
            assert task_count(new[0]) == 2
    finally:
        assert held.stop() == 0
    # Released: a plain serve starts again.
    server.start()
    assert len(cli.json("task", "list")["tasks"]) == 2


def test_a_normally_older_database_still_migrates_after_its_automatic_backup(cli, db_path, rpc_url):
    db = db_path
    subprocess.run([BIN, "migrate", "up", "1", "--db", str(db)], check=True, capture_output=True,
                   env=child_env())
    assert version(db) == 1
    # seeded: the server migrates the database as it is, at version 1.
    srv = Server(db, rpc_url, seeded=True).start()
    try:
        status = cli.json("migrate", "status", "--db", db)
        assert status["current_version"] == status["latest_version"] > 1
        assert not status.get("held", False)
        if PG:
            assert backups(db) == []
            assert "no automatic backup on PostgreSQL (pg_dump first)" in srv.log(), srv.log()
        else:
            assert len(backups(db)) == 1 and version(backups(db)[0]) == 1
    finally:
        assert srv.stop() == 0


def run_script(*args, env=None, cwd=None):
    p = subprocess.run([SCRIPT, *[str(a) for a in args]], stdin=subprocess.DEVNULL, capture_output=True, text=True,
                       timeout=120, env={**child_env(), "BEEBEEBRAIN_BIN": BIN, **(env or {})}, cwd=cwd)
    return p.returncode, p.stdout, p.stderr


def backup_named(out):
    paths = [line.split()[1] for line in out.splitlines() if line.startswith("backup: ")]
    assert paths, out
    return paths[-1]


@pytest.mark.sqlite_only("the script copies the SQLite file; PostgreSQL is refused (test below)")
def test_rollback_script_backs_up_downgrades_to_target_and_the_rollback_sticks(server, cli, tmp_path):
    seed(cli, tmp_path, 4)
    assert server.stop() == 0
    db = server.db_path
    latest = version(db)

    rc, out, err = run_script(db, 1)
    assert rc == 0, out + err
    bak = backup_named(out)
    assert os.path.exists(bak)
    assert sql(bak, "PRAGMA integrity_check")[0][0] == "ok"
    assert version(bak) == latest and task_count(bak) == 4
    assert version(db) == 1
    assert "migrate up" in out and "restore" in out, out

    rc, err = serve_once(db)
    assert rc != 0 and "SCHEMA_HELD" in err, err
    cli.json("migrate", "up", "--db", db)
    server.start()
    assert cli.json("ready")["ready"] is True
    # The backup restores to exactly what it held.
    assert server.stop() == 0
    cli.json("restore", bak, "--db", db)
    assert task_count(db) == 4 and version(db) == latest


@pytest.mark.sqlite_only("the script copies the SQLite file; PostgreSQL is refused (test below)")
def test_rollback_script_with_skip_downgrade_only_backs_up_through_the_running_server(server, cli, tmp_path):
    seed(cli, tmp_path, 2)
    latest = version(server.db_path)
    rc, out, err = run_script(server.db_path, env={"SKIP_DOWNGRADE": "1", "BEEBEEBRAIN_RPC_URL": server.url})
    assert rc == 0, out + err
    bak = backup_named(out)
    assert task_count(bak) == 2 and version(bak) == latest
    assert cli.json("migrate", "status", "--db", server.db_path)["current_version"] == latest
    assert cli.json("ready")["ready"] is True


@pytest.mark.sqlite_only("the script copies the SQLite file; PostgreSQL is refused (test below)")
def test_rollback_script_refuses_to_downgrade_under_a_running_server_but_keeps_the_backup(server, cli, tmp_path):
    seed(cli, tmp_path, 1)
    latest = version(server.db_path)
    rc, out, err = run_script(server.db_path, env={"BEEBEEBRAIN_RPC_URL": server.url})
    assert rc == 1, out + err
    assert "the backup is" in err, err
    assert task_count(backup_named(out)) == 1
    assert cli.json("migrate", "status", "--db", server.db_path)["current_version"] == latest
    assert cli.json("ready")["ready"] is True


def test_rollback_script_rejects_a_target_that_is_not_a_version(tmp_path):
    rc, out, err = run_script(tmp_path / "x.db", "one")
    assert rc == 2 and "TARGET" in err, err


def test_rollback_script_refuses_a_postgresql_database_and_changes_nothing(server, cli, tmp_path):
    """PostgreSQL is backed up with pg_dump (docs/runbook.md, section 7): the
    script says so and does nothing, whichever form names the database. On
    SQLite the forms are refused by their text alone."""
    if PG:
        seed(cli, tmp_path, 2)
        assert server.stop() == 0
        latest = version(server.db_path)
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    targets = [server.db_path] if PG else ["host=db1 dbname=bbb", "postgres://bbb@db1/bbb", "postgresql://db1/bbb"]
    for db in targets:
        rc, out, err = run_script(db, 1, cwd=cwd)
        assert rc == 1, out + err
        assert "PostgreSQL" in err and "pg_dump" in err and "nothing was changed" in err, err
        assert "backup: " not in out, out
    assert list(cwd.iterdir()) == []
    if PG:
        assert version(server.db_path) == latest and task_count(server.db_path) == 2
