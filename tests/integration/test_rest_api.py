"""The original backend's REST routes (docs/protocol.md, "The original REST
routes") over real HTTP against the real server: one test or more per row of
the original's table, with its status codes, field names, error envelope,
query parameters and defaults."""

import http.client
import itertools
import json

import pytest

from conftest import Server, free_port
from runtime_fixtures import fake_llm, rt, start_runtime  # noqa: F401 (fixtures)

KEY = "rest-test-key-0123456789"
_names = itertools.count(1)


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    """One server for the module; every test makes its own project."""
    tmp = tmp_path_factory.mktemp("rest")
    s = Server(tmp / "rest.db", f"tcp://127.0.0.1:{free_port()}").start()
    s.tmp = tmp
    yield s
    assert s.stop() == 0, s.log()


def req(srv, method, path, body=None, headers=None, raw=None):
    """One request; returns (status, headers with lower-case names, JSON body or None)."""
    c = http.client.HTTPConnection("127.0.0.1", srv.http_port, timeout=30)
    try:
        data = raw if raw is not None else (json.dumps(body) if body is not None else None)
        h = dict(headers or {})
        if data is not None:
            h.setdefault("Content-Type", "application/json")
        c.request(method, path, body=data, headers=h)
        r = c.getresponse()
        text = r.read()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, json.loads(text) if text else None
    finally:
        c.close()


def ok(srv, method, path, body=None, status=200):
    got, _, data = req(srv, method, path, body)
    assert got == status, (got, data)
    return data


def refused(srv, method, path, body=None, status=422, code="VALIDATION_ERROR", field=None, raw=None, headers=None):
    got, _, data = req(srv, method, path, body, raw=raw, headers=headers)
    assert got == status, (got, data)
    assert data["error"]["code"] == code, data
    assert isinstance(data["error"]["message"], str)
    if field is not None:
        assert field in [i["field"] for i in data["error"]["issues"]], data
    return data


def project(srv):
    root = srv.tmp / f"root{next(_names)}"
    root.mkdir()
    return ok(srv, "POST", "/api/v1/projects", {"name": root.name, "root_path": str(root)}, 201)


def agent(srv, pid, **kw):
    body = {"project_id": pid, "name": f"a{next(_names)}", "role": "coder", "model_provider": "echo",
            "model_name": "echo", **kw}
    return ok(srv, "POST", "/api/v1/agents", body, 201)


def task(srv, pid, **kw):
    return ok(srv, "POST", "/api/v1/tasks", {"project_id": pid, "title": f"t{next(_names)}", **kw}, 201)


# ---- projects (the routes the original lacked)


def test_projects_create_get_and_list(srv):
    p = project(srv)
    assert p["id"] >= 1 and p["version"] == 1 and p["created_at"].endswith("Z")
    assert ok(srv, "GET", f"/api/v1/projects/{p['id']}")["name"] == p["name"]
    assert p["id"] in [x["id"] for x in ok(srv, "GET", "/api/v1/projects?limit=100")]
    refused(srv, "GET", "/api/v1/projects/999999", status=404, code="PROJECT_NOT_FOUND")
    refused(srv, "POST", "/api/v1/projects", {"root_path": "/tmp"}, field="body.name")


# ---- agents


def test_agent_create_has_the_original_fields_and_defaults(srv):
    pid = project(srv)["id"]
    a = agent(srv, pid, initial_persona_prompt="be brief")
    for f in ("id", "project_id", "name", "role", "model_provider", "model_name", "initial_persona_prompt",
              "enabled_tools_json", "status", "created_at", "updated_at", "version"):
        assert f in a, f
    assert a["status"] == "active" and a["enabled_tools_json"] == [] and a["initial_persona_prompt"] == "be brief"
    assert ok(srv, "GET", f"/api/v1/agents/{a['id']}")["name"] == a["name"]


