"""What the runtime sends to the providers, against the strict fake (which
refuses what the real APIs refuse): a whitespace-only text beside tool calls is
not sent back to Anthropic, and a blank prompt never goes upstream."""

import json

from runtime_fixtures import fake_llm, rt, start_runtime  # noqa: F401  (fixtures)


def openai_agent(rt, name, model, *extra):
    return rt.cli.json("agent", "create", "--project", rt.project_id, "--name", name, "--role", "coder",
                       "--provider", "openai", "--model", model, *extra)["agent"]


def run_with(rt, agent_id, prompt):
    task_id = int(rt.cli.json("task", "create", "--project", rt.project_id, "--title", prompt[:160],
                              "--assignee", agent_id)["task"]["id"])
    return rt.run(task_id, prompt)


def token_members(request):
    return sorted(k for k in request["body"] if k in ("max_tokens", "max_completion_tokens"))


def test_anthropic_whitespace_only_text_beside_tool_calls_is_not_sent_back(rt):
    rt.fake.script({"anthropic": [
        {"text": "\n\n", "tool_calls": [{"name": "list_path", "arguments": {"path": "."}}]},
        {"text": " \t", "tool_calls": [{"name": "finish_task", "arguments": {"summary": "listed"}}]},
    ]})
    _, run_id = rt.task_and_run("list the workspace", "anthropic")
    run = rt.wait_run(run_id)
    assert (run["run_status"], run["error_code"]) == ("succeeded", ""), run
    first, second = rt.fake.requests_for("list the workspace")
    assert second["refused"] is None
    assistant = second["body"]["messages"][1]
    assert assistant["role"] == "assistant"
    assert [b["type"] for b in assistant["content"]] == ["tool_use"]
    assert [b["type"] for b in second["body"]["messages"][2]["content"]] == ["tool_result"]


def test_openai_text_beside_tool_calls_round_trips(rt):
    """The same reply through OpenAI: the text stays (the API takes any string), the
    arguments go back as a JSON string, each call is answered by a tool message."""
    rt.fake.script({"openai": [
        {"text": "\n\n", "tool_calls": [{"name": "list_path", "arguments": {"path": "."}}]},
        {"tool_calls": [{"name": "finish_task", "arguments": {"summary": "listed"}}]},
    ]})
    _, run_id = rt.task_and_run("list the workspace", "openai")
    assert rt.wait_run(run_id)["run_status"] == "succeeded"
    second = rt.fake.requests_for("list the workspace")[1]
    assistant, tool = second["body"]["messages"][1:3]
    assert json.loads(assistant["tool_calls"][0]["function"]["arguments"]) == {"path": "."}
    assert tool["role"] == "tool" and tool["tool_call_id"] == assistant["tool_calls"][0]["id"]


def test_whitespace_only_prompt_is_refused_before_any_call(rt):
    """The Messages API refuses a text without non-whitespace text: such a prompt
    is refused by RunTask, not sent upstream to fail there."""
    task_id = rt.task("blank prompt", "anthropic")
    rc, _, err = rt.cli("task", "run", task_id, "--prompt", " \n\t ")
    assert rc != 0
    assert "VALIDATION_ERROR" in err and "prompt" in err, err
    assert rt.fake.count() == 0
