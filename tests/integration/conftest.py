"""Fixtures of the Python integration tests: the real `beebeebrain` binary on a
real SQLite file in a temp dir, on a free loopback port.

ctest runs each test_*.py with BEEBEEBRAIN_BIN (the binary) and BBB_BUILD_DIR
(whose python/ holds the `beebeebrain` package as the `python_package` target
generates it: exactly what `pip install ./clients/python` installs). By hand:

    BEEBEEBRAIN_BIN=build/beebeebrain BBB_BUILD_DIR=build \
        /usr/bin/python3 -m pytest -q -p no:cacheprovider tests/integration

The engine: SQLite by default; with BBB_TEST_ENGINE=postgres (ctest's
integration_pg.* tests, inside tests/pg/with_cluster.sh's throw-away cluster)
every `db_path` is a fresh PostgreSQL database instead, named by a
keyword=value connection string (libpq takes host, user and password from
the cluster's PG* variables). `sql(db, statement, *params)` reads and writes
either engine; a test about SQLite's own file (its locks, its WAL, a backup
copy of it) carries `@pytest.mark.sqlite_only("why")` and is left out of the
PostgreSQL run, saying so.

Fixtures:
  rpc_url   tcp://127.0.0.1:<free port>, where `server` listens and `cli` points
            (the server's event stream gets a free port of its own too)
  db_path   <tmp>/bbb.db (PostgreSQL: "dbname=t_<random>", dropped afterwards)
  workspace <tmp>/workspace, an empty directory for a project root (a root may
            not hold the server's database, so <tmp> itself will not do)
  server    a running server (Server) on db_path and rpc_url, its HTTP listener
            on a free port too (server.http_url); stopped with
            SIGTERM at the end, asserting exit status 0
  cli       cli(*args) -> (rc, stdout, stderr), with --rpc rpc_url;
            cli.json(*args) asserts rc 0 and returns the parsed -o json output
  client    a beebeebrain.Client connected to the server (timeout 10 s)

raw_in_child(url, data, timeout_s) sends a message the server will cut the
connection for from a process of its own (see there).
"""

import base64
import json
import os
import pathlib
import random
import signal
import socket
import subprocess
import sys
import re
import select
import tempfile
import time
import uuid

import pytest

_REPO = pathlib.Path(__file__).resolve().parents[2]
_BUILD = os.environ.get("BBB_BUILD_DIR", "")
# The package as the build generated it (never the source tree's, which lacks
# the generated modules).
PYTHON_PACKAGE_DIR = os.path.join(_BUILD, "python") if _BUILD else ""
if PYTHON_PACKAGE_DIR:
    sys.path.insert(0, PYTHON_PACKAGE_DIR)

try:
    from beebeebrain import Client, RpcError
except ImportError as e:
    raise ImportError(f"{e}: build the python_package target and set BBB_BUILD_DIR") from e

BIN = os.environ.get("BEEBEEBRAIN_BIN", "")
ENGINE = os.environ.get("BBB_TEST_ENGINE", "sqlite")
if ENGINE not in ("sqlite", "postgres"):
    raise RuntimeError(f"BBB_TEST_ENGINE={ENGINE!r}: sqlite or postgres")
PG = ENGINE == "postgres"
START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 10.0
CLI_TIMEOUT_S = 60.0


def child_env():
    """The environment of every child: none of the operator's BEEBEEBRAIN_*
    settings (an API key or DB path there would change what is tested)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BEEBEEBRAIN_")}
    env["BEEBEEBRAIN_LOG_LEVEL"] = "info"
    # A server started without --http would listen on the default HTTP port,
    # which servers of tests running side by side would share.
    env["BEEBEEBRAIN_HTTP_URL"] = "none"
    return env


def _ephemeral_low():
    """The first port the kernel hands to outgoing connections (32768 by default)."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port():
    """A loopback TCP port nobody listens on right now, below the ephemeral
    range: a port the kernel picked for port 0 comes from the range outgoing
    connections take their local ports from, so a client of another test
    running at the same time could hold it by the time the server binds it."""
    low = _ephemeral_low()
    for _ in range(100):
        port = random.randrange(10000, low) if low > 11000 else 0
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return s.getsockname()[1]
    raise RuntimeError("no free loopback port below the ephemeral range")


