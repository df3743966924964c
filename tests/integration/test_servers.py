"""The servers on the database (table `servers`) as `ready` and `triage` show
them, on a real server: its own row (alive, this_server, its pid and RPC
address, a heartbeat that moves on), the row of a server that stopped cleanly
(stopped), and the row of one that died without stopping (heartbeat old, not
stopped): triage needs attention and names it, ready stays ready."""

import json
import time

from conftest import Server, sql, wait_until

EXIT_INCIDENT = 4
DEAD_ID = "00000000deadbeef"


def servers_of(report):
    return {s["id"]: s for s in report.get("servers", [])}


def this_server(report):
    mine = [s for s in report.get("servers", []) if s.get("this_server")]
    assert len(mine) == 1, report.get("servers")
    return mine[0]


def triage(cli):
    rc, out, err = cli("-o", "json", "triage")
    assert rc in (0, EXIT_INCIDENT), (rc, out, err)
    return json.loads(out), rc


def test_ready_and_triage_list_this_server_alive_with_its_pid_and_address(server, cli):
    ready = cli.json("ready")
    assert ready["ready"] is True
    me = this_server(ready)
    assert me["alive"] is True
    assert me["pid"] == server.pid
    assert me["address"] == server.url
    assert len(me["id"]) == 16 and me["version"]
    assert "stopped_at_ms" not in me  # proto3 JSON leaves out 0: not stopped
    assert int(me["heartbeat_at_ms"]) >= int(me["started_at_ms"]) > 0

    report, rc = triage(cli)
    assert rc == 0 and report["verdict"] == "healthy", report["verdict_line"]
    mine = this_server(report)
    assert mine["id"] == me["id"] and mine["alive"] is True and mine["pid"] == server.pid
    assert mine["address"] == server.url

    # The heartbeat job renews the row while the server runs.
    wait_until(lambda: int(this_server(cli.json("ready"))["heartbeat_at_ms"]) > int(me["heartbeat_at_ms"]), 30,
               "the server's heartbeat to be renewed")

    rc, out, err = cli("ready")
    assert rc == 0, err
    line = next(l for l in out.splitlines() if me["id"] in l)
    assert " alive " in line and f"pid {server.pid} " in line and server.url in line and "(this server)" in line
    rc, out, err = cli("triage")
    assert rc == 0, err
    assert any(l.startswith("servers ") for l in out.splitlines()), out
    assert any(me["id"] in l and "(this server)" in l for l in out.splitlines()), out


def test_after_a_clean_stop_its_row_says_stopped(db_path, rpc_url, cli):
    first = Server(db_path, rpc_url).start()
    first_id = this_server(cli.json("ready"))["id"]
    first_pid = first.pid
    assert first.stop() == 0, first.log()

    second = Server(db_path, rpc_url).start()
    try:
        ready = cli.json("ready")
        assert ready["ready"] is True
        rows = servers_of(ready)
        old = rows[first_id]
        assert int(old["stopped_at_ms"]) > 0 and old["pid"] == first_pid
        assert "alive" not in old and "this_server" not in old
        me = this_server(ready)
        assert me["id"] != first_id and me["pid"] == second.pid and me["alive"] is True
        # Newest heartbeat first: the running server before the stopped one.
        assert [s["id"] for s in ready["servers"]][:2] == [me["id"], first_id]

        report, rc = triage(cli)
        assert rc == 0 and report["verdict"] == "healthy", report["verdict_line"]
        assert int(servers_of(report)[first_id]["stopped_at_ms"]) > 0

        rc, out, err = cli("ready")
        assert rc == 0, err
        assert " stopped " in next(l for l in out.splitlines() if first_id in l), out
    finally:
        assert second.stop() == 0, second.log()


def test_a_dead_server_makes_triage_say_attention_naming_it_and_ready_stays_ready(server, cli):
    silent_since = int(time.time() * 1000) - 60_000  # 12 heartbeats missed
    sql(server.db_path, "INSERT INTO servers (id, address, version, pid, started_at, heartbeat_at) "
        "VALUES (?, 'tcp://10.9.8.7:7420', '0.0.9', 31337, ?, ?)", DEAD_ID, silent_since - 3_600_000, silent_since)

    report, rc = triage(cli)
    assert rc == 0, report["verdict_line"]
    assert report["verdict"] == "attention"
    assert DEAD_ID in report["verdict_line"]
    found = [f for f in report.get("findings", []) if f["area"] == "servers"]
    assert len(found) == 1, report.get("findings")
    assert DEAD_ID in found[0]["summary"] and "tcp://10.9.8.7:7420" in found[0]["summary"]
    assert "pid 31337" in found[0]["summary"] and "pages" not in found[0]
    assert found[0]["next_command"] == "beebeebrain run list --status running"
    dead = servers_of(report)[DEAD_ID]
    assert "alive" not in dead and "stopped_at_ms" not in dead and int(dead["heartbeat_at_ms"]) == silent_since
    assert this_server(report)["alive"] is True

    rc, out, err = cli("triage")
    assert rc == 0, err
    assert any(DEAD_ID in l and "DEAD" in l for l in out.splitlines()), out
    assert out.strip().splitlines()[-1].startswith("verdict: attention"), out

    ready = cli.json("ready")
    assert ready["ready"] is True
    assert "alive" not in servers_of(ready)[DEAD_ID]
    assert this_server(ready)["alive"] is True
    rc, out, err = cli("ready")
    assert rc == 0, err
    assert any(DEAD_ID in l and "DEAD" in l for l in out.splitlines()), out

    # The next command triage names is one the CLI accepts.
    rc, out, err = cli("run", "list", "--status", "running")
    assert rc == 0, err
