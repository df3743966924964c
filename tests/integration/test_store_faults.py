"""The database file under hostile conditions (docs/decisions.md, Storage): a full
disk, a read-only file or file system, a corrupt file.

The real server runs on its real files. The full and the read-only disk come
from tests/integration/fsfault_preload.c (LD_PRELOAD): while a flag file
exists, writes to the database's files fail as the kernel's would (ENOSPC for
a write that needs new space, EROFS for any write). What is on disk is checked
with the sqlite3 module after the server stopped: every acknowledged write
must be there, nothing refused may be."""

import json
import os
import random
import shutil
import sqlite3
import subprocess
import tempfile

import pytest

from beebeebrain.v1 import health_pb2, project_pb2, task_pb2
from beebeebrain import Client, RpcError
from conftest import BIN, START_TIMEOUT_S, Server, child_env, free_port, wait_until

RESOURCE_EXHAUSTED, FAILED_PRECONDITION = 8, 9
FSFAULT_LIB = os.environ.get("BBB_FSFAULT_LIB") or os.path.join(os.environ.get("BBB_BUILD_DIR", ""), "tests",
                                                                  "libbbb_fsfault.so")


def sql(path, query, *params):
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return con.execute(query, params).fetchall()
    finally:
        con.close()


def task_titles(path):
    return {title for (title,) in sql(path, "SELECT title FROM tasks")}


def create_task(client, title, description=""):
    return client.call("TaskService", "CreateTask",
                       task_pb2.CreateTaskRequest(title=title, description=description),
                       task_pb2.CreateTaskResponse).task


def ready(client):
    """(ready, the writer check) from HealthService/Ready."""
    r = client.call("HealthService", "Ready", health_pb2.ReadyRequest(), health_pb2.ReadyResponse)
    return r.ready, next(c for c in r.checks if c.name == "writer")


class Fault:
    """The flag file of fsfault_preload.c."""

    def __init__(self, path):
        self.path = str(path)

    def arm(self, word):
        with open(self.path, "w") as f:
            f.write(word)

    def clear(self):
        os.unlink(self.path)


@pytest.fixture
def fault(tmp_path):
    return Fault(tmp_path / "fault")


@pytest.fixture
def faulty_server(db_path, rpc_url, fault):
    assert FSFAULT_LIB and os.path.exists(FSFAULT_LIB), "set BBB_FSFAULT_LIB (ctest does)"
    asan = os.environ.get("ASAN_OPTIONS", "")
    env = {
        "LD_PRELOAD": FSFAULT_LIB,
        "BBB_FSFAULT_FLAG": fault.path,
        "BBB_FSFAULT_PREFIX": os.path.realpath(db_path),
        # An ASan build checks that its runtime is loaded first; ours is.
        "ASAN_OPTIONS": (asan + ":" if asan else "") + "verify_asan_link_order=0",
    }
    srv = Server(db_path, rpc_url, env=env).start()
    yield srv
    if srv.running():
        assert srv.stop() == 0, srv.log()


@pytest.fixture
def fclient(faulty_server, tmp_path):
    with Client(faulty_server.url, timeout=10) as c:
        root = tmp_path / "ws"
        root.mkdir()
        c.call("ProjectService", "CreateProject",
               project_pb2.CreateProjectRequest(name="default", root_path=str(root)),
               project_pb2.CreateProjectResponse)
        yield c


def write_until_refused(client, prefix, acked, limit=400):
    """Creates tasks (16 KiB descriptions, so the write-ahead log must grow)
    until one is refused; returns (its error, its title). Acknowledged titles
    go to acked."""
    for i in range(limit):
        title = f"{prefix}{i}"
        try:
            create_task(client, title, "x" * 16384)
        except RpcError as e:
            return e, title
        acked.append(title)
    pytest.fail(f"{limit} writes on a full disk were all acknowledged")


def not_ready(client):
    """The writer check once Ready says not ready (for wait_until)."""
    is_ready, writer = ready(client)
    return None if is_ready else writer


