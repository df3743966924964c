"""The CLI of the first slice (health, ready, project, task) against a real
server, as scripts use it: `-o json` output in the proto3 JSON mapping (int64
as strings, enum names, defaults omitted, snake_case), exit codes 0/1/2/3 and
`error: <CODE> <REASON>: <message>` on stderr (docs/cli.md)."""

import re

import pytest

from conftest import free_port, Cli

READY_CHECKS = ["database", "migrations", "writer", "workspace", "providers"]


def make_project(cli, tmp_path, name):
    root = tmp_path / f"root-{name}"
    root.mkdir()
    return cli.json("project", "create", name, "--root", root)["project"]


def make_task(cli, *args):
    return cli.json("task", "create", *args)["task"]


def walk_pages(cli, what, key, limit, *args):
    """Follows next_page_token from the first page to the last (bounded);
    returns the pages as lists of items."""
    pages, token = [], None
    for _ in range(100):
        extra = ["--page-token", token] if token else []
        page = cli.json(what, "list", "--limit", limit, *args, *extra)
        pages.append(page.get(key, []))
        token = page.get("next_page_token")
        if not token:
            return pages
    raise AssertionError(f"{what} list never reached its last page")


def violation_fields(stderr):
    """Fields named on the `  field: description` lines after the error line."""
    return re.findall(r"^  (\w+): ", stderr, re.M)


# ---- health and ready

def test_health_reports_ok_service_and_version(server, cli):
    h = cli.json("health")
    assert h["status"] == "ok"
    assert h["service"] == "beebeebrain"
    assert re.fullmatch(r"\d+\.\d+\.\d+.*", h["version"])
    assert isinstance(h.get("uptime_ms", "0"), str) and int(h.get("uptime_ms", "0")) >= 0


def test_ready_is_true_with_the_five_named_checks_passing(server, cli):
    r = cli.json("ready")
    assert r["ready"] is True
    assert sorted(c["name"] for c in r["checks"]) == sorted(READY_CHECKS)
    assert all(c.get("ok") is True for c in r["checks"]), r["checks"]


# ---- projects

def test_project_create_then_get_and_list_return_the_same_project(server, cli, tmp_path):
    root = tmp_path / "ws"
    root.mkdir()
    created = cli.json("project", "create", "alpha", "--root", root)["project"]
    assert created["name"] == "alpha"
    assert created["root_path"] == str(root)
    assert created["version"] == "1"
    assert re.fullmatch(r"[1-9]\d*", created["id"])
    assert int(created["created_at_ms"]) > 0 and created["updated_at_ms"] == created["created_at_ms"]

    assert cli.json("project", "get", created["id"])["project"] == created
    assert cli.json("project", "list")["projects"] == [created]


def test_project_get_of_unknown_id_is_not_found(server, cli):
    rc, out, err = cli("project", "get", "4242")
    assert rc == 1
    assert err.startswith("error: NOT_FOUND PROJECT_NOT_FOUND:")
    assert out == ""


def test_project_list_pages_with_limit_and_page_token(server, cli, tmp_path):
    ids = [make_project(cli, tmp_path, f"p{i}")["id"] for i in range(3)]
    pages = walk_pages(cli, "project", "projects", 1)
    assert [len(p) for p in pages] == [1, 1, 1]
    assert [p[0]["id"] for p in pages] == ids


# ---- tasks

def test_task_create_applies_the_documented_defaults(server, cli, tmp_path):
    project = make_project(cli, tmp_path, "default")
    task = make_task(cli, "--project", project["id"], "--title", "write the docs")
    assert task["title"] == "write the docs"
    assert task["project_id"] == project["id"]
    assert task["priority"] == 3
    assert task["status"] == "TASK_STATUS_TODO"
    assert task["version"] == "1"
    # proto3 JSON omits defaults: nothing was given for these.
    for absent in ("description", "assignee_agent_id", "parent_task_id", "due_at_ms"):
        assert absent not in task
    assert cli.json("task", "get", task["id"])["task"] == task


def test_task_create_keeps_every_given_field(server, cli, tmp_path):
    project = make_project(cli, tmp_path, "work")
    parent = make_task(cli, "--project", project["id"], "--title", "parent")
    task = make_task(cli, "--project", project["id"], "--title", "child", "--description", "the details",
                     "--priority", "1", "--parent", parent["id"], "--due-at", "2026-12-01T09:00:00Z")
    assert task["description"] == "the details"
    assert task["priority"] == 1
    assert task["parent_task_id"] == parent["id"]
    assert task["due_at_ms"] == "1796115600000"
    assert cli.json("task", "get", task["id"])["task"] == task


def test_task_create_without_project_uses_the_project_named_default(server, cli, tmp_path):
    make_project(cli, tmp_path, "other")
    default = make_project(cli, tmp_path, "default")
    task = make_task(cli, "--title", "lands in default")
    assert task["project_id"] == default["id"]