def test_agent_create_refusals(srv):
    pid = project(srv)["id"]
    refused(srv, "POST", "/api/v1/agents", {"project_id": 999999, "name": "x", "role": "r",
                                            "model_provider": "echo", "model_name": "echo"},
            status=404, code="PROJECT_NOT_FOUND")
    a = agent(srv, pid)
    refused(srv, "POST", "/api/v1/agents", {"project_id": pid, "name": a["name"], "role": "r",
                                            "model_provider": "echo", "model_name": "echo"},
            status=409, code="RESOURCE_CONFLICT")
    refused(srv, "POST", "/api/v1/agents", {"project_id": pid, "name": "x" * 121, "role": "r",
                                            "model_provider": "echo", "model_name": "echo"}, field="body.name")
    refused(srv, "POST", "/api/v1/agents", {"name": "x", "role": "r", "model_provider": "echo",
                                            "model_name": "echo"}, field="body.project_id")
    refused(srv, "POST", "/api/v1/agents", raw="{not json", field="body.0")


def test_agent_list_filters_orders_by_id_and_pages_with_offset(srv):
    pid = project(srv)["id"]
    ids = [agent(srv, pid)["id"] for _ in range(3)]
    ok(srv, "PATCH", f"/api/v1/agents/{ids[1]}", {"status": "inactive"})
    assert [a["id"] for a in ok(srv, "GET", f"/api/v1/agents?project_id={pid}")] == ids
    assert [a["id"] for a in ok(srv, "GET", f"/api/v1/agents?project_id={pid}&status=active")] == [ids[0], ids[2]]
    assert [a["id"] for a in ok(srv, "GET", f"/api/v1/agents?project_id={pid}&limit=1&offset=1")] == [ids[1]]
    refused(srv, "GET", "/api/v1/agents?limit=0", field="query.limit")
    refused(srv, "GET", "/api/v1/agents?limit=101", field="query.limit")
    refused(srv, "GET", "/api/v1/agents?offset=-1", field="query.offset")
    refused(srv, "GET", "/api/v1/agents?status=sleeping", field="query.status")


def test_agent_patch_changes_given_fields_only(srv):
    pid = project(srv)["id"]
    a = agent(srv, pid)
    b = ok(srv, "PATCH", f"/api/v1/agents/{a['id']}", {"role": "reviewer"})
    assert b["role"] == "reviewer" and b["name"] == a["name"] and b["version"] == a["version"] + 1
    refused(srv, "PATCH", f"/api/v1/agents/{a['id']}", {})
    refused(srv, "PATCH", "/api/v1/agents/999999", {"role": "x"}, status=404, code="AGENT_NOT_FOUND")


def test_agent_delete_is_204_with_no_body_and_unassigns_its_tasks(srv):
    pid = project(srv)["id"]
    a = agent(srv, pid)
    t = task(srv, pid, assignee_agent_id=a["id"])
    status, _, body = req(srv, "DELETE", f"/api/v1/agents/{a['id']}")
    assert status == 204 and body is None
    assert ok(srv, "GET", f"/api/v1/tasks/{t['id']}")["assignee_agent_id"] is None
    refused(srv, "GET", f"/api/v1/agents/{a['id']}", status=404, code="AGENT_NOT_FOUND")
    refused(srv, "DELETE", f"/api/v1/agents/{a['id']}", status=404, code="AGENT_NOT_FOUND")


# ---- tasks


def test_task_create_defaults_and_fields(srv):
    pid = project(srv)["id"]
    t = task(srv, pid, due_at="2026-12-01T23:14:26.165437")
    assert t["status"] == "todo" and t["priority"] == 3 and t["version"] == 1
    assert t["assignee_agent_id"] is None and t["parent_task_id"] is None
    assert t["due_at"] == "2026-12-01T23:14:26.165Z"
    assert ok(srv, "GET", f"/api/v1/tasks/{t['id']}")["title"] == t["title"]
    refused(srv, "GET", "/api/v1/tasks/999999", status=404, code="TASK_NOT_FOUND")
    refused(srv, "GET", "/api/v1/tasks/abc", field="path.task_id")


