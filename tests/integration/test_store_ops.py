"""Operating the database file (docs/decisions.md, Storage): one server per database, the
offline `migrate` commands, consistent online and offline backups, and
`restore`. What the commands leave on disk is checked with the sqlite3 module,
independently of the server.

On PostgreSQL several servers share a database, the migrations are the same,
and `backup`/`restore` are refused (FAILED_PRECONDITION DB_ENGINE_UNSUPPORTED):
pg_dump and pg_restore do that (docs/runbook.md, section 7)."""

import json
import os
import re
import subprocess
import threading

import pytest

from beebeebrain.v1 import task_pb2
from beebeebrain import Client, RpcError
from conftest import BIN, PG, START_TIMEOUT_S, Server, child_env, free_port, is_pg_target, sql, wait_until

APP_TABLES = {"projects", "agents", "tasks", "task_dependencies", "task_runs", "run_attempts", "inbox_items",
              "events", "api_usage_daily", "alerts"}


def tables(path):
    if is_pg_target(path):
        return {name for (name,) in sql(path, "SELECT table_name FROM information_schema.tables "
                                              "WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'")}
    return {name for (name,) in sql(path, "SELECT name FROM sqlite_master WHERE type = 'table'")}


def integrity(path):
    return sql(path, "PRAGMA integrity_check")[0][0]


def task_ids(path):
    return {i for (i,) in sql(path, "SELECT id FROM tasks")}


def names_pid(text, pid):
    return re.search(rf"\bpid {pid}\b", text) is not None


def seed(cli, tmp_path, n_tasks):
    root = tmp_path / "ws"
    root.mkdir(exist_ok=True)
    cli.json("project", "create", "default", "--root", root)
    return [int(cli.json("task", "create", "--title", f"t{i}")["task"]["id"]) for i in range(n_tasks)]


# ---- one server per database

def test_second_server_on_the_same_db_exits_nonzero_naming_the_first_pid(server, cli, tmp_path):
    if PG:
        # Several servers share one PostgreSQL database (docs/scale-out.md):
        # the second starts, and what one commits the other answers.
        second = Server(server.db_path, f"tcp://127.0.0.1:{free_port()}", seeded=True).start()
        try:
            ids = seed(cli, tmp_path, 2)
            with Client(second.url, timeout=10) as c:
                listed = c.call("TaskService", "ListTasks", task_pb2.ListTasksRequest(), task_pb2.ListTasksResponse)
            assert [t.id for t in listed.tasks] == ids
            assert cli.json("health")["status"] == "ok"
        finally:
            assert second.stop() == 0, second.log()
        return
    second = subprocess.run([BIN, "serve", "--db", server.db_path, "--rpc", f"tcp://127.0.0.1:{free_port()}",
                             "--events", f"tcp://127.0.0.1:{free_port()}"],
                            stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=START_TIMEOUT_S,
                            env=child_env())
    assert second.returncode != 0
    assert names_pid(second.stderr, server.pid), second.stderr
    assert cli.json("health")["status"] == "ok"


@pytest.mark.sqlite_only("names of one SQLite file: symbolic and hard links")
def test_second_server_through_a_symlink_or_a_hard_link_is_refused_naming_the_first(server, cli, tmp_path):
    """The lock is on the database file, not on a name of it: two servers on
    one file through two hard links would even keep two different -wal files."""
    sym, hard = tmp_path / "sym.db", tmp_path / "hard.db"
    sym.symlink_to(server.db_path)
    os.link(server.db_path, hard)
    for alias in (sym, hard):
        second = subprocess.run([BIN, "serve", "--db", str(alias), "--rpc", f"tcp://127.0.0.1:{free_port()}",
                                 "--events", f"tcp://127.0.0.1:{free_port()}"],
                                stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=START_TIMEOUT_S,
                                env=child_env())
        assert second.returncode != 0, alias
        assert "FAILED_PRECONDITION DB_IN_USE" in second.stderr, second.stderr
        assert names_pid(second.stderr, server.pid), second.stderr
        # The offline commands see the server through the alias too.
        rc, out, err = cli("migrate", "up", "--db", alias)
        assert rc == 1 and names_pid(err, server.pid), err
    # A backup through the alias goes through the server, so it holds what
    # the server committed (still in bbb.db-wal, which hard.db would miss).
    ids = seed(cli, tmp_path, 2)
    result = cli.json("backup", "--db", hard, "--out", tmp_path / "via-link.bak")
    assert task_ids(result["path"]) == set(ids)
    assert not os.path.exists(f"{hard}-wal")
    assert cli.json("ready")["ready"] is True


# ---- migrations (offline)

