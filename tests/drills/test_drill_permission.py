"""Drill: a workspace permission failure (docs/runbook.md, section 3.3).

An agent's write in the project's root is denied: as root (the CI) with an
injected EACCES (`beebeebrain admin inject-fault file_permission`), as
anyone else by taking the write bit off the directory. The run fails
WORKSPACE_PERMISSION_DENIED and the task is blocked with an await_user_input
item naming the path; `triage` shows it. The operator follows the runbook:
finds the item and the path, fixes the permission (`admin clear-faults` or
chmod back), closes the item with input; the task resumes, its new run writes
the file and succeeds, and nothing is left awaiting input."""

import os
import stat

import pytest

from drill_fixtures import RUNTIME_ENV, FakeLlm, Operator, Server, free_port, open_alerts, scene, wait_until

RUN_TIMEOUT_S = 30


@pytest.fixture
def fake_llm():
    fake = FakeLlm()
    yield fake
    fake.stop()


def write_step(path):
    return {"tool_calls": [{"name": "write_file", "arguments": {"path": path, "content": "written after the fix"}}]}


def test_permission_drill_blocked_task_resumes_after_the_fix_and_the_item_is_closed(tmp_path, fake_llm):
    env = {**RUNTIME_ENV, "ANTHROPIC_BASE_URL": fake_llm.url, "OPENAI_BASE_URL": fake_llm.url + "/v1"}
    srv = Server(tmp_path / "bbb.db", f"tcp://127.0.0.1:{free_port()}", extra_args=["--enable-fault-injection"],
                 env=env).start()
    try:
        op = Operator(srv.url, tmp_path)
        root = tmp_path / "workspace"
        root.mkdir()
        # Setting up the team (not the runbook): project "default", one agent on the fake.
        project_id = int(scene(op, "project", "create", "default", "--root", root)["project"]["id"])
        agent_id = int(scene(op, "agent", "create", "--name", "coder", "--role", "coder", "--provider",
                                "anthropic", "--model", "claude-sonnet-4-5")["agent"]["id"])
        task_id = int(scene(op, "task", "create", "--title", "write out.txt", "--assignee",
                               agent_id)["task"]["id"])

        # The fault: as root only an injected EACCES denies a write; otherwise the directory's mode does.
        as_root = os.geteuid() == 0
        if as_root:
            rc, out, err = op.type("beebeebrain admin inject-fault file_permission")
            assert rc == 0, out + err
        else:
            os.chmod(root, stat.S_IRUSR | stat.S_IXUSR)
        fake_llm.script([write_step("out.txt")])
        run_id = int(scene(op, "task", "run", task_id, "--prompt", "write out.txt")["run"]["id"])

        run = wait_until(lambda: (lambda r: r if r.get("run_status") == "RUN_STATUS_FAILED" else None)(
            scene(op, "run", "get", run_id)["run"]), RUN_TIMEOUT_S, "the run to fail")
        assert run["error_code"] == "WORKSPACE_PERMISSION_DENIED", run
        assert not (root / "out.txt").exists()

        # Symptoms, as the runbook lists them.
        triage = op.json("beebeebrain triage", rcs=(0, 4))
        assert int(triage["workspace"]["permission_failures_last_60m"]) >= 1, triage["workspace"]
        assert project_id in [int(p) for p in triage["workspace"].get("project_ids", [])]
        assert [int(i["source_id"]) for i in triage.get("awaiting_input", [])] == [task_id]
        assert any(f["area"] == "workspace" for f in triage["findings"]), triage["findings"]

        # 1. Find the item, the path and the project's root.
        items = op.json("beebeebrain inbox list --status open --type await_user_input")["items"]
        [item] = [i for i in items if int(i["source_id"]) == task_id]
        detail = op.json("beebeebrain inbox get ITEM_ID", ITEM_ID=item["id"])["item"]
        assert "out.txt" in detail["content"], detail
        [alert] = open_alerts(op, "WORKSPACE_PERMISSION_DENIED")
        assert int(alert["task_id"]) == task_id and "out.txt" in alert["message"], alert
        project = op.json("beebeebrain project get PROJECT_ID", PROJECT_ID=project_id)["project"]
        assert project["root_path"] == str(root)
        assert scene(op, "task", "get", task_id)["task"]["status"] == "TASK_STATUS_BLOCKED"

        # 2./3. Fix it: clear the injected fault, or give the write bit back.
        if as_root:
            rc, out, err = op.type("beebeebrain admin clear-faults")
            assert rc == 0, out + err
        else:
            os.chmod(root, stat.S_IRWXU)

        # 4. Close the item with what was done: the task resumes with a new run, which writes.
        fake_llm.script([write_step("out.txt"),
                         {"tool_calls": [{"name": "finish_task", "arguments": {"summary": "written"}}]}])
        rc, out, err = op.type('beebeebrain inbox close ITEM_ID --input "fixed: the workspace is writable again"',
                               ITEM_ID=item["id"])
        assert rc == 0, out + err

        def succeeded_run():
            runs = op.json("beebeebrain run list --task TASK_ID", TASK_ID=task_id).get("runs", [])
            done = [r for r in runs if r["run_status"] == "RUN_STATUS_SUCCEEDED"]
            return done[0] if done else None

        new_run = wait_until(succeeded_run, RUN_TIMEOUT_S, "the task's new run to succeed")
        assert int(new_run["id"]) != run_id
        assert (root / "out.txt").read_text() == "written after the fix"

        # 5. The alert has no automatic resolution: the operator resolves it.
        rc, out, err = op.type('beebeebrain alerts resolve ALERT_ID --note "workspace permissions fixed"',
                               ALERT_ID=alert["id"])
        assert rc == 0, out + err

        # Recovery confirmed.
        task = op.json("beebeebrain task get TASK_ID", TASK_ID=task_id)["task"]
        assert task["status"] == "TASK_STATUS_REVIEW", task
        left = op.json("beebeebrain inbox list --status open --type await_user_input").get("items", [])
        assert left == [], left
        assert open_alerts(op, "WORKSPACE_PERMISSION_DENIED") == []
        rc, out, err = op.type("beebeebrain triage")
        assert rc == 0, out + err
        after = op.json("beebeebrain triage")
        assert not [f for f in after.get("findings", []) if f.get("pages")], after["findings"]
        assert after.get("awaiting_input", []) == []
    finally:
        if srv.running():
            assert srv.stop() == 0, srv.log()

