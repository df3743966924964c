"""Fixtures of the PostgreSQL tests that start real servers: the integration
suite's helpers (tests/integration/conftest.py: Server, Cli, ...) and a fresh
database of the test's own in the cluster tests/pg/with_cluster.sh made (its
PG* variables reach libpq in the server and psycopg2 here)."""
import importlib.util
import os
import pathlib

import pytest

_spec = importlib.util.spec_from_file_location(
    "bbb_integration", pathlib.Path(__file__).resolve().parent.parent / "integration" / "conftest.py")
integration = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(integration)

pytest_configure = integration.pytest_configure
rpc_url = integration.rpc_url
cli = integration.cli
workspace = integration.workspace


def start_server(conninfo, log_base, **kw):
    """A started server on conninfo with ports of its own. The ports are
    picked at random below the ephemeral range (integration.free_port); a
    test running beside this one may take the same port first, so a start
    that fails with "Address in use" is tried again on other ports."""
    for attempt in range(3):
        srv = integration.Server(conninfo, f"tcp://127.0.0.1:{integration.free_port()}",
                                 log_base=f"{log_base}.{attempt}", **kw)
        try:
            return srv.start()
        except pytest.fail.Exception:
            if attempt == 2 or "Address in use" not in srv.log():
                raise
    raise AssertionError("unreachable")


@pytest.fixture
def pg_db():
    """A new, empty database; its keyword=value connection string (host,
    user and password come from the environment)."""
    db = integration.new_pg_database()
    yield db
    integration.drop_pg_database(db)


def pg_uri_with_password(conninfo):
    """The same database as a URI that carries the password (the cluster's
    socket directory as the host parameter)."""
    name = conninfo.split("=", 1)[1]
    return (f"postgresql://{os.environ['PGUSER']}:{os.environ['PGPASSWORD']}@/{name}"
            f"?host={os.environ['PGHOST']}&port={os.environ['PGPORT']}")
