"""The domain over RPC, driven through the CLI as scripts use it (docs/protocol.md,
docs/cli.md): agents, tasks and their commands, dependencies, runs, tools, the
inbox, logs and metrics. Every command runs with `-o json` and the test checks
the proto3 JSON it prints (int64 as strings, enum names, defaults left out), the
exit status and `error: <CODE> <REASON>` of refusals, and, read straight from
the database file, the events each change wrote in its transaction.

ProjectService's three methods are covered by test_cli_slice.py."""

import re

import pytest

from beebeebrain.v1 import common_pb2 as pb, events_pb2, task_pb2
from beebeebrain import RpcError
from conftest import sql

# These tests check the domain's bookkeeping of runs (queued, active, cancelled),
# so the runtime must not execute them: runs stay queued (docs/runtime.md).
SERVER_ENV = {"BEEBEEBRAIN_RUNTIME": "off"}


# ---- helpers

def expect_error(cli, code, reason, *args):
    """Runs a command that must fail with exit 1 and `error: CODE REASON:`;
    returns stderr."""
    rc, out, err = cli("-o", "json", *args)
    assert rc == 1, f"{args}: exit {rc}, stdout {out!r}, stderr {err!r}"
    assert err.startswith(f"error: {code} {reason}:"), err
    assert out == ""
    return err


def violation_fields(stderr):
    return re.findall(r"^  (\w+): ", stderr, re.M)


def events(db_path, event_type, task_id=None):
    """(event_type, task_id, run_id, Event) rows of a type, in id order."""
    statement = "SELECT event_type, task_id, run_id, payload FROM events WHERE event_type = ?"
    args = [event_type]
    if task_id is not None:
        statement += " AND task_id = ?"
        args.append(int(task_id))
    rows = sql(db_path, statement + " ORDER BY id", *args)
    return [(t, task, run, events_pb2.Event.FromString(bytes(p))) for t, task, run, p in rows]


@pytest.fixture
def project(server, cli, tmp_path):
    root = tmp_path / "workspace"
    root.mkdir()
    return cli.json("project", "create", "default", "--root", root)["project"]


@pytest.fixture
def other_project(server, cli, tmp_path):
    root = tmp_path / "other"
    root.mkdir()
    return cli.json("project", "create", "other", "--root", root)["project"]


def make_agent(cli, name="coder", *extra):
    return cli.json("agent", "create", "--name", name, "--role", "developer", "--provider", "echo",
                    "--model", "echo-1", *extra)["agent"]


def make_task(cli, title="a task", *extra):
    return cli.json("task", "create", "--title", title, *extra)["task"]


def set_status(cli, task_id, *statuses):
    task = None
    for s in statuses:
        task = cli.json("task", "update", task_id, "--status", s)["task"]
    return task


# ---- AgentService

def test_agent_create_keeps_every_flag_and_get_returns_the_same(project, cli):
    agent = cli.json("agent", "create", "--project", project["id"], "--name", "reviewer", "--role", "code review",
                     "--provider", "anthropic", "--model", "claude-sonnet", "--persona", "strict but kind",
                     "--tools", "read_file,list_path,finish_task", "--max-concurrency", "2")["agent"]
    assert agent["project_id"] == project["id"]
    assert (agent["name"], agent["role"]) == ("reviewer", "code review")
    assert (agent["model_provider"], agent["model_name"]) == ("anthropic", "claude-sonnet")
    assert agent["persona_prompt"] == "strict but kind"
    assert agent["enabled_tools"] == ["read_file", "list_path", "finish_task"]
    assert agent["max_concurrency"] == 2
    assert agent["status"] == "AGENT_STATUS_ACTIVE"
    assert agent["version"] == "1"
    assert cli.json("agent", "get", agent["id"])["agent"] == agent


def test_agent_defaults_are_active_and_max_concurrency_4(project, cli):
    agent = make_agent(cli)
    assert agent["status"] == "AGENT_STATUS_ACTIVE"
    assert agent["max_concurrency"] == 4
    assert "enabled_tools" not in agent


def test_agent_list_filters_by_project_and_status(project, other_project, cli):
    a = make_agent(cli, "a")
    b = cli.json("agent", "create", "--project", other_project["id"], "--name", "b", "--role", "r",
                 "--provider", "openai", "--model", "gpt", "--status", "inactive")["agent"]

    def ids(*args):
        return [x["id"] for x in cli.json("agent", "list", *args).get("agents", [])]

    assert ids() == [a["id"], b["id"]]
    assert ids("--project", project["id"]) == [a["id"]]
    assert ids("--status", "inactive") == [b["id"]]
    assert ids("--project", project["id"], "--status", "inactive") == []


def test_agent_update_changes_only_the_given_fields_and_raises_the_version(project, cli):
    agent = make_agent(cli, "coder", "--tools", "read_file", "--persona", "terse")
    updated = cli.json("agent", "update", agent["id"], "--model", "echo-2", "--tools", "write_file,append_log",
                       "--status", "inactive", "--expected-version", "1")["agent"]
    assert updated["model_name"] == "echo-2"
    assert updated["enabled_tools"] == ["write_file", "append_log"]
    assert updated["status"] == "AGENT_STATUS_INACTIVE"
    assert updated["persona_prompt"] == "terse" and updated["name"] == "coder"
    assert updated["version"] == "2"
    assert cli.json("agent", "get", agent["id"])["agent"] == updated


