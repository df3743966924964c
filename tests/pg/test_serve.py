"""`beebeebrain serve --db <PostgreSQL>`: the real server on a throw-away
cluster, one server and two on one database."""
import os

import pytest

from conftest import integration, pg_uri_with_password, start_server

Cli = integration.Cli
Client = integration.Client
RpcError = integration.RpcError


def event_ids(cli, n=1000):
    return [int(e["id"]) for e in cli.json("events", "--replay-last", n)["events"]]


@pytest.fixture
def servers(pg_db, tmp_path):
    """start(conninfo, seeded=...): a server on the test's database (or
    conninfo), stopped at the end; it must exit 0."""
    started = []

    def start(conninfo=pg_db, **kw):
        srv = start_server(conninfo, tmp_path / f"server{len(started)}", **kw)
        started.append(srv)
        return srv

    yield start
    for srv in started:
        if srv.running():
            assert srv.stop() == 0, srv.log()


def test_one_server_serves_and_runs_on_postgres(servers, pg_db, tmp_path):
    srv = servers(pg_db, seeded=True)
    cli = Cli(srv.url, tmp_path)
    rc, out, err = cli("ready")
    assert rc == 0, err
    assert "schema version 12 of 12" in out
    task = cli.json("task", "create", "--title", "on postgres", "--assignee", "1")["task"]
    run = cli.json("task", "run", task["id"], "--prompt", "hi", "--wait")["run"]
    assert run["run_status"] == "RUN_STATUS_SUCCEEDED", run
    assert run["output_text"] == "echo: hi"
    ids = event_ids(cli)
    assert ids == sorted(ids) and len(ids) == len(set(ids)) and len(ids) >= 8
    # File backups are SQLite's; PostgreSQL has pg_dump.
    rc, out, err = cli("backup")
    assert rc == 1
    assert "DB_ENGINE_UNSUPPORTED" in err and "pg_dump" in err
    rc, out, err = cli("backup", "--db", pg_db)
    assert rc == 1 and "DB_ENGINE_UNSUPPORTED" in err
    rc, out, err = cli("restore", "/nonexistent.bak", "--db", pg_db)
    assert rc == 1 and "DB_ENGINE_UNSUPPORTED" in err
    rc, out, err = cli("migrate", "status", "--db", pg_db)
    assert rc == 0, err
    assert "schema version 12 of 12" in out


def test_a_password_in_the_connection_string_is_never_logged(servers, pg_db, tmp_path):
    uri = pg_uri_with_password(pg_db)
    srv = servers(uri, seeded=True)
    cli = Cli(srv.url, tmp_path)
    cli.json("task", "create", "--title", "t", "--assignee", "1")
    srv.stop()
    log = srv.log()
    assert os.environ["PGPASSWORD"] not in log
    assert ":***@" in log


def test_two_servers_share_one_database(servers, pg_db, tmp_path):
    a = servers(pg_db, seeded=True)
    b = servers(pg_db)
    cli_a, cli_b = Cli(a.url, tmp_path), Cli(b.url, tmp_path)
    task = cli_a.json("task", "create", "--title", "made on a", "--assignee", "1")["task"]
    assert cli_b.json("task", "get", task["id"])["task"]["title"] == "made on a"
    run = cli_b.json("task", "run", task["id"], "--prompt", "from b", "--wait")["run"]
    assert run["output_text"] == "echo: from b"
    # One log, the same on both, in id order, each id once.
    ids_a = event_ids(cli_a)
    ids_b = event_ids(cli_b)
    assert ids_a == ids_b
    assert ids_a == sorted(ids_a) and len(ids_a) == len(set(ids_a))


def test_a_subscriber_on_one_server_gets_what_another_commits_at_once(servers, pg_db):
    import beebeebrain

    a = servers(pg_db, seeded=True)
    b = servers(pg_db)
    with beebeebrain.Client(b.url, timeout=5) as writer:
        head = writer.event.publish(event_type="operator.pg", actor="test", message="warm").event.id
        with beebeebrain.Subscriber(after_id=head, type_prefix="operator.", rpc_url=a.url, replay_timeout=1) as sub:
            sent = [writer.event.publish(event_type="operator.pg", actor="test", message=m).event.id
                    for m in ("one", "two", "three")]
            # A's publisher hears B's commits (LISTEN/NOTIFY): they come
            # live, not at A's next commit, which never happens here.
            got = [sub.next_event(timeout=5) for _ in sent]
            assert None not in got, "an event committed on B did not reach a subscriber on A"
            assert [e.id for e in got] == sent
            assert [e.custom.message for e in got] == ["one", "two", "three"]
            assert sub.next_event(timeout=1.5) is None  # each once


def test_servers_go_on_after_the_database_ends_every_session_of_theirs(servers, pg_db, tmp_path):
    """A database restart or failover ends every session: the writer's, the
    readers', the listener's, the reply cache's. A session ended between two
    calls is seen and replaced before the next call, which does not fail;
    writes, reads, runs and the event stream go on (docs/scale-out.md)."""
    import beebeebrain

    wait_until = integration.wait_until
    a = servers(pg_db, seeded=True)
    b = servers(pg_db)
    name = pg_db.split("=", 1)[1]
    with beebeebrain.Client(a.url, timeout=10) as ca, beebeebrain.Client(b.url, timeout=10) as cb:
        head = ca.event.publish(event_type="operator.pg", actor="test", message="before").event.id
        with beebeebrain.Subscriber(after_id=head, type_prefix="operator.", rpc_url=b.url, replay_timeout=1) as sub:
            first = cb.task.create_task(project_id=1, title="before", assignee_agent_id=1).task.id
            sent = []
            for round in range(3):  # sessions made again are ended again
                # pg_terminate_backend(pid, timeout) returns once the session is over
                ended = sql_rows("SELECT count(*) FILTER (WHERE pg_terminate_backend(pid, 10000)) FROM "
                                 f"(SELECT pid FROM pg_stat_activity WHERE datname = '{name}' "
                                 "AND backend_type = 'client backend' OFFSET 0) s")
                assert ended[0][0] >= 4  # each server's writer, listener and readers
                for cl in (ca, cb, ca, cb, ca, cb):
                    assert cl.task.get_task(task_id=first).task.title == "before"
                for cl, msg in ((ca, "on a"), (cb, "on b")):
                    sent.append(cl.event.publish(event_type="operator.pg", actor="test",
                                                 message=f"{msg} {round}").event.id)
            task = cb.task.create_task(project_id=1, title="after", assignee_agent_id=1).task.id
            run = ca.task.run_task(task_id=task, prompt="again").run.id
            wait_until(lambda: ca.task.get_run(run_id=run).run.run_status == 3, 20, "the run after the loss")
            # B's subscriber hears what A commits (its listener is back), each event once, in order.
            got = [sub.next_event(timeout=10) for _ in sent]
            assert None not in got
            assert [e.id for e in got] == sent
            assert sub.next_event(timeout=1.5) is None
    assert "reconnected to PostgreSQL" in a.log() and "reconnected to PostgreSQL" in b.log()


def sql_rows(statement):
    """The rows of statement on the cluster's default database."""
    import psycopg2

    conn = psycopg2.connect("")
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(statement)
            return cur.fetchall()
    finally:
        conn.close()