def wait_until(predicate, timeout_s, what, interval_s=0.02):
    """Polls predicate() until it returns a true value (returned) or timeout_s
    passes (the test fails naming `what`)."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            pytest.fail(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(interval_s)


def is_pg_target(db):
    """Whether a --db value names a PostgreSQL database (a libpq URI or a
    keyword=value string), as the server decides."""
    text = str(db)
    return text.startswith(("postgres://", "postgresql://")) or re.match(r"^\s*[A-Za-z_]+\s*=", text) is not None


def _pg_connect(db):
    import psycopg2  # only the PostgreSQL run needs it

    return psycopg2.connect(str(db))


# The connections this process keeps, by connection string ("" is the
# cluster's default database, autocommit, for CREATE and DROP DATABASE). A
# connection per query would start a backend each time, about 20 ms of the
# cluster's CPU, and the tests poll: that was most of what the PostgreSQL
# run cost.
_PG_SESSIONS = {}


def _pg_session(db):
    """This process's connection to db. One whose session the server ended
    while it sat idle (its socket turned readable) is replaced."""
    key = str(db)
    conn = _PG_SESSIONS.get(key)
    if conn is not None and (conn.closed or select.select([conn], [], [], 0)[0]):
        _pg_forget(key)
        conn = None
    if conn is None:
        conn = _PG_SESSIONS[key] = _pg_connect(db)
        conn.autocommit = key == ""
    return conn


def _pg_forget(db):
    conn = _PG_SESSIONS.pop(str(db), None)
    if conn is not None:
        conn.close()


def pg_query(db, run):
    """run(cursor) on db in a transaction of its own (autocommit on the
    default database), over this process's connection to it. A connection
    that failed under the query is dropped and the error raised."""
    import psycopg2

    conn = _pg_session(db)
    try:
        if conn.autocommit:
            with conn.cursor() as cur:
                return run(cur)
        with conn, conn.cursor() as cur:
            return run(cur)
    except (psycopg2.OperationalError, psycopg2.InterfaceError):
        _pg_forget(db)
        raise


def pg_admin(statement):
    """Runs statement on the cluster's default database, outside a
    transaction (CREATE or DROP DATABASE)."""
    pg_query("", lambda cur: cur.execute(statement))


def new_pg_database():
    """A new, empty database in the cluster; its keyword=value string."""
    name = "t_" + uuid.uuid4().hex[:12]
    # FILE_COPY: a copy of the small template's files and a checkpoint (cheap
    # with the test cluster's fsync off), twice as fast as WAL-logging every block.
    pg_admin(f"CREATE DATABASE {name} STRATEGY FILE_COPY")
    return f"dbname={name}"


def drop_pg_database(db):
    _pg_forget(db)
    pg_admin(f"DROP DATABASE IF EXISTS {str(db).split('=', 1)[1]} WITH (FORCE)")


def sql(db, statement, *params, timeout_s=10):
    """Runs one statement on a server's database, SQLite file or PostgreSQL,
    in a transaction of its own, and returns its rows (a list of tuples; []
    for a statement that returns none). Parameters are `?` on both engines."""
    if is_pg_target(db):
        def run(cur):
            cur.execute(statement.replace("%", "%%").replace("?", "%s") if params else statement, params or None)
            return [tuple(r) for r in cur.fetchall()] if cur.description else []

        return pg_query(db, run)
    import sqlite3

    con = sqlite3.connect(str(db), timeout=timeout_s)
    try:
        with con:
            return con.execute(statement, params).fetchall()
    finally:
        con.close()


_LOG_DIR = None


def _log_dir():
    """Where servers on PostgreSQL write their logs (no file is beside a
    database there)."""
    global _LOG_DIR
    if _LOG_DIR is None:
        _LOG_DIR = tempfile.mkdtemp(prefix="bbb-it-logs-")
    return _LOG_DIR


class Server:
    """One `beebeebrain serve` process. Its stderr (the JSON log) goes to a
    file next to the database, read back by `log()`."""

    def __init__(self, db_path, rpc_url, extra_args=(), seeded=False, env=None, http=True, log_base=None):
        self.db_path = str(db_path)
        # Where its logs go: next to the database file, or log_base (a
        # PostgreSQL connection string is no place for files).
        if log_base is None and is_pg_target(db_path):
            log_base = os.path.join(_log_dir(), str(db_path).split("=", 1)[-1])
        self.log_base = str(log_base or db_path)
        # A brand-new database gets project "default" and agent "assistant"
        # (docs/runtime.md, Providers); tests start from an empty migrated schema instead,
        # unless they are about that first start (seeded=True).
        self.seeded = seeded
        self.env = dict(env or {})
        self.url = rpc_url
        # Never the default port: servers of tests running side by side would clash.
        self.events_url = f"tcp://127.0.0.1:{free_port()}"
        # The HTTP listener too (http=False: none, `--http none`).
        self.http_port = free_port() if http else None
        self.http_url = f"http://127.0.0.1:{self.http_port}" if http else None
        self.extra_args = list(extra_args)
        self.proc = None
        self.log_path = None
        self._starts = 0

    @property
    def pid(self):
        return self.proc.pid

    def spawn(self):
        """Starts the process without waiting for it to answer."""
        self._starts += 1
        self.log_path = f"{self.log_base}.server{self._starts}.log"
        # An empty migrated schema for a new database (a PostgreSQL database
        # always exists: new while it has no table; several servers share one).
        if is_pg_target(self.db_path):
            new = not sql(self.db_path, "SELECT 1 FROM information_schema.tables WHERE table_schema = current_schema()")
        else:
            new = not os.path.exists(self.db_path)
        if not self.seeded and new:
            subprocess.run([BIN, "migrate", "up", "--db", self.db_path], check=True, stdin=subprocess.DEVNULL,
                           capture_output=True, env=child_env())
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [BIN, "serve", "--db", self.db_path, "--rpc", self.url, "--events", self.events_url,
                 "--http", self.http_url or "none", *self.extra_args],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log, env={**child_env(), **self.env})
        return self.proc

    def start(self):
        """Starts the server and waits (bounded) until HealthService/Check
        answers; fails the test with the server's log if it exits first."""
        self.spawn()
        wait_until(self._healthy, START_TIMEOUT_S, f"the server on {self.url} to answer health")
        return self

    def _healthy(self):
        if self.proc.poll() is not None:
            pytest.fail(f"server exited with status {self.proc.returncode} while starting:\n{self.log()}")
        try:
            with Client(self.url, timeout=1) as c:
                return c.health.check().status == "ok"
        except RpcError:
            return False

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout_s=STOP_TIMEOUT_S):
        """SIGTERM, then waits at most timeout_s; returns the exit status.
        A server that does not stop in time is killed and the test fails."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                pytest.fail(f"server did not exit within {timeout_s} s of SIGTERM:\n{self.log()}")
        return self.proc.returncode

    def log(self):
        try:
            return pathlib.Path(self.log_path).read_text(errors="replace")
        except (OSError, TypeError):
            return ""


class Cli:
    """Runs the binary as a client of rpc_url: cli(*args) -> (rc, out, err)."""

    def __init__(self, rpc_url, cwd):
        self.url = rpc_url
        self.cwd = str(cwd)

    def __call__(self, *args, timeout_s=CLI_TIMEOUT_S):
        p = subprocess.run([BIN, "--rpc", self.url, *[str(a) for a in args]], cwd=self.cwd,
                           stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout_s,
                           env=child_env())
        return p.returncode, p.stdout, p.stderr

    def json(self, *args):
        """`-o json` output of a command that must succeed, parsed."""
        rc, out, err = self("-o", "json", *args)
        assert rc == 0, f"beebeebrain {' '.join(map(str, args))} exited {rc}: {err}"
        return json.loads(out)


# Run by raw_in_child: argv url, timeout; stdin the message; stdout one JSON line.
_RAW_CHILD = """
import base64, json, os, sys
sys.path.insert(0, os.environ["BBB_PYTHON_PACKAGE_DIR"])
from beebeebrain import Client, RpcError
url, timeout = sys.argv[1], float(sys.argv[2])
data = sys.stdin.buffer.read()
try:
    out = {"reply": base64.b64encode(Client(url, timeout=timeout).raw(data, timeout=timeout)).decode()}