def test_agent_update_with_a_stale_version_is_aborted_and_changes_nothing(project, cli):
    agent = make_agent(cli)
    cli.json("agent", "update", agent["id"], "--role", "tester")
    expect_error(cli, "ABORTED", "TASK_VERSION_CONFLICT", "agent", "update", agent["id"], "--role", "x",
                 "--expected-version", "1")
    assert cli.json("agent", "get", agent["id"])["agent"]["role"] == "tester"


def test_agent_create_lists_every_offending_field(project, cli):
    err = expect_error(cli, "INVALID_ARGUMENT", "VALIDATION_ERROR", "agent", "create", "--name", "n" * 121,
                       "--role", "", "--provider", "echo", "--model", "m", "--tools", "read_file,rm_rf",
                       "--max-concurrency", "65")
    assert violation_fields(err) == ["name", "role", "enabled_tools", "max_concurrency"]
    assert cli.json("agent", "list").get("agents", []) == []


def test_agent_with_an_unknown_provider_is_invalid_llm_provider(project, cli):
    expect_error(cli, "INVALID_ARGUMENT", "INVALID_LLM_PROVIDER", "agent", "create", "--name", "n", "--role", "r",
                 "--provider", "gemini", "--model", "m")


def test_agent_name_is_unique_in_its_project(project, other_project, cli):
    make_agent(cli, "twin")
    expect_error(cli, "ALREADY_EXISTS", "RESOURCE_CONFLICT", "agent", "create", "--name", "twin", "--role", "r",
                 "--provider", "echo", "--model", "m")
    cli.json("agent", "create", "--project", other_project["id"], "--name", "twin", "--role", "r",
             "--provider", "echo", "--model", "m")


def test_agent_delete_unassigns_its_tasks(project, cli):
    agent = make_agent(cli)
    task = make_task(cli, "assigned", "--assignee", agent["id"])
    assert cli.json("agent", "delete", agent["id"]) == {"unassigned_tasks": 1}
    after = cli.json("task", "get", task["id"])["task"]
    assert "assignee_agent_id" not in after
    assert after["version"] == "2"
    expect_error(cli, "NOT_FOUND", "AGENT_NOT_FOUND", "agent", "get", agent["id"])
    expect_error(cli, "NOT_FOUND", "AGENT_NOT_FOUND", "agent", "delete", agent["id"])


# ---- TaskService: UpdateTask, DeleteTask

def test_task_update_changes_the_masked_fields_and_writes_the_status_change(project, cli, db_path):
    task = make_task(cli, "draft", "--description", "keep me")
    agent = make_agent(cli)
    updated = cli.json("task", "update", task["id"], "--title", "final", "--priority", "1", "--assignee",
                       agent["id"], "--status", "running", "--expected-version", "1", "--actor", "alice")["task"]
    assert updated["title"] == "final" and updated["priority"] == 1
    assert updated["assignee_agent_id"] == agent["id"]
    assert updated["status"] == "TASK_STATUS_RUNNING"
    assert updated["description"] == "keep me"
    assert updated["version"] == "2"
    changes = [e.task_status_changed for _, _, _, e in events(db_path, "task.status.changed", task["id"])]
    assert [(c.from_status, c.to_status) for c in changes] == [
        (pb.TASK_STATUS_UNSPECIFIED, pb.TASK_STATUS_TODO), (pb.TASK_STATUS_TODO, pb.TASK_STATUS_RUNNING)]
    assert changes[-1].actor == "alice" and changes[-1].version == 2


def test_task_update_to_a_status_the_machine_forbids_is_refused(project, cli):
    task = make_task(cli)
    expect_error(cli, "FAILED_PRECONDITION", "INVALID_TASK_TRANSITION", "task", "update", task["id"],
                 "--status", "done")
    assert cli.json("task", "get", task["id"])["task"] == task


def test_task_update_lists_every_bad_field_and_needs_one(project, cli):
    task = make_task(cli)
    err = expect_error(cli, "INVALID_ARGUMENT", "VALIDATION_ERROR", "task", "update", task["id"], "--title", "",
                       "--priority", "9")
    assert violation_fields(err) == ["title", "priority"]
    rc, _, err = cli("task", "update", task["id"])
    assert rc == 2 and "USAGE" in err


def test_task_update_with_an_agent_of_another_project_is_invalid_assignee(project, other_project, cli):
    task = make_task(cli)
    stranger = cli.json("agent", "create", "--project", other_project["id"], "--name", "x", "--role", "r",
                        "--provider", "echo", "--model", "m")["agent"]
    expect_error(cli, "INVALID_ARGUMENT", "INVALID_ASSIGNEE", "task", "update", task["id"], "--assignee",
                 stranger["id"])


