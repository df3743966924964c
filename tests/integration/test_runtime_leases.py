"""Leases on runs in flight (docs/runtime.md, Leases): the server that starts
a run leases it (task_runs.lease_owner, lease_until), renews the lease while
the run is in flight and lets go of it in the write that ends the run; runs
of a server that is gone are interrupted (PROCESS_RESTARTED) and resumed,
at start and by the periodic recovery, which never takes this server's own
runs. The real server calls the fake provider; the database is read
directly, and written only to leave what a dead server would have left."""

import re
import time

from conftest import PG, wait_until
from runtime_fixtures import db_write, fake_llm, start_runtime  # noqa: F401  (fixtures)

OTHER_SERVER = "feedfacefeedface"  # the id of a server that is gone
# The shortest lease BEEBEEBRAIN_LEASE_MS accepts: renewed every 100 ms.
SHORT_LEASE_MS = 300
# Long enough for many renewals and recovery passes, shorter than the call timeout (10 s).
HELD_CALL_MS = 6000


def now_ms():
    return int(time.time() * 1000)


def server_id(rt):
    """This server's id, as its runtime logs it at start."""
    m = re.search(r"server ([0-9a-f]{16}): runs it starts are leased", rt.server.log())
    assert m, rt.server.log()
    return m.group(1)


def write(rt, *statements):
    """What another (dead) server would have left: written in one transaction,
    beside the running server if there is one."""
    db_write(rt.db_path, *statements)


def lease(rt, run_id):
    row = rt.run_row(run_id)
    return row["lease_owner"], row["lease_until"]


def status_path(rt, run_id):
    return [(e["to_status"], e.get("error_code", "")) for e in rt.run_events(run_id)]


def calls(rt, run_id):
    return [(a["n"], a["error_code"], a["ended_at"] is not None) for a in rt.attempts(run_id)]


def calls_at_fake(rt, prompt):
    return len(rt.fake.requests_for(prompt))


def test_a_started_run_is_leased_to_this_server_renewed_while_in_flight_and_let_go_when_it_ends(start_runtime):
    rt = start_runtime(BEEBEEBRAIN_LEASE_MS="900")
    me = server_id(rt)
    rt.fake.mode(status=200, delay_ms=HELD_CALL_MS)
    task_id, run_id = rt.task_and_run("leased")
    paused_task, paused = rt.task_and_run("leased, then paused")
    wait_until(lambda: calls_at_fake(rt, "leased") == 1 and calls_at_fake(rt, "leased, then paused") == 1, 20,
               "both calls at the fake")

    # Leased to this server while its call is in flight, the lease renewed again and again.
    seen = set()

    def renewed():
        owner, until = lease(rt, run_id)
        assert owner == me and until is not None, (owner, until)
        assert not rt.ended_attempts(run_id), "the call ended before the lease was renewed twice"
        seen.add(until)
        return len(seen) >= 3

    wait_until(renewed, 20, "the lease to be renewed twice while the call is in flight")
    assert rt.run_row(run_id)["run_status"] == "running"
    assert lease(rt, paused)[0] == me

    # A run that stops (interrupted by a pause) or ends (succeeded) has no lease any more.
    rt.cli.json("task", "pause", paused_task)
    assert rt.wait_run(paused, "interrupted", timeout_s=20)["error_code"] == "TASK_PAUSED"
    assert lease(rt, paused) == (None, None)
    assert rt.wait_run(run_id, timeout_s=30)["run_status"] == "succeeded"
    assert lease(rt, run_id) == (None, None)
    assert rt.task_status(task_id) == "review"


def test_at_start_a_running_run_is_recovered_once_on_sqlite_whatever_its_lease_on_postgresql_if_it_passed(
        start_runtime):
    """SQLite has one server per file: a run left running is the previous
    server's, be its lease passed or not. On PostgreSQL a live lease is a
    server still running: its run is left to it."""
    rt = start_runtime()
    first = server_id(rt)
    rt.fake.mode(status=200, delay_ms=120000)  # hangs until the kill
    expired = rt.task_and_run("lease passed")[1]
    live = rt.task_and_run("lease still live")[1]
    wait_until(lambda: calls_at_fake(rt, "lease passed") == 1 and calls_at_fake(rt, "lease still live") == 1,
               20, "both calls at the fake")
    assert lease(rt, expired)[0] == first and lease(rt, live)[0] == first

    rt.server.proc.kill()  # SIGKILL: the runs stay running, their calls open
    rt.server.proc.wait()
    # Left by another server that is gone: one lease passed long ago, one still live for an hour.
    live_until = now_ms() + 3600000
    write(rt, ("UPDATE task_runs SET lease_owner = ?, lease_until = ? WHERE id = ?", OTHER_SERVER, 1, expired),
          ("UPDATE task_runs SET lease_owner = ?, lease_until = ? WHERE id = ?", OTHER_SERVER, live_until, live))
    rt.fake.mode(status=0)
    rt.server.start()
    me = server_id(rt)
    assert me != first

    recovered = [(expired, "lease passed")] if PG else [(expired, "lease passed"), (live, "lease still live")]
    for run_id, prompt in recovered:
        run = rt.wait_run(run_id, timeout_s=20)
        assert run["run_status"] == "succeeded", run
        assert status_path(rt, run_id) == [
            ("RUN_STATUS_QUEUED", ""), ("RUN_STATUS_RUNNING", ""), ("RUN_STATUS_INTERRUPTED", "PROCESS_RESTARTED"),
            ("RUN_STATUS_RUNNING", ""), ("RUN_STATUS_SUCCEEDED", "")]
        assert calls(rt, run_id) == [(1, "PROCESS_RESTARTED", True), (2, "", True)]
        assert calls_at_fake(rt, prompt) == 2
        assert lease(rt, run_id) == (None, None)
    n = len(recovered)
    assert f"{n} run(s) and {n} provider call(s) were in flight when the server stopped" in rt.server.log()
    # Every request sent upstream is counted, the lost ones included.
    assert rt.value("SELECT sum(request_count) FROM api_usage_daily") == 2 * n
    if PG:
        # The live one is still the other server's: running, its call open, not sent again.
        assert rt.run_row(live)["run_status"] == "running"
        assert lease(rt, live) == (OTHER_SERVER, live_until)
        assert calls(rt, live) == [(1, "", False)]
        assert calls_at_fake(rt, "lease still live") == 1