def test_task_create_refusals_in_the_original_order(srv):
    pid = project(srv)["id"]
    refused(srv, "POST", "/api/v1/tasks", {"project_id": 999999, "title": "x"}, status=404,
            code="PROJECT_NOT_FOUND")
    refused(srv, "POST", "/api/v1/tasks", {"project_id": pid, "title": "x", "assignee_agent_id": 999999},
            code="INVALID_ASSIGNEE")
    refused(srv, "POST", "/api/v1/tasks", {"project_id": pid, "title": "x", "parent_task_id": 999999},
            code="INVALID_TASK_DEPENDENCY")
    refused(srv, "POST", "/api/v1/tasks", {"project_id": pid, "title": "x", "status": "running"},
            code="INVALID_TASK_TRANSITION")
    refused(srv, "POST", "/api/v1/tasks", {"project_id": pid, "title": "x" * 161}, field="body.title")
    refused(srv, "POST", "/api/v1/tasks", {"project_id": pid, "title": "x", "priority": 6}, field="body.priority")
    refused(srv, "POST", "/api/v1/tasks", {"project_id": pid}, field="body.title")


def test_task_list_filters_and_pages(srv):
    pid = project(srv)["id"]
    a = agent(srv, pid)
    ids = [task(srv, pid)["id"] for _ in range(3)]
    mine = task(srv, pid, assignee_agent_id=a["id"])["id"]
    assert [t["id"] for t in ok(srv, "GET", f"/api/v1/tasks?project_id={pid}")] == ids + [mine]
    assert [t["id"] for t in ok(srv, "GET", f"/api/v1/tasks?project_id={pid}&assignee_agent_id={a['id']}")] == [mine]
    assert [t["id"] for t in ok(srv, "GET", f"/api/v1/tasks?project_id={pid}&offset=2&limit=1")] == [ids[2]]
    assert ok(srv, "GET", f"/api/v1/tasks?project_id={pid}&status=done") == []
    refused(srv, "GET", "/api/v1/tasks?limit=abc", field="query.limit")


def test_task_patch_raises_version_and_refuses_bad_transitions(srv):
    pid = project(srv)["id"]
    t = task(srv, pid)
    u = ok(srv, "PATCH", f"/api/v1/tasks/{t['id']}", {"title": "renamed", "priority": 1})
    assert u["title"] == "renamed" and u["priority"] == 1 and u["version"] == 2
    refused(srv, "PATCH", f"/api/v1/tasks/{t['id']}", {"status": "done"}, code="INVALID_TASK_TRANSITION")
    refused(srv, "PATCH", f"/api/v1/tasks/{t['id']}", {"assignee_agent_id": 999999}, code="INVALID_ASSIGNEE")
    refused(srv, "PATCH", f"/api/v1/tasks/{t['id']}", {"parent_task_id": t["id"]}, code="INVALID_TASK_DEPENDENCY")
    refused(srv, "PATCH", f"/api/v1/tasks/{t['id']}", {"parent_task_id": 999999}, code="INVALID_TASK_DEPENDENCY")
    child = task(srv, pid, parent_task_id=t["id"])
    refused(srv, "PATCH", f"/api/v1/tasks/{t['id']}", {"parent_task_id": child["id"]},
            code="INVALID_TASK_DEPENDENCY")
    other = task(srv, pid)
    moved = ok(srv, "PATCH", f"/api/v1/tasks/{child['id']}", {"parent_task_id": other["id"]})
    assert moved["parent_task_id"] == other["id"]
    assert ok(srv, "PATCH", f"/api/v1/tasks/{child['id']}", {"parent_task_id": None})["parent_task_id"] is None
    refused(srv, "PATCH", f"/api/v1/tasks/{t['id']}", {})
    refused(srv, "PATCH", "/api/v1/tasks/999999", {"title": "x"}, status=404, code="TASK_NOT_FOUND")