def test_task_update_with_a_stale_version_is_aborted(project, cli):
    task = make_task(cli)
    cli.json("task", "update", task["id"], "--title", "v2")
    expect_error(cli, "ABORTED", "TASK_VERSION_CONFLICT", "task", "update", task["id"], "--title", "v3",
                 "--expected-version", "1")
    assert cli.json("task", "get", task["id"])["task"]["title"] == "v2"


def test_task_delete_removes_it_and_refuses_while_it_has_dependents(project, cli):
    parent = make_task(cli, "parent")
    child = make_task(cli, "child", "--parent", parent["id"])
    other = make_task(cli, "other")
    cli.json("task", "deps", "add", other["id"], "--on", child["id"])
    expect_error(cli, "FAILED_PRECONDITION", "TASK_HAS_DEPENDENTS", "task", "delete", parent["id"])
    expect_error(cli, "FAILED_PRECONDITION", "TASK_HAS_DEPENDENTS", "task", "delete", child["id"])
    assert cli.json("task", "delete", other["id"]) == {}
    assert cli.json("task", "delete", child["id"]) == {}
    assert cli.json("task", "delete", parent["id"]) == {}
    expect_error(cli, "NOT_FOUND", "TASK_NOT_FOUND", "task", "get", parent["id"])
    expect_error(cli, "NOT_FOUND", "TASK_NOT_FOUND", "task", "delete", parent["id"])


def test_task_delete_is_refused_while_a_run_is_active(project, cli):
    task = make_task(cli)
    cli.json("task", "run", task["id"], "--prompt", "go", "--provider", "echo")
    expect_error(cli, "FAILED_PRECONDITION", "TASK_RUN_ALREADY_ACTIVE", "task", "delete", task["id"])


# ---- TaskService: commands

def test_commands_follow_the_state_machine_and_every_one_is_audited(project, cli, db_path):
    task = set_status(cli, make_task(cli)["id"], "running")
    paused = cli.json("task", "pause", task["id"], "--actor", "ops")["task"]
    assert paused["status"] == "TASK_STATUS_BLOCKED"
    expect_error(cli, "FAILED_PRECONDITION", "INVALID_TASK_TRANSITION", "task", "pause", task["id"])
    assert cli.json("task", "resume", task["id"])["task"]["status"] == "TASK_STATUS_RUNNING"
    cancelled = cli.json("task", "cancel", task["id"])["task"]
    assert cancelled["status"] == "TASK_STATUS_CANCELLED"
    retried = cli.json("task", "retry", task["id"])["task"]
    assert retried["status"] == "TASK_STATUS_TODO"
    assert int(retried["version"]) == int(task["version"]) + 4

    audits = [e.task_intervention_audit for _, _, _, e in events(db_path, "task.intervention.audit", task["id"])]
    assert [(a.command, a.applied, a.reason) for a in audits] == [
        (pb.TASK_COMMAND_PAUSE, True, ""), (pb.TASK_COMMAND_PAUSE, False, "INVALID_TASK_TRANSITION"),
        (pb.TASK_COMMAND_RESUME, True, ""), (pb.TASK_COMMAND_CANCEL, True, ""), (pb.TASK_COMMAND_RETRY, True, "")]
    assert audits[0].actor == "ops" and audits[1].actor == "operator"
    assert (audits[0].from_status, audits[0].to_status) == (pb.TASK_STATUS_RUNNING, pb.TASK_STATUS_BLOCKED)
    # Each applied command also wrote its status change.
    assert len(events(db_path, "task.status.changed", task["id"])) == 2 + 4


def test_a_command_with_a_stale_version_is_aborted_and_audited(project, cli, db_path):
    task = set_status(cli, make_task(cli)["id"], "running")
    expect_error(cli, "ABORTED", "TASK_VERSION_CONFLICT", "task", "pause", task["id"], "--expected-version",
                 str(int(task["version"]) - 1))
    assert cli.json("task", "get", task["id"])["task"]["status"] == "TASK_STATUS_RUNNING"
    cli.json("task", "pause", task["id"], "--expected-version", task["version"])
    audits = [e.task_intervention_audit for _, _, _, e in events(db_path, "task.intervention.audit", task["id"])]
    assert [(a.applied, a.reason) for a in audits] == [(False, "TASK_VERSION_CONFLICT"), (True, "")]


def test_a_command_on_an_unknown_task_is_not_found_and_audited(project, cli, db_path):
    expect_error(cli, "NOT_FOUND", "TASK_NOT_FOUND", "task", "cancel", "4242")
    audits = events(db_path, "task.intervention.audit", 4242)
    assert len(audits) == 1 and audits[0][3].task_intervention_audit.reason == "TASK_NOT_FOUND"


