"""Breakers across servers (docs/runtime.md, Breakers across servers): three
servers on one PostgreSQL database and a provider that answers 503 for a
while. The breaker one server opens holds the calls of all three; while it
is open the deployment sends one probe per cool-down, not one per server;
one LLM_PROVIDER_UNAVAILABLE alert and one incident stand for the outage; when
the provider is back, one probe closes it on every server, every held run
succeeds, and the alert is resolved once."""
import pytest
from test_leases import Fake, rows  # noqa: F401  (the fake provider and a SQL helper)

from conftest import integration, start_server

wait_until = integration.wait_until
Cli = integration.Cli

RUNS = 24
COOLDOWN_MS = 1500
ENDPOINT_STATES = ("open", "half_open")


@pytest.fixture
def fake():
    f = Fake()
    yield f
    f.stop()


def breaker_state(cli):
    """The anthropic endpoint's breaker as a server's runtime status shows it ("" before it made it)."""
    for e in cli.json("runtime", "status").get("endpoints", []):
        if e["provider"] == "anthropic":
            return e.get("breaker_state", "closed")
    return ""


def opens(pg_db):
    got = rows(pg_db, "SELECT opens FROM breakers WHERE endpoint LIKE 'anthropic %%'")
    return got[0][0] if got else 0


def alert_events(cli, kind, alert_id):
    events = cli.json("events", "--replay-last", 1000, "--type", f"alert.{kind}")["events"]
    return [e for e in events if e["event_type"] == f"alert.{kind}" and int(e["alert"]["id"]) == alert_id]


def test_an_outage_opens_the_breaker_of_every_server_with_one_probe_per_cool_down(pg_db, tmp_path, fake):
    env = {"ANTHROPIC_API_KEY": "sk-ant-test-key", "ANTHROPIC_BASE_URL": fake.url,
           "BEEBEEBRAIN_LLM_TIMEOUT_S": "10", "BEEBEEBRAIN_RETRY_BASE_MS": "200",
           "BEEBEEBRAIN_RETRY_MAX_MS": "1000", "BEEBEEBRAIN_RETRY_MAX_ATTEMPTS": "40",
           "BEEBEEBRAIN_BREAKER_COOLDOWN_MS": str(COOLDOWN_MS), "BEEBEEBRAIN_RELEASE_SPREAD_MS": "2000"}
    servers = [start_server(pg_db, tmp_path / f"s{i}", env=env, http=False) for i in range(3)]
    clis = [Cli(s.url, tmp_path) for s in servers]
    root = tmp_path / "workspace"
    root.mkdir()
    try:
        cli = clis[0]
        project = cli.json("project", "create", "p", "--root", str(root))["project"]["id"]
        agent = cli.json("agent", "create", "--project", project, "--name", "a", "--role", "coder", "--provider",
                         "anthropic", "--model", "claude-sonnet-4-5", "--max-concurrency", 64)["agent"]["id"]
        fake.mode(status=503, error="overloaded")  # until told otherwise
        runs = []
        for i in range(RUNS):
            c = clis[i % 3]
            task = c.json("task", "create", "--project", project, "--title", f"t{i}", "--assignee", agent)
            runs.append(int(c.json("task", "run", task["task"]["id"], "--prompt", f"outage {i}")["run"]["id"]))

        # The breaker opens on every server, whichever saw the failures.
        wait_until(lambda: all(breaker_state(c) in ENDPOINT_STATES for c in clis), 30,
                   "the anthropic breaker to be open on all three servers")
        unavailable = "SELECT id, status FROM alerts WHERE code = 'LLM_PROVIDER_UNAVAILABLE'"
        [(alert_id, status)] = rows(pg_db, unavailable)
        assert status == "open"
        opens_before, calls_before = opens(pg_db), fake.call("GET", "/_stats")["counts"]["anthropic"]
        assert opens_before >= 1

        # Two failed probes: each re-opens the shared breaker once.
        wait_until(lambda: opens(pg_db) >= opens_before + 2, 40, "two failed probes")
        reopened = opens(pg_db) - opens_before
        probes = fake.call("GET", "/_stats")["counts"]["anthropic"] - calls_before
        # Every call since all three were open was a probe: one per re-opening, and perhaps the next one
        # already on its way (plus one call admitted just before the last server opened). One breaker
        # per server would have sent three per cool-down.
        assert reopened <= probes <= reopened + 2, (reopened, probes)
        assert all(breaker_state(c) in ENDPOINT_STATES for c in clis)
        assert rows(pg_db, unavailable) == [(alert_id, "open")]
        assert rows(pg_db, "SELECT count(*) FROM inbox_items WHERE item_type = 'incident'")[0][0] == 1

        # The provider is back: the next probe closes the breaker for all, the held runs go out.
        fake.mode(status=0)
        wait_until(lambda: rows(pg_db, "SELECT count(*) FROM task_runs WHERE run_status = 'succeeded'")[0][0]
                   == RUNS, 60, f"all {RUNS} runs to succeed")
        wait_until(lambda: all(breaker_state(c) == "closed" for c in clis), 10, "every server to close its breaker")
        assert rows(pg_db, "SELECT state, probe_owner FROM breakers") == [("closed", None)]
        assert rows(pg_db, unavailable) == [(alert_id, "resolved")]
        assert rows(pg_db, "SELECT status FROM inbox_items WHERE item_type = 'incident' AND source_id = %s",
                    alert_id) == [("closed",)]
        assert len(alert_events(cli, "raised", alert_id)) == 1
        assert len(alert_events(cli, "resolved", alert_id)) == 1
    finally:
        for srv in servers:
            if srv.running():
                assert srv.stop() == 0, srv.log()