def test_task_patch_takes_expected_version_and_actor_as_inputs_not_changes(srv):
    t = task(srv, project(srv)["id"])
    u = ok(srv, "PATCH", f"/api/v1/tasks/{t['id']}", {"title": "v2", "expected_version": 1, "actor": "bob"})
    assert u["title"] == "v2" and u["version"] == 2
    refused(srv, "PATCH", f"/api/v1/tasks/{t['id']}", {"title": "v3", "expected_version": 1},
            status=409, code="TASK_VERSION_CONFLICT")
    # Neither names a field to change.
    refused(srv, "PATCH", f"/api/v1/tasks/{t['id']}", {"expected_version": 2, "actor": "bob"}, field="body")


def test_task_delete_is_204_and_refused_while_it_has_children(srv):
    pid = project(srv)["id"]
    parent = task(srv, pid)
    child = task(srv, pid, parent_task_id=parent["id"])
    refused(srv, "DELETE", f"/api/v1/tasks/{parent['id']}", status=409, code="TASK_HAS_DEPENDENTS")
    status, _, body = req(srv, "DELETE", f"/api/v1/tasks/{child['id']}")
    assert status == 204 and body is None
    refused(srv, "DELETE", f"/api/v1/tasks/{child['id']}", status=404, code="TASK_NOT_FOUND")


def test_task_commands_need_a_body_and_follow_the_state_machine(srv):
    pid = project(srv)["id"]
    t = task(srv, pid)
    refused(srv, "POST", f"/api/v1/tasks/{t['id']}/cancel", field="body")
    c = ok(srv, "POST", f"/api/v1/tasks/{t['id']}/cancel", {"actor": "ops"})
    assert c["status"] == "cancelled" and c["version"] == 2
    refused(srv, "POST", f"/api/v1/tasks/{t['id']}/pause", {}, code="INVALID_TASK_TRANSITION")
    refused(srv, "POST", f"/api/v1/tasks/{t['id']}/retry", {"expected_version": 1}, status=409,
            code="TASK_VERSION_CONFLICT")
    assert ok(srv, "POST", f"/api/v1/tasks/{t['id']}/retry", {"expected_version": 2})["status"] == "todo"
    refused(srv, "POST", "/api/v1/tasks/999999/resume", {}, status=404, code="TASK_NOT_FOUND")


def test_broadcast_defaults_to_running_tasks_and_reports_each_item(srv):
    pid = project(srv)["id"]
    a = agent(srv, pid)
    running = task(srv, pid, assignee_agent_id=a["id"])
    ok(srv, "PATCH", f"/api/v1/tasks/{running['id']}", {"status": "running"})
    idle = task(srv, pid)
    b = ok(srv, "POST", "/api/v1/tasks/broadcast/pause", {"project_id": pid})
    assert b["command"] == "pause" and b["project_id"] == pid and b["status_filter"] == "running"
    assert b["total_targets"] == 1 and b["applied_count"] == 1 and b["failed_count"] == 0
    (item,) = b["items"]
    assert item["task_id"] == running["id"] and item["outcome"] == "applied"
    assert item["previous_status"] == "running" and item["status"] == "blocked" and item["version"] == 3
    b = ok(srv, "POST", "/api/v1/tasks/broadcast/resume", {"project_id": pid, "task_ids": [running["id"], idle["id"]]})
    assert b["status_filter"] is None and b["applied_count"] == 1 and b["failed_count"] == 1
    assert [i["outcome"] for i in b["items"]] == ["applied", "rejected"]
    assert b["items"][1]["error_code"] == "INVALID_TASK_TRANSITION"
    refused(srv, "POST", "/api/v1/tasks/broadcast/pause", {"project_id": 999999}, status=404,
            code="PROJECT_NOT_FOUND")
    refused(srv, "POST", "/api/v1/tasks/broadcast/explode", {"project_id": pid}, field="path.command")
    refused(srv, "POST", "/api/v1/tasks/broadcast/pause", {"project_id": pid, "task_ids": list(range(1, 202))})