def test_cancel_also_cancels_the_active_run(project, cli, db_path):
    task = make_task(cli)
    run = cli.json("task", "run", task["id"], "--prompt", "go", "--provider", "echo")["run"]
    cli.json("task", "cancel", task["id"])
    after = cli.json("run", "get", run["id"])["run"]
    assert after["run_status"] == "RUN_STATUS_CANCELLED"
    assert after["error_code"] == "TASK_CANCELLED"
    assert int(after["ended_at_ms"]) > 0
    changes = [e.run_status_changed for _, _, _, e in events(db_path, "run.status.changed", task["id"])]
    assert [(c.from_status, c.to_status) for c in changes] == [
        (pb.RUN_STATUS_UNSPECIFIED, pb.RUN_STATUS_QUEUED), (pb.RUN_STATUS_QUEUED, pb.RUN_STATUS_CANCELLED)]


def test_a_task_cancelled_by_update_loses_its_active_run_too(project, cli):
    task = make_task(cli)
    run = cli.json("task", "run", task["id"], "--prompt", "go", "--provider", "echo")["run"]
    cli.json("task", "update", task["id"], "--status", "cancelled")
    assert cli.json("run", "get", run["id"])["run"]["run_status"] == "RUN_STATUS_CANCELLED"
    cli.json("task", "update", task["id"], "--status", "todo")
    assert cli.json("task", "run", task["id"], "--prompt", "go", "--provider", "echo")["run"]["attempt"] == 2


# ---- TaskService: BroadcastCommand

def test_broadcast_reports_applied_rejected_and_conflict_per_task(project, other_project, cli, db_path):
    running = [set_status(cli, make_task(cli, f"r{i}")["id"], "running") for i in range(3)]
    todo = make_task(cli, "still todo")
    foreign = cli.json("task", "create", "--project", other_project["id"], "--title", "foreign")["task"]
    ids = [t["id"] for t in running] + [todo["id"], foreign["id"], "9999"]
    versions = [running[0]["version"], str(int(running[1]["version"]) + 7), running[2]["version"], "1", "1", "1"]
    r = cli.json("task", "broadcast", "pause", "--project", project["id"], "--ids", ",".join(ids),
                 "--expected-versions", ",".join(versions), "--actor", "bulk")
    outcomes = {x["task_id"]: (x["outcome"], x.get("reason", "")) for x in r["results"]}
    assert outcomes == {
        running[0]["id"]: ("applied", ""),
        running[1]["id"]: ("conflict", "TASK_VERSION_CONFLICT"),
        running[2]["id"]: ("applied", ""),
        todo["id"]: ("rejected", "INVALID_TASK_TRANSITION"),
        foreign["id"]: ("rejected", "TASK_NOT_FOUND"),
        "9999": ("rejected", "TASK_NOT_FOUND"),
    }
    assert (r["applied"], r.get("rejected"), r.get("conflict")) == (2, 3, 1)
    assert cli.json("task", "get", foreign["id"])["task"]["status"] == "TASK_STATUS_TODO"
    audits = events(db_path, "task.intervention.audit")
    assert len(audits) == 6
    assert all(e.task_intervention_audit.actor == "bulk" for _, _, _, e in audits)


def test_broadcast_without_ids_selects_by_status_or_by_the_command(project, cli):
    tasks = [make_task(cli, f"t{i}") for i in range(4)]
    set_status(cli, tasks[0]["id"], "running")
    set_status(cli, tasks[1]["id"], "running")
    r = cli.json("task", "broadcast", "pause")
    assert sorted(x["task_id"] for x in r["results"]) == sorted([tasks[0]["id"], tasks[1]["id"]])
    assert r["applied"] == 2
    r = cli.json("task", "broadcast", "cancel", "--status", "todo", "--limit", "1")
    assert [x["task_id"] for x in r["results"]] == [tasks[2]["id"]]
    r = cli.json("task", "broadcast", "resume", "--status", "todo")
    assert {x["outcome"] for x in r["results"]} == {"rejected"} and r.get("applied", 0) == 0


def test_broadcast_refuses_more_than_200_targets(project, client):
    req = task_pb2.BroadcastCommandRequest(command=pb.TASK_COMMAND_PAUSE, task_ids=list(range(1, 202)))
    with pytest.raises(RpcError) as e:
        client.call("TaskService", "BroadcastCommand", req, task_pb2.BroadcastCommandResponse)
    assert (e.value.code, e.value.reason) == (3, "VALIDATION_ERROR")
    assert [f for f, _ in e.value.violations] == ["task_ids"]


# ---- TaskService: dependencies and readiness

def test_dependencies_refuse_self_edges_duplicates_and_cycles(project, cli):
    a, b, c = (make_task(cli, n)["id"] for n in "abc")
    dep = cli.json("task", "deps", "add", b, "--on", a)["dependency"]
    assert dep == {"task_id": b, "depends_on_task_id": a, "dependency_type": "DEPENDENCY_TYPE_FINISH_TO_START"}
    cli.json("task", "deps", "add", c, "--on", b, "--type", "start_to_start")
    for args in ((a, a), (b, a), (a, c), (a, b)):
        expect_error(cli, "INVALID_ARGUMENT", "INVALID_TASK_DEPENDENCY", "task", "deps", "add", args[0],
                     "--on", args[1])
    expect_error(cli, "NOT_FOUND", "TASK_NOT_FOUND", "task", "deps", "add", a, "--on", "999")
    assert cli.json("task", "deps", "remove", c, "--on", b) == {}
    expect_error(cli, "INVALID_ARGUMENT", "INVALID_TASK_DEPENDENCY", "task", "deps", "remove", c, "--on", b)
    # With c -> b gone, a may now depend on c.
    cli.json("task", "deps", "add", a, "--on", c)