@pytest.mark.sqlite_only("a full disk under the SQLite file and its journal")
def test_full_disk_refuses_writes_with_disk_full_serves_reads_and_writes_again_once_space_is_freed(
        faulty_server, fclient, fault):
    acked = []
    for i in range(5):
        create_task(fclient, f"before{i}")
        acked.append(f"before{i}")
    assert ready(fclient)[0] is True

    fault.arm("ENOSPC")
    refused, refused_title = write_until_refused(fclient, "filling", acked)
    assert (refused.code, refused.reason) == (RESOURCE_EXHAUSTED, "DISK_FULL"), refused
    with pytest.raises(RpcError) as again:
        fclient.call("TaskService", "CreateTask", task_pb2.CreateTaskRequest(title="retried"),
                     task_pb2.CreateTaskResponse, request_id="retried-after-disk-full")
    assert (again.value.code, again.value.reason) == (RESOURCE_EXHAUSTED, "DISK_FULL")
    # Reads go on; readiness says the writer cannot commit, and why.
    listed = fclient.call("TaskService", "ListTasks", task_pb2.ListTasksRequest(limit=5),
                          task_pb2.ListTasksResponse)
    assert len(listed.tasks) == 5
    writer = wait_until(lambda: not_ready(fclient), 5, "ready to say the writer is not ok")
    assert not writer.ok and "DISK_FULL" in writer.detail, writer
    cli_ready = subprocess.run([BIN, "--rpc", faulty_server.url, "-o", "json", "ready"], capture_output=True,
                               text=True, env=child_env(), timeout=30)
    assert cli_ready.returncode == 1, cli_ready.stderr
    assert json.loads(cli_ready.stdout).get("ready", False) is False  # proto3 JSON leaves out false

    fault.clear()

    def writes_again():
        try:
            create_task(fclient, "after")
            return True
        except RpcError as e:
            assert e.reason == "DISK_FULL", e
            return False

    wait_until(writes_again, 10, "writes to work again once space is freed")
    acked.append("after")
    # The refused call was not remembered as done: sent again, it runs.
    retried = fclient.call("TaskService", "CreateTask", task_pb2.CreateTaskRequest(title="retried"),
                           task_pb2.CreateTaskResponse, request_id="retried-after-disk-full").task
    assert retried.id > 0
    acked.append("retried")
    wait_until(lambda: ready(fclient)[0], 5, "ready again")
    assert faulty_server.stop() == 0, faulty_server.log()

    on_disk = task_titles(faulty_server.db_path)
    assert set(acked) <= on_disk
    assert refused_title not in on_disk
    assert sql(faulty_server.db_path, "PRAGMA integrity_check")[0][0] == "ok"


@pytest.mark.sqlite_only("a read-only file system under the SQLite file")
def test_read_only_file_system_under_a_running_server_is_db_read_only_and_recovers(faulty_server, fclient, fault):
    create_task(fclient, "before")
    fault.arm("EROFS")
    with pytest.raises(RpcError) as refused:
        create_task(fclient, "refused while read-only")
    assert (refused.value.code, refused.value.reason) == (FAILED_PRECONDITION, "DB_READ_ONLY"), refused.value
    assert fclient.call("TaskService", "ListTasks", task_pb2.ListTasksRequest(limit=5),
                        task_pb2.ListTasksResponse).tasks[0].title == "before"
    writer = wait_until(lambda: not_ready(fclient), 5, "ready to say the writer is not ok")
    assert "DB_READ_ONLY" in writer.detail, writer

    fault.clear()
    wait_until(lambda: _try_create(fclient, "after"), 10, "writes to work again")
    wait_until(lambda: ready(fclient)[0], 5, "ready again")
    assert faulty_server.stop() == 0, faulty_server.log()
    on_disk = task_titles(faulty_server.db_path)
    assert {"before", "after"} <= on_disk
    assert "refused while read-only" not in on_disk


def _try_create(client, title):
    try:
        create_task(client, title)
        return True
    except RpcError as e:
        assert e.reason == "DB_READ_ONLY", e
        return False


# ---- start-up refusals