def test_run_answers_200_with_the_final_run_and_the_same_key_gives_the_same_run(srv):
    pid = project(srv)["id"]
    a = agent(srv, pid)
    t = task(srv, pid, assignee_agent_id=a["id"])
    r = ok(srv, "POST", f"/api/v1/tasks/{t['id']}/run", {"prompt": "hi", "idempotency_key": "k-1"})
    for f in ("id", "task_id", "agent_id", "run_status", "attempt", "idempotency_key", "started_at", "ended_at",
              "next_retry_at", "error_code", "error_message", "token_in", "token_out", "cost_usd", "version"):
        assert f in r, f
    assert r["run_status"] == "succeeded" and r["task_id"] == t["id"] and isinstance(r["cost_usd"], str)
    again = ok(srv, "POST", f"/api/v1/tasks/{t['id']}/run", {"prompt": "hi", "idempotency_key": "k-1"})
    assert again["id"] == r["id"]
    refused(srv, "POST", "/api/v1/tasks/999999/run", {"prompt": "hi"}, status=404, code="TASK_NOT_FOUND")
    unassigned = task(srv, pid)
    refused(srv, "POST", f"/api/v1/tasks/{unassigned['id']}/run", {"prompt": "hi"}, code="INVALID_ASSIGNEE")
    refused(srv, "POST", f"/api/v1/tasks/{t['id']}/run", {"prompt": "hi", "provider": "nope"},
            code="INVALID_LLM_PROVIDER")


def test_run_with_a_failing_provider_is_200_with_the_failure_in_the_run(rt):
    rt.fake.mode(status=503)
    t = rt.task()
    r = ok(rt.server, "POST", f"/api/v1/tasks/{t}/run", {"prompt": "hi", "timeout_seconds": 2})
    assert r["run_status"] in ("retry_scheduled", "failed"), r
    assert r["error_code"] == "LLM_PROVIDER_UNAVAILABLE", r


# ---- tools


def test_tools_report_the_task_and_replay_a_key(srv):
    pid = project(srv)["id"]
    t = task(srv, pid)
    ok(srv, "PATCH", f"/api/v1/tasks/{t['id']}", {"status": "running"})
    body = {"task_id": t["id"], "idempotency_key": "ask-1", "title": "which db?", "content": "sqlite or pg?"}
    r = ok(srv, "POST", "/api/v1/tools/request_input", body)
    assert r["tool"] == "request_input" and r["task_id"] == t["id"] and r["task_status"] == "blocked"
    assert r["idempotency_key"] == "ask-1" and r["idempotency_hit"] is False and r["inbox_item_id"] >= 1
    again = ok(srv, "POST", "/api/v1/tools/request_input", body)
    assert again["idempotency_hit"] is True and again["task_version"] == r["task_version"]
    b = ok(srv, "POST", "/api/v1/tools/block_task", {"task_id": t["id"], "idempotency_key": "b-1", "reason": "x"})
    assert b["tool"] == "block_task" and b["inbox_item_id"] is None
    refused(srv, "POST", "/api/v1/tools/finish_task", {"task_id": 999999, "idempotency_key": "f-1"}, status=404,
            code="TASK_NOT_FOUND")
    refused(srv, "POST", "/api/v1/tools/finish_task", {"task_id": t["id"], "idempotency_key": "f-2"},
            code="INVALID_TASK_TRANSITION")


# ---- inbox