def test_dependencies_stay_within_one_project(project, other_project, cli):
    a = make_task(cli)["id"]
    b = cli.json("task", "create", "--project", other_project["id"], "--title", "far")["task"]["id"]
    expect_error(cli, "INVALID_ARGUMENT", "INVALID_TASK_DEPENDENCY", "task", "deps", "add", a, "--on", b)


def test_ready_lists_todo_tasks_with_done_dependencies_and_parent_by_priority_then_age(project, cli):
    low = make_task(cli, "low", "--priority", "5")
    first = make_task(cli, "urgent first", "--priority", "1")
    second = make_task(cli, "urgent second", "--priority", "1")
    dep = make_task(cli, "dependency", "--priority", "2")
    waits = make_task(cli, "waits", "--priority", "1")
    child = make_task(cli, "child", "--priority", "1", "--parent", low["id"])
    cli.json("task", "deps", "add", waits["id"], "--on", dep["id"])
    busy = set_status(cli, make_task(cli, "busy", "--priority", "1")["id"], "running")

    def ready():
        return [t["id"] for t in cli.json("task", "ready").get("tasks", [])]

    assert ready() == [first["id"], second["id"], dep["id"], low["id"]]
    set_status(cli, dep["id"], "running", "review", "done")
    set_status(cli, low["id"], "running", "review", "done")
    assert ready() == [first["id"], second["id"], waits["id"], child["id"]]
    assert busy["id"] not in ready()
    assert cli.json("task", "ready", "--project", project["id"], "--limit", "1")["tasks"][0]["id"] == first["id"]


# ---- TaskService: runs

def test_run_queues_a_run_moves_the_task_and_honours_the_idempotency_key(project, cli, db_path):
    agent = make_agent(cli)
    task = make_task(cli, "run me", "--assignee", agent["id"])
    run = cli.json("task", "run", task["id"], "--prompt", "do it", "--system", "be brief", "--max-turns", "3",
                   "--timeout", "60", "--idempotency-key", "k-1")["run"]
    assert run["run_status"] == "RUN_STATUS_QUEUED"
    assert run["attempt"] == 1 and run["task_id"] == task["id"] and run["agent_id"] == agent["id"]
    assert (run["provider"], run["model"]) == ("echo", "echo-1")
    assert (run["prompt"], run["system_prompt"]) == ("do it", "be brief")
    assert (run["max_turns"], run["timeout_seconds"]) == (3, 60)
    assert run["idempotency_key"] == "k-1"
    assert cli.json("task", "get", task["id"])["task"]["status"] == "TASK_STATUS_RUNNING"

    assert cli.json("task", "run", task["id"], "--prompt", "do it", "--idempotency-key", "k-1")["run"] == run
    expect_error(cli, "FAILED_PRECONDITION", "TASK_RUN_ALREADY_ACTIVE", "task", "run", task["id"], "--prompt",
                 "again", "--idempotency-key", "k-2")
    other = make_task(cli, "other")
    expect_error(cli, "ALREADY_EXISTS", "IDEMPOTENCY_KEY_CONFLICT", "task", "run", other["id"], "--prompt", "x",
                 "--provider", "echo", "--idempotency-key", "k-1")
    assert len(events(db_path, "run.status.changed", task["id"])) == 1

    # After the run is cancelled and the task retried, the next run is attempt 2.
    cli.json("task", "cancel", task["id"])
    cli.json("task", "retry", task["id"])
    second = cli.json("task", "run", task["id"], "--prompt", "once more", "--provider", "openai")["run"]
    assert second["attempt"] == 2 and second["provider"] == "openai" and "model" not in second
    assert second["idempotency_key"].startswith("auto-")
    assert second["run_status"] == "RUN_STATUS_QUEUED"


def test_run_request_is_validated(project, cli):
    task = make_task(cli)
    err = expect_error(cli, "INVALID_ARGUMENT", "VALIDATION_ERROR", "task", "run", task["id"], "--prompt", "",
                       "--timeout", "601", "--max-turns", "0", "--idempotency-key", "k" * 81)
    assert violation_fields(err) == ["prompt", "timeout_seconds", "idempotency_key"]
    expect_error(cli, "INVALID_ARGUMENT", "INVALID_LLM_PROVIDER", "task", "run", task["id"], "--prompt", "p",
                 "--provider", "gemini")
    err = expect_error(cli, "INVALID_ARGUMENT", "VALIDATION_ERROR", "task", "run", task["id"], "--prompt", "p")
    assert violation_fields(err) == ["provider"]
    expect_error(cli, "NOT_FOUND", "TASK_NOT_FOUND", "task", "run", "777", "--prompt", "p", "--provider", "echo")
    assert "runs" not in cli.json("run", "list")


