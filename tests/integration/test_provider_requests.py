"""What the runtime sends to the providers, against the strict fake (which
refuses what the real APIs refuse): a whitespace-only text beside tool calls is
not sent back to Anthropic, and the OpenAI output limit goes in the member the
model takes (max_completion_tokens for the reasoning families, whatever the
base URL), or in the one the agent says (token_limit_param)."""

import json

import pytest

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


@pytest.mark.parametrize("model", ["o3-mini", "o4-mini", "gpt-5", "gpt-5-mini", "o1"])
def test_openai_reasoning_model_behind_a_gateway_gets_max_completion_tokens(rt, model):
    agent = openai_agent(rt, f"reasoner-{model}", model)
    assert agent.get("token_limit_param", "") == ""
    run_id = run_with(rt, agent["id"], f"think with {model}")
    run = rt.wait_run(run_id)
    assert (run["run_status"], run["error_code"]) == ("succeeded", ""), run
    [call] = rt.fake.requests_for(f"think with {model}")
    assert token_members(call) == ["max_completion_tokens"]


def test_openai_other_models_behind_a_gateway_keep_max_tokens(rt):
    _, run_id = rt.task_and_run("plain model", "openai")  # gpt-4o on the fake's base URL
    assert rt.wait_run(run_id)["run_status"] == "succeeded"
    [call] = rt.fake.requests_for("plain model")
    assert token_members(call) == ["max_tokens"]


def test_agent_token_limit_param_overrides_the_choice_by_model(rt):
    rt.refusals_expected = True  # forcing max_tokens on o3 must be refused, as the API would
    forced = openai_agent(rt, "forced", "o3", "--token-limit-param", "max_tokens")
    assert forced["token_limit_param"] == "max_tokens"
    run = rt.wait_run(run_with(rt, forced["id"], "forced max_tokens"))
    assert (run["run_status"], run["error_code"]) == ("failed", "LLM_INVALID_REQUEST"), run
    [call] = rt.fake.requests_for("forced max_tokens")
    assert token_members(call) == ["max_tokens"]
    assert call["refused"]["rule"] == "openai.body.max_tokens_unsupported"

    # Back to the choice by model: the same agent now works.
    updated = rt.cli.json("agent", "update", forced["id"], "--token-limit-param", "auto")["agent"]
    assert updated.get("token_limit_param", "") == ""
    run = rt.wait_run(run_with(rt, forced["id"], "auto again"))
    assert run["run_status"] == "succeeded", run
    assert token_members(rt.fake.requests_for("auto again")[0]) == ["max_completion_tokens"]

    # A gateway model name the runtime cannot know: the agent says what it takes.
    house = openai_agent(rt, "house", "house-reasoner-v2", "--token-limit-param", "max_completion_tokens")
    assert rt.cli.json("agent", "get", house["id"])["agent"]["token_limit_param"] == "max_completion_tokens"
    assert rt.wait_run(run_with(rt, house["id"], "house model"))["run_status"] == "succeeded"
    assert token_members(rt.fake.requests_for("house model")[0]) == ["max_completion_tokens"]


def test_invalid_token_limit_param_is_refused_with_a_violation(rt):
    rc, _, err = rt.cli("agent", "create", "--project", rt.project_id, "--name", "bad", "--role", "coder",
                        "--provider", "openai", "--model", "o3", "--token-limit-param", "max_output_tokens")
    assert rc != 0
    assert "VALIDATION_ERROR" in err and "token_limit_param" in err, err
    agent_id = rt.agent_ids["openai"]
    rc, _, err = rt.cli("agent", "update", agent_id, "--token-limit-param", "MAX_TOKENS")
    assert rc != 0 and "token_limit_param" in err, err
    assert rt.cli.json("agent", "get", agent_id)["agent"].get("token_limit_param", "") == ""


def test_whitespace_only_prompt_is_refused_before_any_call(rt):
    """The Messages API refuses a text without non-whitespace text: such a prompt
    is refused by RunTask, not sent upstream to fail there."""
    task_id = rt.task("blank prompt", "anthropic")
    rc, _, err = rt.cli("task", "run", task_id, "--prompt", " \n\t ")
    assert rc != 0
    assert "VALIDATION_ERROR" in err and "prompt" in err, err
    assert rt.fake.count() == 0