def test_the_periodic_recovery_resumes_a_dead_servers_run_and_counts_its_lost_call(start_runtime):
    """A run another server left running, with an open call and a lease that
    passed, appears in the database while this server runs: the recovery
    interrupts it (PROCESS_RESTARTED), closes and counts that call only, and
    the run is resumed here, once."""
    rt = start_runtime(BEEBEEBRAIN_LEASE_MS=str(SHORT_LEASE_MS))
    rt.fake.mode(status=200, delay_ms=HELD_CALL_MS)
    ours = rt.task_and_run("ours, in flight")[1]
    task_id, theirs = rt.task_and_run("the dead server's")
    wait_until(lambda: calls_at_fake(rt, "the dead server's") == 1 and calls_at_fake(rt, "ours, in flight") == 1,
               20, "both calls at the fake")
    # The second run is made the dead server's: its task paused here (its call aborted), then, as the other
    # server would have left it, running again with a call of its own in flight and a lease that passed.
    rt.cli.json("task", "pause", task_id)
    rt.wait_run(theirs, "interrupted", timeout_s=20)
    rt.fake.mode(status=0)
    write(rt, ("UPDATE tasks SET status = 'running', version = version + 1 WHERE id = ?", task_id),
          ("UPDATE task_runs SET run_status = 'running', lease_owner = ?, lease_until = ?, version = version + 1 "
           "WHERE id = ?", OTHER_SERVER, now_ms() - 1000, theirs),
          ("INSERT INTO run_attempts (run_id, n, started_at) VALUES (?, 2, ?)", theirs, now_ms() - 2000))

    run = rt.wait_run(theirs, timeout_s=20)
    assert run["run_status"] == "succeeded", run
    assert status_path(rt, theirs) == [
        ("RUN_STATUS_QUEUED", ""), ("RUN_STATUS_RUNNING", ""), ("RUN_STATUS_INTERRUPTED", "TASK_PAUSED"),
        ("RUN_STATUS_INTERRUPTED", "PROCESS_RESTARTED"), ("RUN_STATUS_RUNNING", ""), ("RUN_STATUS_SUCCEEDED", "")]
    assert [(n, code) for n, code, _ in calls(rt, theirs)][1:] == [(2, "PROCESS_RESTARTED"), (3, "")]
    assert all(ended for _, _, ended in calls(rt, theirs))
    assert calls_at_fake(rt, "the dead server's") == 2  # the first call, and the one after the recovery
    assert lease(rt, theirs) == (None, None)
    # Only the dead server's call was closed: this server's own call went on and succeeded.
    assert rt.wait_run(ours, timeout_s=20)["run_status"] == "succeeded"
    assert calls(rt, ours) == [(1, "", True)]
    assert status_path(rt, ours) == [("RUN_STATUS_QUEUED", ""), ("RUN_STATUS_RUNNING", ""),
                                     ("RUN_STATUS_SUCCEEDED", "")]
    assert "1 run(s) and 1 provider call(s) of a server that stopped renewing its leases" in rt.server.log()
    # Every call is counted once: the recovered one as a request without tokens.
    assert rt.value("SELECT sum(request_count) FROM api_usage_daily") == rt.value(
        "SELECT count(*) FROM run_attempts")


def test_the_periodic_recovery_never_takes_this_servers_own_runs_even_when_their_lease_looks_passed(
        start_runtime):
    rt = start_runtime(BEEBEEBRAIN_LEASE_MS=str(SHORT_LEASE_MS))
    me = server_id(rt)
    rt.fake.mode(status=200, delay_ms=HELD_CALL_MS)  # twenty leases long
    run_id = rt.run(rt.task("own"), "own run")
    wait_until(lambda: calls_at_fake(rt, "own run") == 1, 20, "the call at the fake")
    assert lease(rt, run_id)[0] == me

    # Its lease made to look passed long ago. The lease pass recovers before it renews, in one transaction:
    # once the lease is renewed after this write, a recovery has seen it passed, and left it alone.
    written_at = now_ms()
    write(rt, ("UPDATE task_runs SET lease_until = 1 WHERE id = ?", run_id))
    wait_until(lambda: (lease(rt, run_id)[1] or 0) > written_at, 20, "the lease to be renewed")
    assert rt.run_row(run_id)["run_status"] == "running"
    assert calls(rt, run_id) == [(1, "", False)]  # its call still in flight, not closed as lost

    assert rt.wait_run(run_id, timeout_s=30)["run_status"] == "succeeded"
    assert status_path(rt, run_id) == [("RUN_STATUS_QUEUED", ""), ("RUN_STATUS_RUNNING", ""),
                                       ("RUN_STATUS_SUCCEEDED", "")]
    assert calls(rt, run_id) == [(1, "", True)]
    assert calls_at_fake(rt, "own run") == 1
    assert "stopped renewing its leases" not in rt.server.log()