def serve_once(db_path, user=None, timeout_s=START_TIMEOUT_S):
    """Runs `serve` on db_path and expects it to exit by itself; returns
    (exit status, stderr)."""
    def drop_privileges():
        if user is not None:
            os.setgid(user)
            os.setuid(user)

    p = subprocess.run([BIN, "serve", "--db", str(db_path), "--rpc", f"tcp://127.0.0.1:{free_port()}",
                        "--events", f"tcp://127.0.0.1:{free_port()}"],
                       stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout_s,
                       env=child_env(), preexec_fn=drop_privileges if user is not None else None)
    return p.returncode, p.stderr


def make_db(path, titles):
    """A migrated database with a project and tasks, written by a server."""
    root = os.path.join(os.path.dirname(str(path)), "ws")
    os.makedirs(root, exist_ok=True)
    srv = Server(path, f"tcp://127.0.0.1:{free_port()}").start()
    try:
        with Client(srv.url, timeout=10) as c:
            c.call("ProjectService", "CreateProject",
                   project_pb2.CreateProjectRequest(name="default", root_path=root),
                   project_pb2.CreateProjectResponse)
            for t in titles:
                create_task(c, t, "d" * 200)
    finally:
        assert srv.stop() == 0, srv.log()


@pytest.mark.sqlite_only("a corrupt SQLite file and its restore from a file backup")
def test_database_with_8_kib_of_random_bytes_in_the_middle_is_refused_with_a_pointer_to_restore(db_path, tmp_path):
    make_db(db_path, [f"t{i}" for i in range(400)])
    good = tmp_path / "good.bak"
    shutil.copyfile(db_path, good)
    size = os.path.getsize(db_path)
    assert size > 64 * 1024
    with open(db_path, "r+b") as f:
        f.seek(size // 2)
        f.write(random.Random(8).randbytes(8192))

    rc, err = serve_once(db_path)
    assert rc != 0
    assert "DB_CORRUPT" in err and str(db_path) in err, err
    assert "beebeebrain restore" in err, err

    # The pointer works: restore the good copy, and the server starts on it.
    restored = subprocess.run([BIN, "restore", str(good), "--db", str(db_path)], capture_output=True, text=True,
                              env=child_env(), timeout=60)
    assert restored.returncode == 0, restored.stderr
    srv = Server(db_path, f"tcp://127.0.0.1:{free_port()}").start()
    try:
        with Client(srv.url, timeout=10) as c:
            assert ready(c)[0] is True
    finally:
        assert srv.stop() == 0
    assert len(task_titles(db_path)) == 400


@pytest.fixture
def shared_dir():
    """A directory another user can enter: tmp_path's parents are private."""
    d = tempfile.mkdtemp(prefix="bbb-ro-")
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def run_without_write_permission(shared_dir, dir_writable):
    """A database the server may read but not write: the file (and, unless
    dir_writable, its directory) is not writable for the server's user. Root
    writes whatever the mode says, so as root the server runs as nobody."""
    db = os.path.join(shared_dir, "bbb.db")
    make_db(db, ["kept"])
    if dir_writable:
        os.unlink(db + ".lock")  # a label file the server may create anew there
    before = open(db, "rb").read()
    user = None
    if os.geteuid() == 0:
        user = 65534  # nobody: the files stay root's, mode 0644
        os.chmod(db, 0o644)
        os.chmod(shared_dir, 0o777 if dir_writable else 0o755)
    else:
        os.chmod(db, 0o444)
        os.chmod(shared_dir, 0o755 if dir_writable else 0o555)
    try:
        rc, err = serve_once(db, user=user)
    finally:
        os.chmod(shared_dir, 0o755)
    assert rc != 0
    assert "FAILED_PRECONDITION DB_READ_ONLY" in err, err
    assert open(db, "rb").read() == before
    return err


def test_server_refuses_to_start_on_a_database_file_it_cannot_write(shared_dir):
    err = run_without_write_permission(shared_dir, dir_writable=True)
    assert "bbb.db is read-only" in err, err


def test_server_refuses_to_start_in_a_directory_it_cannot_write(shared_dir):
    err = run_without_write_permission(shared_dir, dir_writable=False)
    assert "bbb.db.lock" in err and "not writable" in err, err
