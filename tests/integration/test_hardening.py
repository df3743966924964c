"""Hostile agents and clients against the real server (real sockets, a real
SQLite file, the fake LLM on loopback): tool output that outgrows its buffer,
project roots that would hand agents the system or another project, and text
that is not UTF-8 on the way in and out."""

import json
import os
import pathlib
import socket
import struct

import pytest

from beebeebrain import RpcError
from beebeebrain.v1 import rpc_pb2, task_pb2
from conftest import PG, Server, wait_until
from runtime_fixtures import fake_llm, rt, start_runtime  # noqa: F401  (fixtures)

LONG = "d" * 200


def tool_results(call):
    """The tool results a provider request carried back to the model, as text."""
    out = []
    for m in call["body"]["messages"]:
        content = m.get("content")
        if m.get("role") == "tool":
            out.append(content)
        elif isinstance(content, list):
            out += [b.get("content", "") for b in content if isinstance(b, dict) and b.get("type") == "tool_result"]
    return out


# ---- tool output -------------------------------------------------------------------------------------------------


def test_search_over_long_directory_names_returns_every_match_and_the_server_survives(rt):
    deep = rt.root / LONG / LONG / LONG
    deep.mkdir(parents=True)
    for i in range(50):
        (deep / f"f{i:02d}.txt").write_text(f"the needle {i}\n")
    rt.fake.script([
        {"tool_calls": [{"name": "search_files", "arguments": {"query": "needle"}}]},
        {"tool_calls": [{"name": "finish_task", "arguments": {"summary": "searched"}}]},
    ])
    _, run_id = rt.task_and_run("search long paths")

    assert rt.wait_run(run_id)["run_status"] == "succeeded"
    calls = rt.fake.requests_for("search long paths")
    assert len(calls) == 2
    [result] = tool_results(calls[1])
    lines = result.splitlines()
    assert len(lines) == 50
    assert lines[0] == f"{LONG}/{LONG}/{LONG}/f00.txt:1: the needle 0"
    assert rt.cli.json("health")["status"] == "ok"


def test_a_listing_larger_than_the_tool_result_limit_is_cut_and_says_so(rt):
    for i in range(400):
        (rt.root / f"{i:03d}{'n' * 240}").write_text("x")
    rt.fake.script([
        {"tool_calls": [{"name": "list_path", "arguments": {"path": "."}}]},
        {"tool_calls": [{"name": "finish_task", "arguments": {"summary": "listed"}}]},
    ])
    _, run_id = rt.task_and_run("list a big directory")

    assert rt.wait_run(run_id)["run_status"] == "succeeded"
    [result] = tool_results(rt.fake.requests_for("list a big directory")[1])
    assert result.endswith("\n[... truncated: the output exceeded 65536 bytes]")
    assert len(result.encode()) <= 65536 + 100
    assert result.startswith("000" + "n" * 240 + "\t1\n")


# ---- project roots -----------------------------------------------------------------------------------------------


def create_project(cli, name, root):
    return cli("-o", "json", "project", "create", name, "--root", str(root))


@pytest.mark.parametrize("root", ["/", "/etc", "/usr/lib", "/proc/self/root", "/tmp", "/home"])
def test_system_directories_are_refused_as_project_roots(server, cli, root):
    rc, out, err = create_project(cli, "sys", root)
    assert rc == 1, out
    assert "INVALID_ARGUMENT VALIDATION_ERROR" in err and "root_path" in err


def test_a_root_is_canonicalised_before_it_is_checked(server, cli, client, tmp_path, workspace):
    # <workspace>/b/../a/sub does not start with "<workspace>/a/": canonical,
    # it is inside project outer's root: refused, naming that root (the
    # description is bounded: with long temp paths the name may be cut).
    cli.json("project", "create", "outer", "--root", workspace / "a")
    (workspace / "b").mkdir()
    with pytest.raises(RpcError) as refused:
        client.project.create_project(name="climb", root_path=f"{workspace}/b/../a/sub")
    assert refused.value.reason == "VALIDATION_ERROR"
    [why] = refused.value.violations
    assert why.field == "root_path"
    assert why.description.startswith(f"{workspace}/a/sub overlaps the root {workspace}/a of project 1"), why
    assert [p["name"] for p in cli.json("project", "list")["projects"]] == ["outer"]
    # Through a symlink the same directory is recognised.
    (tmp_path / "alias").symlink_to(workspace)
    created = cli.json("project", "create", "via-link", "--root", tmp_path / "alias" / "." / "sub" / "")
    assert created["project"]["root_path"] == f"{workspace}/sub"


