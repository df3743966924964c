"""Three servers on one PostgreSQL database, 1,000 runs through the fake LLM,
one server killed with kill -9 in the middle (docs/scale-out.md): every run
ends succeeded exactly once, the upstream calls exceed the runs only by the
calls the dead server had in flight, and a subscriber on another server gets
every event id once, in order."""
import pytest
from test_leases import Fake, rows  # noqa: F401  (the fake provider and a SQL helper)

from conftest import integration, start_server

wait_until = integration.wait_until

RUNS = 1000
AGENTS = 16  # at most 64 runs in flight per agent
LEASE_MS = 3000


@pytest.fixture
def fake():
    f = Fake()
    yield f
    f.stop()


def test_three_servers_and_a_kill_run_every_run_once(pg_db, tmp_path, fake):
    import beebeebrain
    from beebeebrain.v1 import common_pb2

    succeeded = common_pb2.RUN_STATUS_SUCCEEDED

    env = {"ANTHROPIC_API_KEY": "sk-ant-test-key", "ANTHROPIC_BASE_URL": fake.url,
           "BEEBEEBRAIN_LLM_TIMEOUT_S": "60", "BEEBEEBRAIN_LEASE_MS": str(LEASE_MS)}
    servers = []
    for i in range(3):
        servers.append(start_server(pg_db, tmp_path / f"s{i}", env=env, http=False))
    a, b, c = servers
    root = tmp_path / "workspace"
    root.mkdir()
    fake.mode(status=200, delay_ms=150)  # calls stay in flight long enough to be cut by the kill
    try:
        with beebeebrain.Client(b.url, timeout=30) as cb, beebeebrain.Client(a.url, timeout=30) as ca, \
                beebeebrain.Client(c.url, timeout=30) as cc:
            project = cb.project.create_project(name="p", root_path=str(root)).project.id
            agents = [cb.agent.create_agent(project_id=project, name=f"a{i}", role="coder",
                                            model_provider="anthropic", model_name="claude-sonnet-4-5",
                                            max_concurrency=64).agent.id for i in range(AGENTS)]
            head = cb.event.publish(event_type="operator.test", actor="test", message="start").event.id
            with beebeebrain.Subscriber(after_id=head, rpc_url=c.url, replay_timeout=2) as sub:
                clients = (ca, cb, cc)
                runs = []
                for i in range(RUNS):
                    cl = clients[i % 3]  # the calls land on every server
                    task = cl.task.create_task(project_id=project, title=f"t{i}",
                                               assignee_agent_id=agents[i % AGENTS]).task.id
                    runs.append(cl.task.run_task(task_id=task, prompt=f"run {i}").run.id)
                    if i == RUNS // 2:
                        # kill -9 a server with calls in flight, in the middle of the load
                        wait_until(lambda: rows(pg_db, "SELECT count(*) FROM run_attempts a JOIN task_runs r "
                                                "ON r.id = a.run_id WHERE a.ended_at IS NULL AND r.lease_owner IS "
                                                "NOT NULL")[0][0] > 0, 20, "calls in flight")
                        a.proc.kill()
                        a.proc.wait()
                        clients = (cb, cc, cb)
                wait_until(lambda: rows(pg_db, "SELECT count(*) FROM task_runs WHERE run_status = 'succeeded'")
                           [0][0] == RUNS, 180, "every run to succeed")
                final = [r[0] for r in rows(pg_db, "SELECT id FROM events WHERE id > %s ORDER BY id", head)]
                got = []
                while len(got) < len(final):
                    ev = sub.next_event(timeout=15)
                    assert ev is not None, f"the subscriber on C stopped after {len(got)} of {len(final)} events"
                    got.append(ev)
                assert [e.id for e in got] == final  # every id once, in order, whoever committed it
                assert sub.next_event(timeout=1.5) is None

        assert sorted(runs) == [r[0] for r in rows(pg_db, "SELECT id FROM task_runs ORDER BY id")]
        # Each run ended succeeded exactly once, and no run had two calls in
        # flight at once (one server at a time: its attempts never overlap).
        ends = {}
        for e in got:
            if e.event_type == "run.status.changed" and e.run_status_changed.to_status == succeeded:
                ends[e.run_status_changed.run_id] = ends.get(e.run_status_changed.run_id, 0) + 1
        assert sorted(ends) == sorted(runs) and set(ends.values()) == {1}
        overlaps = rows(pg_db, "SELECT count(*) FROM run_attempts x JOIN run_attempts y ON x.run_id = y.run_id AND "
                        "x.n < y.n WHERE x.ended_at IS NULL OR x.ended_at > y.started_at")[0][0]
        assert overlaps == 0
        lost = rows(pg_db, "SELECT count(*) FROM run_attempts WHERE error_code = 'PROCESS_RESTARTED'")[0][0]
        calls = fake.call("GET", "/_stats")["counts"]["anthropic"]
        # Upstream calls: one per run, plus the ones the dead server had in flight.
        assert calls == RUNS + lost, (calls, lost)
        assert lost > 0, "the kill cut no call in flight: the test did not test recovery"
        assert rows(pg_db, "SELECT sum(request_count) FROM api_usage_daily")[0][0] == calls
        assert rows(pg_db, "SELECT count(*) FROM task_runs WHERE lease_owner IS NOT NULL")[0][0] == 0
    finally:
        for srv in servers:
            if srv.running():
                assert srv.stop() == 0, srv.log()