def test_run_of_a_done_task_is_an_invalid_transition(project, cli):
    task = set_status(cli, make_task(cli)["id"], "running", "review", "done")
    expect_error(cli, "FAILED_PRECONDITION", "INVALID_TASK_TRANSITION", "task", "run", task["id"], "--prompt", "p",
                 "--provider", "echo")


def test_run_get_and_list_filter_by_task_and_status(project, cli):
    a, b = make_task(cli, "a"), make_task(cli, "b")
    ra = cli.json("task", "run", a["id"], "--prompt", "p", "--provider", "echo")["run"]
    rb = cli.json("task", "run", b["id"], "--prompt", "p", "--provider", "echo")["run"]
    cli.json("task", "cancel", b["id"])
    got = cli.json("run", "get", ra["id"])
    assert got["run"] == ra and "attempts" not in got
    assert [r["id"] for r in cli.json("run", "list")["runs"]] == [ra["id"], rb["id"]]
    assert [r["id"] for r in cli.json("run", "list", "--task", b["id"])["runs"]] == [rb["id"]]
    assert [r["id"] for r in cli.json("run", "list", "--status", "queued")["runs"]] == [ra["id"]]
    page = cli.json("run", "list", "--limit", "1")
    assert len(page["runs"]) == 1 and page["next_page_token"]
    expect_error(cli, "NOT_FOUND", "TASK_RUN_NOT_FOUND", "run", "get", "555")


# ---- ToolService

def test_finish_task_moves_review_to_done_once_and_replays_with_idempotency_hit(project, cli, db_path):
    task = set_status(cli, make_task(cli)["id"], "running", "review")
    first = cli.json("tool", "finish-task", task["id"], "--key", "fin-1")
    assert first["task"]["status"] == "TASK_STATUS_DONE" and "idempotency_hit" not in first
    again = cli.json("tool", "finish-task", task["id"], "--key", "fin-1")
    assert again["idempotency_hit"] is True
    assert again["task"] == first["task"]
    audits = [e.tool_command_audit for _, _, _, e in events(db_path, "tool.command.audit", task["id"])]
    assert [(a.tool, a.idempotency_key, a.idempotency_hit, a.outcome) for a in audits] == [
        ("finish_task", "fin-1", False, "applied"), ("finish_task", "fin-1", True, "applied")]
    expect_error(cli, "ALREADY_EXISTS", "IDEMPOTENCY_KEY_CONFLICT", "tool", "block-task", task["id"], "--key",
                 "fin-1")


def test_finish_task_of_a_running_task_is_refused_and_audited(project, cli, db_path):
    task = set_status(cli, make_task(cli)["id"], "running")
    expect_error(cli, "FAILED_PRECONDITION", "INVALID_TASK_TRANSITION", "tool", "finish-task", task["id"], "--key",
                 "early")
    audit = events(db_path, "tool.command.audit", task["id"])[0][3].tool_command_audit
    assert (audit.outcome, audit.reason) == ("rejected", "INVALID_TASK_TRANSITION")
    # Refusals are not remembered under the key: after review it succeeds.
    set_status(cli, task["id"], "review")
    assert cli.json("tool", "finish-task", task["id"], "--key", "early")["task"]["status"] == "TASK_STATUS_DONE"


def test_block_task_blocks_and_keeps_the_reason_in_the_audit(project, cli, db_path):
    task = set_status(cli, make_task(cli)["id"], "running")
    r = cli.json("tool", "block-task", task["id"], "--key", "blk", "--reason", "need token=abc123 to go on")
    assert r["task"]["status"] == "TASK_STATUS_BLOCKED"
    audit = events(db_path, "tool.command.audit", task["id"])[0][3].tool_command_audit
    assert audit.tool == "block_task" and "abc123" not in audit.note and "need" in audit.note
    expect_error(cli, "NOT_FOUND", "TASK_NOT_FOUND", "tool", "block-task", "888", "--key", "blk-2")
    expect_error(cli, "NOT_FOUND", "TASK_RUN_NOT_FOUND", "tool", "block-task", task["id"], "--key", "blk-3",
                 "--run", "77")


def test_request_input_blocks_the_task_and_opens_one_inbox_item(project, cli, db_path):
    task = set_status(cli, make_task(cli)["id"], "running")
    r = cli.json("tool", "request-input", task["id"], "--key", "ask-1", "--title", "Which database?",
                 "--content", "sqlite or postgres?")
    assert r["task"]["status"] == "TASK_STATUS_BLOCKED"
    item = r["item"]
    assert item["item_type"] == "INBOX_ITEM_TYPE_AWAIT_USER_INPUT"
    assert (item["source_type"], item["source_id"]) == ("SOURCE_TYPE_TASK", task["id"])
    assert (item["title"], item["content"], item["status"]) == ("Which database?", "sqlite or postgres?",
                                                                "INBOX_STATUS_OPEN")
    replay = cli.json("tool", "request-input", task["id"], "--key", "ask-1", "--title", "Which database?",
                      "--content", "sqlite or postgres?")
    assert replay["idempotency_hit"] is True and replay["item"] == item
    created = events(db_path, "inbox.item.created", task["id"])
    assert len(created) == 1 and created[0][3].inbox_item.item.id == int(item["id"])
    assert cli.json("inbox", "get", item["id"])["item"] == item