def test_inbox_close_needs_input_for_a_question_and_refuses_twice(srv):
    pid = project(srv)["id"]
    t = task(srv, pid)
    ok(srv, "PATCH", f"/api/v1/tasks/{t['id']}", {"status": "running"})
    item_id = ok(srv, "POST", "/api/v1/tools/request_input",
                 {"task_id": t["id"], "idempotency_key": "q", "title": "q?", "content": "c"})["inbox_item_id"]
    items = ok(srv, "GET", f"/api/v1/inbox?project_id={pid}&status=open&item_type=await_user_input")
    assert [i["id"] for i in items] == [item_id]
    refused(srv, "POST", f"/api/v1/inbox/{item_id}/close", {}, code="USER_INPUT_REQUIRED")
    closed = ok(srv, "POST", f"/api/v1/inbox/{item_id}/close", {"user_input": "sqlite"})
    assert closed["status"] == "closed" and closed["resolver"] == "user" and closed["version"] == 2
    refused(srv, "POST", f"/api/v1/inbox/{item_id}/close", {"user_input": "x"}, status=409,
            code="INBOX_ITEM_ALREADY_CLOSED")
    refused(srv, "POST", "/api/v1/inbox/999999/close", {}, status=404, code="INBOX_ITEM_NOT_FOUND")
    refused(srv, "GET", "/api/v1/inbox?status=maybe", field="query.status")


def test_inbox_lists_newest_first_with_offset(srv):
    pid = project(srv)["id"]
    ids = []
    for k in range(3):
        t = task(srv, pid)
        ok(srv, "PATCH", f"/api/v1/tasks/{t['id']}", {"status": "running"})
        ids.append(ok(srv, "POST", "/api/v1/tools/request_input",
                      {"task_id": t["id"], "idempotency_key": f"n{k}", "title": "q", "content": "c"})["inbox_item_id"])
    assert [i["id"] for i in ok(srv, "GET", f"/api/v1/inbox?project_id={pid}")] == ids[::-1]
    assert [i["id"] for i in ok(srv, "GET", f"/api/v1/inbox?project_id={pid}&offset=1&limit=1")] == [ids[1]]


# ---- logs and metrics


def test_logs_newest_first_with_level_and_offset(srv):
    pid = project(srv)["id"]
    a = agent(srv, pid)
    t = task(srv, pid, assignee_agent_id=a["id"])
    run = ok(srv, "POST", f"/api/v1/tasks/{t['id']}/run", {"prompt": "hi"})
    for k, level in enumerate(("LOG_LEVEL_INFO", "LOG_LEVEL_WARNING", "LOG_LEVEL_INFO")):
        status, _, body = req(srv, "POST", "/beebeebrain.v1.LogService/AppendLog",
                              {"run_id": run["id"], "level": level, "message": f"line {k}"})
        assert status == 200, body
    lines = ok(srv, "GET", f"/api/v1/logs?run_id={run['id']}")
    assert [x["message"] for x in lines[:3]] == ["line 2", "line 1", "line 0"]
    for f in ("id", "project_id", "run_id", "task_id", "level", "message", "sequence", "trace_id", "created_at"):
        assert f in lines[0], f
    assert [x["id"] for x in lines] == sorted((x["id"] for x in lines), reverse=True)
    assert [x["id"] for x in ok(srv, "GET", f"/api/v1/logs?run_id={run['id']}&offset=1")] == [x["id"] for x in lines[1:]]
    assert [x["message"] for x in ok(srv, "GET", f"/api/v1/logs?run_id={run['id']}&level=warning")] == ["line 1"]
    refused(srv, "GET", "/api/v1/logs?limit=201", field="query.limit")
    refused(srv, "GET", "/api/v1/logs?level=loud", field="query.level")