def test_a_root_inside_or_around_another_projects_root_is_refused(server, cli, workspace):
    cli.json("project", "create", "outer", "--root", workspace / "a")
    for root, name in ((workspace / "a" / "b", "inner"), (workspace, "around"), (workspace / "a", "same")):
        rc, out, err = create_project(cli, name, root)
        assert rc == 1, (root, out)
        assert "root_path" in err or "RESOURCE_CONFLICT" in err, err
    assert [p["name"] for p in cli.json("project", "list")["projects"]] == ["outer"]
    cli.json("project", "create", "sibling", "--root", workspace / "ab")


def test_a_root_longer_than_2048_bytes_once_resolved_is_refused_on_both_engines(server, cli, workspace):
    # 2,048 bytes is the most a unique key of PostgreSQL's can surely hold;
    # the same limit on SQLite keeps the engines alike.
    def root_of(length, base):
        parts, left = [], length - len(str(base)) - 1
        while left > 0:
            part = "d" * min(200, left - 1 if left > 201 else left)
            parts.append(part)
            left -= len(part) + 1
        return base / "/".join(parts)

    at_limit = root_of(2048, workspace / "ok")
    assert len(str(at_limit)) == 2048
    assert cli.json("project", "create", "at-limit", "--root", at_limit)["project"]["root_path"] == str(at_limit)
    for name, root in (("missing", root_of(2049, workspace / "no")),
                       ("existing", root_of(2049, workspace / "yes"))):
        if name == "existing":
            root.mkdir(parents=True)
        assert len(str(root)) == 2049
        rc, out, err = create_project(cli, name, root)
        assert rc == 1, out
        assert "INVALID_ARGUMENT VALIDATION_ERROR" in err and "root_path" in err and "2048 bytes" in err
    assert [p["name"] for p in cli.json("project", "list")["projects"]] == ["at-limit"]


def test_a_root_holding_the_servers_database_is_refused(db_path, rpc_url, cli, tmp_path, monkeypatch):
    # The server runs in tmp_path. PostgreSQL: its database is in no directory,
    # even where a file bears the name of its connection string.
    monkeypatch.chdir(tmp_path)
    if PG:
        (tmp_path / db_path).touch()
    srv = Server(db_path, rpc_url).start()
    try:
        rc, out, err = create_project(cli, "db", tmp_path)
        if PG:
            assert rc == 0, err
            assert json.loads(out)["project"]["root_path"] == str(tmp_path)
        else:
            assert rc == 1
            assert "database" in err
    finally:
        assert srv.stop() == 0, srv.log()


# ---- text on the wire --------------------------------------------------------------------------------------------


def pb_varint(n):
    out = b""
    while True:
        b, n = n & 0x7F, n >> 7
        out += bytes([b | (0x80 if n else 0)])
        if not n:
            return out


def pb_bytes(field, data):
    """One length-delimited field, by hand: Python's protobuf refuses to build
    strings that are not UTF-8, which is exactly what these tests send."""
    return pb_varint(field << 3 | 2) + pb_varint(len(data)) + data


def envelope(method, payload=b"", api_key=b""):
    method = method if isinstance(method, bytes) else method.encode()
    return (pb_bytes(1, method) + pb_bytes(2, payload) + pb_bytes(4, api_key)
            + pb_bytes(6, os.urandom(8).hex().encode()))


def reply_of(client, data):
    """The server's reply, parsed the way every strict proto3 client parses it."""
    r = rpc_pb2.RpcResponse()
    r.ParseFromString(client.raw(data))  # raises on a string that is not UTF-8
    return r


API_KEY = "k3y-for-the-nul-test"


def test_an_api_key_with_a_nul_and_junk_after_it_is_refused(db_path, rpc_url):
    from beebeebrain import Client
    from conftest import Server

    srv = Server(db_path, rpc_url, env={"BEEBEEBRAIN_API_KEY": API_KEY}).start()
    try:
        with Client(srv.url) as c:
            method = "/beebeebrain.v1.ProjectService/ListProjects"
            ok = reply_of(c, envelope(method, api_key=API_KEY.encode()))
            assert ok.code == 0
            for key in (API_KEY.encode() + b"\0junk", API_KEY.encode() + b"\0", b"\0" + API_KEY.encode()):
                r = reply_of(c, envelope(method, api_key=key))
                assert r.code != 0, key
                assert (r.code, r.reason) in ((3, "MALFORMED_REQUEST"), (16, "UNAUTHORIZED")), (r.code, r.reason)
    finally:
        assert srv.stop() == 0