# ---- InboxService

def test_operator_notes_are_listed_newest_first_with_filters(project, other_project, cli):
    a = cli.json("inbox", "note", "--title", "first", "--content", "hello")["item"]
    b = cli.json("inbox", "note", "--project", other_project["id"], "--title", "second", "--content", "x")["item"]
    c = cli.json("inbox", "note", "--title", "third", "--content", "y")["item"]
    assert a["item_type"] == "INBOX_ITEM_TYPE_OPERATOR_NOTE" and a["status"] == "INBOX_STATUS_OPEN"
    assert a["project_id"] == project["id"] and a["source_type"] == "SOURCE_TYPE_SYSTEM"

    def ids(*args):
        return [x["id"] for x in cli.json("inbox", "list", *args).get("items", [])]

    assert ids() == [c["id"], b["id"], a["id"]]
    assert ids("--project", project["id"]) == [c["id"], a["id"]]
    cli.json("inbox", "close", a["id"], "--resolver", "bob")
    assert ids("--status", "open") == [c["id"], b["id"]]
    assert ids("--status", "closed") == [a["id"]]
    assert ids("--type", "await_user_input") == []
    page = cli.json("inbox", "list", "--limit", "2")
    assert [x["id"] for x in page["items"]] == [c["id"], b["id"]]
    assert ids("--limit", "2", "--page-token", page["next_page_token"]) == [a["id"]]
    closed = cli.json("inbox", "get", a["id"])["item"]
    assert closed["resolver"] == "bob" and int(closed["resolved_at_ms"]) > 0 and closed["version"] == "2"
    expect_error(cli, "NOT_FOUND", "INBOX_ITEM_NOT_FOUND", "inbox", "get", "404")
    err = expect_error(cli, "INVALID_ARGUMENT", "VALIDATION_ERROR", "inbox", "note", "--title", "t" * 161,
                       "--content", "")
    assert violation_fields(err) == ["title"]


def test_closing_await_user_input_needs_input_and_hands_it_to_a_new_run(project, cli, db_path):
    agent = make_agent(cli)
    task = set_status(cli, make_task(cli, "asks", "--assignee", agent["id"])["id"], "running")
    item = cli.json("tool", "request-input", task["id"], "--key", "q", "--title", "Which port?",
                    "--content", "7420?")["item"]
    expect_error(cli, "INVALID_ARGUMENT", "USER_INPUT_REQUIRED", "inbox", "close", item["id"])
    r = cli.json("inbox", "close", item["id"], "--input", "use 7430", "--resolver", "carol")
    assert r["item"]["status"] == "INBOX_STATUS_CLOSED" and r["item"]["user_input"] == "use 7430"
    assert r["item"]["resolver"] == "carol"
    assert r["task"]["status"] == "TASK_STATUS_RUNNING"
    run = r["run"]
    assert run["run_status"] == "RUN_STATUS_QUEUED" and run["task_id"] == task["id"]
    assert "use 7430" in run["prompt"] and run["provider"] == "echo"
    submitted = events(db_path, "user.input.submitted", task["id"])
    assert [e.user_input_submitted.user_input for _, _, _, e in submitted] == ["use 7430"]
    assert len(events(db_path, "inbox.item.closed", task["id"])) == 1
    expect_error(cli, "FAILED_PRECONDITION", "INBOX_ITEM_ALREADY_CLOSED", "inbox", "close", item["id"], "--input",
                 "again")


def test_closing_task_completed_moves_review_to_done(project, cli, db_path):
    task = set_status(cli, make_task(cli)["id"], "running", "review")
    # The runtime raises this item when a run succeeds; here it is written directly.
    sql(db_path, "INSERT INTO inbox_items (project_id, source_type, source_id, item_type, title, created_at) "
                 "VALUES (?, 'task', ?, 'task_completed', 'review me', 1)", int(project["id"]), int(task["id"]))
    item = cli.json("inbox", "list", "--type", "task_completed")["items"][0]
    r = cli.json("inbox", "close", item["id"])
    assert r["item"]["resolver"] == "operator"
    assert r["task"]["status"] == "TASK_STATUS_DONE"
    assert cli.json("task", "get", task["id"])["task"]["status"] == "TASK_STATUS_DONE"


# ---- LogService