def test_metrics_shapes(srv):
    pid = project(srv)["id"]
    a = agent(srv, pid)
    t = task(srv, pid, assignee_agent_id=a["id"])
    ok(srv, "POST", f"/api/v1/tasks/{t['id']}/run", {"prompt": "hi"})
    s = ok(srv, "GET", f"/api/v1/metrics/runs-summary?project_id={pid}")
    assert s["total_runs"] == 1 and s["succeeded_runs"] == 1
    for st in ("queued", "running", "retry_scheduled", "interrupted", "failed", "cancelled"):
        assert s[f"{st}_runs"] == 0
    for f in ("total_token_in", "total_token_out", "avg_duration_seconds", "max_duration_seconds"):
        assert f in s, f
    assert isinstance(s["total_cost_usd"], str)
    later = ok(srv, "GET", f"/api/v1/metrics/runs-summary?project_id={pid}&started_from=2999-01-01T00:00:00")
    assert later["total_runs"] == 0
    refused(srv, "GET", "/api/v1/metrics/runs-summary?started_from=yesterday", field="query.started_from")
    days = ok(srv, "GET", "/api/v1/metrics/usage-daily?provider=echo")
    assert days and set(days[0]) >= {"provider", "model_name", "date", "request_count", "token_in", "token_out",
                                     "cost_usd"}
    assert isinstance(days[0]["cost_usd"], str)
    assert ok(srv, "GET", "/api/v1/metrics/usage-daily?limit=365") is not None
    refused(srv, "GET", "/api/v1/metrics/usage-daily?limit=366", field="query.limit")


# ---- the HTTP edges


def test_unknown_route_and_wrong_method(srv):
    status, _, body = req(srv, "GET", "/api/v1/nothing")
    assert status == 404 and body == {"detail": "Not Found"}
    status, h, body = req(srv, "PUT", "/api/v1/tasks")
    assert status == 405 and body == {"detail": "Method Not Allowed"}
    assert set(h["allow"].split(", ")) == {"GET", "POST"}


def test_trace_id_is_echoed_and_the_bodys_goes_to_the_events(srv):
    pid = project(srv)["id"]
    status, h, t = req(srv, "POST", f"/api/v1/tasks/{task(srv, pid)['id']}/cancel", {"trace_id": "body-trace-1"},
                       headers={"X-Trace-ID": "hdr-trace-1"})
    assert status == 200 and h["x-trace-id"] == "hdr-trace-1"
    status, _, replay = req(srv, "POST", "/beebeebrain.v1.EventService/Replay", {"last_n": 20, "project_id": pid})
    assert status == 200, replay
    assert "body-trace-1" in [e.get("trace_id") for e in replay["events"]]
    status, h, _ = req(srv, "GET", "/api/v1/tasks/999999")
    assert status == 404 and h["x-trace-id"].startswith("trace-http-")


def test_a_key_is_required_when_set(tmp_path):
    s = Server(tmp_path / "k.db", f"tcp://127.0.0.1:{free_port()}", env={"BEEBEEBRAIN_API_KEY": KEY}).start()
    try:
        status, _, body = req(s, "GET", "/api/v1/tasks")
        assert status == 401 and body["error"]["code"] == "UNAUTHORIZED"
        status, _, body = req(s, "POST", "/api/v1/tasks", raw="{bad")
        assert status == 401, "the key is checked before the body"
        assert req(s, "GET", "/api/v1/tasks", headers={"Authorization": f"Bearer {KEY}"})[0] == 200
        assert req(s, "GET", "/api/v1/tasks", headers={"X-API-Key": KEY})[0] == 200
    finally:
        assert s.stop() == 0


def test_a_body_over_the_limit_gets_the_original_envelope(srv):
    c = http.client.HTTPConnection("127.0.0.1", srv.http_port, timeout=30)
    try:
        c.putrequest("POST", "/api/v1/tasks")
        c.putheader("Content-Type", "application/json")
        c.putheader("Content-Length", str(5 << 20))
        c.endheaders()
        r = c.getresponse()
        data = json.loads(r.read())
        assert r.status == 413
        assert data["error"]["code"] == "MESSAGE_TOO_LARGE" and data["error"]["issues"] == [], data
    finally:
        c.close()
