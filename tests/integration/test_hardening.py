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

from beebeebrain.v1 import project_pb2, rpc_pb2
from conftest import wait_until
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


def test_a_root_is_canonicalised_before_it_is_checked(server, cli, tmp_path, workspace):
    # <workspace>/../.. climbs to the parent of the temp dir: canonical, that
    # holds the database (and other users' files): refused.
    rc, out, err = create_project(cli, "climb", f"{workspace}/../..")
    assert rc == 1
    assert "root_path" in err
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


def test_a_root_holding_the_servers_database_is_refused(server, cli, tmp_path):
    rc, out, err = create_project(cli, "db", tmp_path)
    assert rc == 1
    assert "database" in err