except RpcError as e:
    out = {"error": [e.code, e.reason, e.message]}
print(json.dumps(out), flush=True)
os._exit(0)  # never nng_close: the process takes nng's state with it
"""


def raw_in_child(url, data, timeout_s):
    """Client(url).raw(data) in a throw-away Python process: the reply's bytes,
    or the RpcError it raised. For a message the server answers by cutting the
    connection (one over the size limit): nng 1.5.2 can then leave its reaper
    thread stuck for good in the process that was sending (docs/decisions.md,
    Python client), and every later nng_close there hangs; that process must
    not be the test's."""
    p = subprocess.run([sys.executable, "-c", _RAW_CHILD, url, str(timeout_s)], input=bytes(data),
                       capture_output=True, timeout=timeout_s + CLI_TIMEOUT_S,
                       env={**child_env(), "BBB_PYTHON_PACKAGE_DIR": PYTHON_PACKAGE_DIR})
    assert p.returncode == 0, f"raw_in_child exited {p.returncode}: {p.stderr.decode(errors='replace')}"
    out = json.loads(p.stdout)
    if "error" in out:
        raise RpcError(*out["error"])
    return base64.b64decode(out["reply"])


def pytest_configure(config):
    if not BIN or not os.access(BIN, os.X_OK):
        pytest.exit("set BEEBEEBRAIN_BIN to the beebeebrain binary (ctest does this)", returncode=4)
    config.addinivalue_line("markers", "sqlite_only(why): about SQLite's own file; not run on PostgreSQL")