def test_logs_append_and_query_by_run_task_project_and_level_newest_first(project, cli, db_path):
    t1, t2 = make_task(cli, "one"), make_task(cli, "two")
    r1 = cli.json("task", "run", t1["id"], "--prompt", "p", "--provider", "echo")["run"]
    r2 = cli.json("task", "run", t2["id"], "--prompt", "p", "--provider", "echo")["run"]
    line = cli.json("logs", "append", "--run", r1["id"], "--level", "warning", "--source", "agent",
                    "disk almost full, api_key=sk-abcdefghijklmnopqrstu")["line"]
    assert (line["run_id"], line["task_id"], line["project_id"]) == (r1["id"], t1["id"], project["id"])
    assert line["level"] == "LOG_LEVEL_WARNING" and line["source"] == "agent"
    assert "sk-abcdefghijklmnopqrstu" not in line["message"] and "disk almost full" in line["message"]
    cli.json("logs", "append", "--run", r1["id"], "debug detail")
    cli.json("logs", "append", "--run", r2["id"], "--level", "error", "boom")

    def messages(*args):
        return [x["message"] for x in cli.json("logs", *args).get("lines", [])]

    assert messages() == ["boom", "debug detail", line["message"]]
    assert messages("--run", r1["id"]) == ["debug detail", line["message"]]
    assert messages("--task", t2["id"]) == ["boom"]
    assert messages("--project", project["id"], "--level", "warning") == ["boom", line["message"]]
    assert messages("--level", "error") == ["boom"]
    page = cli.json("logs", "--limit", "2")
    assert len(page["lines"]) == 2
    assert messages("--limit", "2", "--page-token", page["next_page_token"]) == [line["message"]]
    run_logs = events(db_path, "run.log", t1["id"])
    assert [e.run_log.message for _, _, _, e in run_logs] == [line["message"], "debug detail"]
    assert int(line["event_id"]) > 0


def test_logs_refuse_unknown_runs_bad_limits_and_missing_arguments(project, cli):
    expect_error(cli, "NOT_FOUND", "TASK_RUN_NOT_FOUND", "logs", "append", "--run", "31", "hello")
    err = expect_error(cli, "INVALID_ARGUMENT", "VALIDATION_ERROR", "logs", "--limit", "201")
    assert violation_fields(err) == ["limit"]
    rc, _, err = cli("logs", "append", "no run given")
    assert rc == 2 and "USAGE" in err
    rc, _, _ = cli("logs", "--level", "loud")
    assert rc == 2


# ---- MetricsService

def test_runs_summary_counts_runs_by_status_in_the_window(project, other_project, cli, db_path):
    a, b = make_task(cli, "a"), make_task(cli, "b")
    cli.json("task", "run", a["id"], "--prompt", "p", "--provider", "echo")
    cli.json("task", "run", b["id"], "--prompt", "p", "--provider", "echo")
    cli.json("task", "cancel", b["id"])
    s = cli.json("metrics", "runs-summary", "--project", project["id"])
    assert s["total"] == "2"
    counts = {x["status"]: x.get("count", "0") for x in s["by_status"]}
    assert counts["RUN_STATUS_QUEUED"] == "1" and counts["RUN_STATUS_CANCELLED"] == "1"
    assert len(counts) == 7
    assert "ended" not in s  # nothing started, so no durations
    assert "total" not in cli.json("metrics", "runs-summary", "--project", other_project["id"])
    assert "total" not in cli.json("metrics", "runs-summary", "--from", "2000-01-01T00:00:00Z",
                                   "--to", "2000-01-02T00:00:00Z")
    err = expect_error(cli, "INVALID_ARGUMENT", "VALIDATION_ERROR", "metrics", "runs-summary",
                       "--from", "2030-01-02T00:00:00Z", "--to", "2030-01-01T00:00:00Z")
    assert violation_fields(err) == ["to_ms"]


def test_usage_daily_filters_by_provider_model_and_dates_newest_first(project, cli, db_path):
    for row in (("openai", "gpt-4o", "2026-11-01", 3), ("openai", "gpt-4o", "2026-11-02", 5),
                ("anthropic", "claude", "2026-11-02", 7), ("openai", "mini", "2026-11-03", 1)):
        sql(db_path, "INSERT INTO api_usage_daily (provider, model_name, date, request_count, token_in, token_out, "
            "cost_usd_micros) VALUES (?, ?, ?, ?, 100, 50, 1234)", *row)
    days = cli.json("metrics", "usage-daily")["days"]
    assert [(d["date"], d["provider"], d["model_name"]) for d in days] == [
        ("2026-11-03", "openai", "mini"), ("2026-11-02", "anthropic", "claude"), ("2026-11-02", "openai", "gpt-4o"),
        ("2026-11-01", "openai", "gpt-4o")]
    assert days[1]["request_count"] == "7" and days[1]["cost_usd_micros"] == "1234"
    got = cli.json("metrics", "usage-daily", "--provider", "openai", "--model", "gpt-4o", "--from", "2026-11-02",
                   "--to", "2026-11-02")["days"]
    assert [(d["date"], d["request_count"]) for d in got] == [("2026-11-02", "5")]
    err = expect_error(cli, "INVALID_ARGUMENT", "VALIDATION_ERROR", "metrics", "usage-daily", "--from",
                       "2026-13-01", "--provider", "gemini")
    assert sorted(violation_fields(err)) == ["from_date", "provider"]