def test_migrate_down_to_zero_and_up_again_gives_a_schema_the_server_starts_on(server, cli, tmp_path):
    seed(cli, tmp_path, 1)
    assert server.stop() == 0
    db = server.db_path

    status = cli.json("migrate", "status", "--db", db)
    latest = status["latest_version"]
    assert status["current_version"] == latest >= 1
    assert all(m["applied"] for m in status["migrations"])

    # Versions need not be contiguous (a migration may land before a lower-numbered one).
    versions = [m["version"] for m in status["migrations"]]
    assert versions == sorted(versions) and versions[-1] == latest
    down = cli.json("migrate", "down", "1", "--db", db)
    assert down.get("current_version", 0) == (versions[-2] if len(versions) > 1 else 0)
    if len(versions) > 1:
        down = cli.json("migrate", "down", str(len(versions) - 1), "--db", db)
    assert down.get("current_version", 0) == 0
    assert not any(m.get("applied") for m in down["migrations"])
    # Only the migrations' own bookkeeping is left.
    assert {t for t in tables(db) if not t.startswith("sqlite_")} <= {"schema_migrations", "schema_hold"}

    up = cli.json("migrate", "up", "--db", db)
    assert up["current_version"] == latest
    assert all(m["applied"] for m in up["migrations"])
    assert APP_TABLES <= tables(db)
    if not PG:
        assert integrity(db) == "ok"

    server.start()
    assert cli.json("ready")["ready"] is True
    assert cli.json("task", "list").get("tasks", []) == []
    seed(cli, tmp_path, 1)


def test_maintenance_commands_are_refused_while_a_server_holds_the_db_and_run_once_it_stopped(server, cli, tmp_path):
    # SQLite: the server's lock on the file. PostgreSQL: the server's row in
    # `servers`, alive by its heartbeat (restore is refused there anyway: a
    # file copy, test below).
    before = tables(server.db_path)
    commands = [["migrate", "up"], ["migrate", "down", "1"]]
    if not is_pg_target(server.db_path):
        commands.append(["restore", str(tmp_path / "any.bak")])
    for args in commands:
        rc, out, err = cli(*args, "--db", server.db_path)
        assert rc == 1, args
        assert err.startswith("error: FAILED_PRECONDITION DB_IN_USE"), err
        assert names_pid(err, server.pid), err
    assert tables(server.db_path) == before
    assert cli.json("ready")["ready"] is True
    assert server.stop() == 0
    rc, out, err = cli("migrate", "down", "1", "--db", server.db_path)
    assert rc == 0, err
    assert "1 migration(s) reverted" in out


# ---- backup

@pytest.mark.sqlite_only("SQLite's online backup")
def test_online_backup_under_write_load_holds_every_task_acknowledged_before_it(server, cli, tmp_path):
    seed(cli, tmp_path, 0)
    acked, errors, lock, stop = [], [], threading.Lock(), threading.Event()

    def writer(n):
        try:
            with Client(server.url, timeout=10) as c:
                i = 0
                while not stop.is_set():
                    resp = c.call("TaskService", "CreateTask", task_pb2.CreateTaskRequest(title=f"w{n}-{i}"),
                                  task_pb2.CreateTaskResponse)
                    with lock:
                        acked.append(resp.task.id)
                    i += 1
        except RpcError as e:
            errors.append(e)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    try:
        wait_until(lambda: len(acked) >= 40 or errors, 20, "40 acknowledged tasks")
        with lock:
            before = set(acked)
        out = tmp_path / "online.bak"
        result = cli.json("backup", "--out", out, "--db", server.db_path)
        with lock:
            during = len(acked)
        # The server keeps taking writes after the backup: it did not stall them.
        wait_until(lambda: len(acked) >= during + 20 or errors, 20, "20 more tasks after the backup")
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=30)
    assert errors == []
    assert result["path"] == str(out)
    assert result["integrity"] == "ok"
    assert int(result["size_bytes"]) == out.stat().st_size
    assert integrity(out) == "ok"
    in_backup = task_ids(out)
    assert before <= in_backup
    assert in_backup <= set(acked) | task_ids(server.db_path)


@pytest.mark.sqlite_only("a copy of the SQLite file next to it")
def test_backup_without_out_uses_the_timestamped_default_path(server, cli, tmp_path):
    ids = seed(cli, tmp_path, 3)
    result = cli.json("backup", "--db", server.db_path)
    assert result["path"].startswith(server.db_path + ".")
    assert result["path"].endswith(".bak")
    assert integrity(result["path"]) == "ok"
    assert task_ids(result["path"]) == set(ids)


@pytest.mark.sqlite_only("a copy of the SQLite file; PostgreSQL: test below")
def test_backup_without_db_goes_through_the_server_answering_on_rpc(server, cli, tmp_path):
    """The server knows its database; the client's default ./beebeebrain.db
    (absent in its working directory here) is not consulted."""
    ids = seed(cli, tmp_path, 3)
    assert not (tmp_path / "beebeebrain.db").exists()
    result = cli.json("backup")
    assert result["db_path"] == server.db_path
    assert result["path"].startswith(server.db_path + ".") and result["path"].endswith(".bak")
    assert result["integrity"] == "ok"
    assert int(result["size_bytes"]) == os.path.getsize(result["path"])
    assert int(result.get("duration_ms", 0)) >= 0
    assert task_ids(result["path"]) == set(ids)
    # A relative --out is the client's, made absolute for the server.
    rc, out, err = cli("backup", "--out", "rel.bak")
    assert rc == 0, err
    assert str(tmp_path / "rel.bak") in out and server.db_path in out, out
    assert re.search(r"\d+ bytes in \d+ ms, integrity ok", out), out
    assert task_ids(tmp_path / "rel.bak") == set(ids)
    assert not (tmp_path / "beebeebrain.db").exists()