def test_request_strings_that_are_not_utf8_are_refused_by_field(client):
    method = "/beebeebrain.v1.TaskService/CreateTask"
    for title in (b"caf\xe9", b"nul\0byte", b"\xed\xa0\x80surrogate"):
        r = reply_of(client, envelope(method, pb_bytes(2, title)))
        assert (r.code, r.reason) == (3, "VALIDATION_ERROR"), (title, r)
        assert [v.field for v in r.violations] == ["title"]
    # The envelope's own strings too.
    r = reply_of(client, envelope("/beebeebrain.v1.HealthService/Check\xff".encode("latin-1")))
    assert (r.code, r.reason) == (3, "MALFORMED_REQUEST")


def test_error_text_cut_inside_a_character_still_parses(client):
    # 199 bytes of two-byte characters after the slash: the server quotes the
    # first 200 bytes of the method name, which ends inside a character.
    method = "/" + "é" * 150
    r = reply_of(client, envelope(method))
    assert (r.code, r.reason) == (12, "UNKNOWN_METHOD")
    assert r.message.startswith("unknown method '/é")


def test_a_provider_error_cut_inside_a_character_is_stored_and_returned_as_utf8(rt):
    from beebeebrain import Client

    # The stored message quotes the provider's error up to 299 bytes, which
    # end inside the 150th "é".
    rt.fake.script([{"status": 400, "error": "réponse refusée " + "é" * 400}])
    _, run_id = rt.task_and_run("bad request with accents")
    assert rt.wait_run(run_id)["run_status"] == "failed"
    with Client(rt.server.url) as c:  # Python's protobuf parses strictly
        run = c.call("TaskService", "GetRun", task_pb2.GetRunRequest(run_id=run_id), task_pb2.GetRunResponse).run
    assert run.error_code == "LLM_INVALID_REQUEST"
    assert "réponse refusée" in run.error_message


def test_every_reply_to_random_envelopes_parses_as_strict_proto3(client):
    import random

    rnd = random.Random(1234)
    methods = [b"/beebeebrain.v1.TaskService/GetTask", b"/beebeebrain.v1.TaskService/CreateTask",
               b"/beebeebrain.v1.ProjectService/CreateProject", b"/beebeebrain.v1.AgentService/UpdateAgent"]
    alphabet = "aé€🐝\u00ff".encode() + bytes(range(0x80, 0x100))
    for i in range(3000):
        m = bytearray(rnd.choice(methods))
        if rnd.random() < 0.5:  # a long method name cut by the server's quoting, or garbage in it
            m += bytes(rnd.choice(alphabet) for _ in range(rnd.randrange(150, 300)))
        payload = bytes(rnd.choice(alphabet) for _ in range(rnd.randrange(0, 40)))
        payload = pb_bytes(rnd.choice([2, 3, 4, 5]), payload) if rnd.random() < 0.7 else payload
        reply_of(client, envelope(bytes(m), payload))  # raises when a string is not UTF-8
    assert reply_of(client, envelope("/beebeebrain.v1.HealthService/Check")).code == 0


def test_a_request_that_would_cost_far_more_to_decode_than_its_size_is_refused(client, server):
    # 4 MiB of 3-byte unknown fields would decode into ~150 MiB of protobuf-c
    # bookkeeping; the server counts fields before decoding.
    def peak_kib():
        with open(f"/proc/{server.pid}/status") as f:
            return int(next(line for line in f if line.startswith("VmHWM:")).split()[1])

    unknown = (pb_varint(99 << 3) + b"\x01") * (1_300_000)
    before = peak_kib()  # the server's own, whatever the engine's connections and the sanitizers add
    r = reply_of(client, envelope("/beebeebrain.v1.TaskService/CreateTask", unknown))
    assert (r.code, r.reason) == (3, "MALFORMED_REQUEST")
    assert "fields" in r.message
    grown = peak_kib() - before
    assert grown < 64 * 1024, grown  # the request's 4 MiB and its copies; a decode would have taken ~150 MiB
    assert reply_of(client, envelope("/beebeebrain.v1.HealthService/Check")).code == 0