def pytest_collection_modifyitems(config, items):
    """On PostgreSQL, tests about SQLite's own file are left out, each named
    with its reason (they are no check of PostgreSQL's behaviour, which
    other tests make)."""
    if not PG:
        return
    kept, left = [], []
    for item in items:
        mark = item.get_closest_marker("sqlite_only")
        (left if mark else kept).append(item)
    for item in left:
        why = item.get_closest_marker("sqlite_only").args
        print(f"\nnot on PostgreSQL: {item.nodeid}: {why[0] if why else 'about the SQLite file'}", file=sys.stderr)
    if left:
        config.hook.pytest_deselected(items=left)
        items[:] = kept


@pytest.fixture
def rpc_url():
    return f"tcp://127.0.0.1:{free_port()}"


@pytest.fixture
def db_path(tmp_path):
    if not PG:
        yield tmp_path / "bbb.db"
        return
    db = new_pg_database()
    yield db
    drop_pg_database(db)


@pytest.fixture
def workspace(tmp_path):
    root = tmp_path / "workspace"
    root.mkdir(exist_ok=True)
    return root


@pytest.fixture
def server(request, db_path, rpc_url):
    """A module may set SERVER_ENV (a dict) for the servers of its tests."""
    srv = Server(db_path, rpc_url, env=getattr(request.module, "SERVER_ENV", None)).start()
    yield srv
    if srv.running():
        rc = srv.stop()
        assert rc == 0, f"server exited {rc} on SIGTERM:\n{srv.log()}"


@pytest.fixture
def cli(rpc_url, tmp_path):
    return Cli(rpc_url, tmp_path)


@pytest.fixture
def client(server):
    with Client(server.url, timeout=10) as c:
        yield c