def test_backup_without_db_and_without_a_server_says_what_to_give(cli, tmp_path):
    rc, out, err = cli("backup")
    assert rc == 3, err
    assert "--db" in err and "--rpc" in err, err
    assert not (tmp_path / "beebeebrain.db").exists()


@pytest.mark.sqlite_only("a copy of the SQLite file")
def test_offline_backup_works_without_a_server(server, cli, tmp_path):
    ids = seed(cli, tmp_path, 3)
    assert server.stop() == 0
    out = tmp_path / "offline.bak"
    result = cli.json("backup", "--out", out, "--db", server.db_path)
    assert result["path"] == str(out)
    assert result["integrity"] == "ok"
    assert integrity(out) == "ok"
    assert task_ids(out) == set(ids)


# ---- restore

@pytest.mark.sqlite_only("swaps SQLite files")
def test_restore_swaps_the_backup_in_and_keeps_the_previous_db_where_it_says(server, cli, tmp_path):
    ids = seed(cli, tmp_path, 2)
    backup = cli.json("backup", "--out", tmp_path / "two.bak", "--db", server.db_path)["path"]
    later = [int(cli.json("task", "create", "--title", f"later{i}")["task"]["id"]) for i in range(3)]
    assert server.stop() == 0

    rc, out, err = cli("-o", "json", "restore", backup, "--db", server.db_path)
    assert rc == 0, err
    result = json.loads(out)
    previous = result["previous"]
    assert previous and previous != server.db_path
    assert task_ids(server.db_path) == set(ids)
    assert integrity(server.db_path) == "ok"
    assert task_ids(previous) == set(ids + later)
    assert integrity(previous) == "ok"

    server.start()
    got = cli.json("task", "list")
    assert [int(t["id"]) for t in got["tasks"]] == ids


def test_failed_restore_where_there_is_no_database_leaves_nothing(cli, tmp_path):
    db = tmp_path / "none.db"
    rc, out, err = cli("restore", tmp_path / "missing.bak", "--db", db)
    assert rc == 1 and err.startswith("error: "), err
    assert not db.exists()


def test_restore_of_a_missing_file_changes_nothing(server, cli, tmp_path):
    ids = seed(cli, tmp_path, 2)
    assert server.stop() == 0
    rc, out, err = cli("restore", tmp_path / "missing.bak", "--db", server.db_path)
    assert rc == 1
    assert err.startswith("error: ")
    assert task_ids(server.db_path) == set(ids)


def test_backup_and_restore_of_a_postgresql_database_are_refused_pointing_at_pg_dump(server, cli, tmp_path):
    """PostgreSQL is backed up with pg_dump and restored with pg_restore
    (docs/runbook.md, section 7): the commands say so and write nothing,
    neither offline (--db, decided by the form of the name) nor through the
    server. The SQLite run checks the forms by their text alone."""
    ids = seed(cli, tmp_path, 2)
    before = set(tmp_path.iterdir())
    targets = [server.db_path] if PG else ["host=db1 dbname=bbb", "postgres://bbb@db1/bbb"]
    calls = [args for db in targets for args in (["backup", "--db", db], ["backup", "--db", db, "--out", "x.bak"],
                                                 ["restore", tmp_path / "any.bak", "--db", db])]
    if PG:
        calls += [["backup"], ["backup", "--out", "x.bak"]]  # through the server on --rpc
    for args in calls:
        rc, out, err = cli(*args)
        assert rc == 1, (args, out, err)
        assert "FAILED_PRECONDITION DB_ENGINE_UNSUPPORTED" in err and "pg_dump" in err, (args, err)
    # No server answering: the default database ($BEEBEEBRAIN_DB) is not
    # copied here either.
    for db in targets:
        p = subprocess.run([BIN, "--rpc", f"tcp://127.0.0.1:{free_port()}", "backup"], cwd=tmp_path,
                           stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=START_TIMEOUT_S,
                           env={**child_env(), "BEEBEEBRAIN_DB": db})
        assert p.returncode == 1, p.stderr
        assert "FAILED_PRECONDITION DB_ENGINE_UNSUPPORTED" in p.stderr and "pg_dump" in p.stderr, p.stderr
    assert set(tmp_path.iterdir()) == before
    assert task_ids(server.db_path) == set(ids)
    assert cli.json("ready")["ready"] is True
