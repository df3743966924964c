"""`beebeebrain runtime status` on a real server calling the fake provider:
the dispatcher's snapshot (calls in flight, breaker per endpoint with its next
probe, held runs) and the runs waiting in the database."""

import time

from beebeebrain import Client
from conftest import wait_until
from runtime_fixtures import fake_llm, queue_runs, start_runtime  # noqa: F401  (fixtures)


def status(rt):
    return rt.cli.json("runtime", "status")


def test_a_quiet_server_shows_a_running_dispatcher_and_nothing_in_flight(start_runtime):
    rt = start_runtime()
    s = wait_until(lambda: (lambda d: d if d.get("dispatcher_running") else None)(status(rt)), 10,
                   "the dispatcher's first snapshot")
    assert s["max_in_flight"] == 64
    for key in ("paused", "in_flight", "runs_held", "runs_parked", "runs_queued", "runs_retry_scheduled",
                "endpoints"):
        assert key not in s, s  # proto3 JSON leaves zeros out
    assert abs(int(s["snapshot_at_ms"]) - time.time() * 1000) < 60000

    rc, out, err = rt.cli("runtime", "status")
    assert rc == 0, err
    assert "dispatcher         running" in out and "in flight          0 of 64" in out
    rc, out, err = rt.cli("runtime", "reset")
    assert rc == 2, (rc, out, err)


def test_an_outage_shows_the_open_breaker_its_next_probe_and_the_held_runs(start_runtime):
    # A long cool-down keeps the breaker open while the test looks at it.
    rt = start_runtime(BEEBEEBRAIN_BREAKER_COOLDOWN_MS="60000", BEEBEEBRAIN_RETRY_MAX_ATTEMPTS="8")
    rt.fake.mode(status=503, error="overloaded")
    with Client(rt.server.url, timeout=10) as client:
        queue_runs(client, rt.project_id, rt.agent_ids["anthropic"], [f"outage {i}" for i in range(12)])

    def open_endpoint():
        for e in status(rt).get("endpoints", []):
            if e["provider"] == "anthropic" and e.get("breaker_state") == "open":
                return e
        return None

    ep = wait_until(open_endpoint, 20, "the anthropic breaker to show open")
    now = time.time() * 1000
    assert ep["base_url"] == rt.fake.url
    assert now < int(ep["next_probe_at_ms"]) <= now + 60000
    assert ep["opens"] == 1

    # Every run is waiting, none in flight: the due ones held by the breaker, the rest scheduled for a retry.
    def all_waiting():
        s = status(rt)
        [e] = [e for e in s.get("endpoints", []) if e["provider"] == "anthropic"]
        waiting = s.get("runs_retry_scheduled", 0) + s.get("runs_queued", 0)
        return s if e.get("held_runs", 0) >= 1 and waiting == 12 and "in_flight" not in s else None

    s = wait_until(all_waiting, 20, "the 12 runs to wait for the breaker")
    [e] = [e for e in s["endpoints"] if e["provider"] == "anthropic"]
    assert e["held_runs"] <= 12 and e["breaker_state"] == "open"
    rc, out, err = rt.cli("runtime", "status")
    assert rc == 0, err
    assert "anthropic" in out and " open " in out