def test_task_create_without_project_and_no_default_project_is_refused(server, cli, tmp_path):
    make_project(cli, tmp_path, "not-default")
    rc, out, err = cli("task", "create", "--title", "homeless")
    assert rc == 1
    assert err.startswith("error: INVALID_ARGUMENT VALIDATION_ERROR:")
    assert "project_id" in violation_fields(err)
    assert cli.json("task", "list").get("tasks", []) == []


def test_task_list_filters_by_project_and_status(server, cli, tmp_path):
    a = make_project(cli, tmp_path, "a")
    b = make_project(cli, tmp_path, "b")
    in_a = [make_task(cli, "--project", a["id"], "--title", f"a{i}")["id"] for i in range(2)]
    in_b = [make_task(cli, "--project", b["id"], "--title", "b0")["id"]]

    def ids(*args):
        return [t["id"] for t in cli.json("task", "list", *args).get("tasks", [])]

    assert ids() == in_a + in_b
    assert ids("--project", a["id"]) == in_a
    assert ids("--project", b["id"]) == in_b
    assert ids("--status", "todo") == in_a + in_b
    assert ids("--status", "running") == []
    assert ids("--project", b["id"], "--status", "todo") == in_b


def test_task_list_pages_with_limit_and_page_token(server, cli, tmp_path):
    project = make_project(cli, tmp_path, "default")
    ids = [make_task(cli, "--title", f"t{i}")["id"] for i in range(5)]
    pages = walk_pages(cli, "task", "tasks", 2, "--project", project["id"])
    assert [len(p) for p in pages] == [2, 2, 1]
    assert [t["id"] for p in pages for t in p] == ids


def test_task_list_with_a_forged_page_token_is_refused(server, cli, tmp_path):
    rc, _, err = cli("task", "list", "--page-token", "not-a-token")
    assert rc == 1
    assert err.startswith("error: INVALID_ARGUMENT INVALID_PAGE_TOKEN:")


# ---- error paths

def test_task_get_of_unknown_id_is_not_found_with_exit_1(server, cli):
    rc, out, err = cli("task", "get", "999")
    assert rc == 1
    assert err.startswith("error: NOT_FOUND TASK_NOT_FOUND:")
    assert out == ""


def test_task_create_with_empty_title_names_the_field_and_creates_nothing(server, cli, tmp_path):
    make_project(cli, tmp_path, "default")
    rc, out, err = cli("task", "create", "--title", "")
    assert rc == 1
    assert err.startswith("error: INVALID_ARGUMENT VALIDATION_ERROR:")
    assert "title" in violation_fields(err)
    assert cli.json("task", "list").get("tasks", []) == []


def test_task_create_with_priority_9_is_a_priority_violation(server, cli, tmp_path):
    make_project(cli, tmp_path, "default")
    rc, _, err = cli("task", "create", "--title", "urgent?", "--priority", "9")
    assert rc == 1
    assert err.startswith("error: INVALID_ARGUMENT VALIDATION_ERROR:")
    assert violation_fields(err) == ["priority"]


def test_task_list_with_an_unknown_status_is_a_usage_error(server, cli):
    rc, out, err = cli("task", "list", "--status", "bogus")
    assert rc == 2
    assert err.startswith("error: ")
    assert "--status" in err
    assert out == ""


def test_unknown_option_is_a_usage_error(server, cli):
    rc, out, err = cli("task", "list", "--no-such-option")
    assert rc == 2
    assert "--no-such-option" in err
    assert out == ""


@pytest.mark.parametrize("args, message", [
    (["bogus"], "unknown command 'bogus'"),
    (["-o", "json", "bogus"], "unknown command 'bogus'"),
    (["--bogus", "health"], "--bogus"),
    (["--frobnicate"], "unknown option '--frobnicate' before the command"),
    (["-o", "json"], "no command given"),
])
def test_an_unknown_command_after_the_global_options_is_named(cli, args, message):
    """The global options (cli() puts --rpc URL first) are skipped when the
    error names what is wrong."""
    rc, out, err = cli(*args)
    assert rc == 2
    assert err.startswith("error: INVALID_ARGUMENT USAGE: ") and message in err.splitlines()[0], err
    assert "'--rpc'" not in err
    assert out == ""


def test_command_without_a_server_exits_3_unreachable(tmp_path):
    cli = Cli(f"tcp://127.0.0.1:{free_port()}", tmp_path)
    for args in (["health"], ["task", "list"], ["-o", "json", "project", "list"]):
        rc, out, err = cli(*args)
        assert rc == 3, args
        assert err.startswith("error: UNAVAILABLE SERVER_UNREACHABLE:"), err
        assert out == ""
