"""The fake LLM refuses what the real APIs refuse (tests/fake_llm/strict_rules.py).

For each API a valid multi-turn tool conversation is accepted; each case below
breaks one documented rule of it and must be refused with the API's status and
error shape, and marked in /_stats with the rule's id. Every rule id of
strict_rules.py has at least one case here, so a rule that stops refusing, or a
new rule without a negative case, fails this file.
"""

import copy
import json
import pathlib
import re
import urllib.error
import urllib.request

import pytest

from runtime_fixtures import fake_llm  # noqa: F401  (fixture)

RULES_FILE = pathlib.Path(__file__).resolve().parents[1] / "fake_llm" / "strict_rules.py"

ANTHROPIC_HEADERS = {"x-api-key": "sk-ant-test", "anthropic-version": "2023-06-01",
                     "content-type": "application/json"}
ANTHROPIC_BODY = {
    "model": "claude-sonnet-4-5",
    "max_tokens": 256,
    "system": "be brief",
    "tools": [{"name": "list_path", "description": "lists", "input_schema": {"type": "object", "properties": {}}}],
    "messages": [
        {"role": "user", "content": "list it"},
        {"role": "assistant", "content": [
            {"type": "text", "text": "Looking."},
            {"type": "tool_use", "id": "toolu_1", "name": "list_path", "input": {"path": "."}},
        ]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_1", "content": "a.txt"},
            {"type": "text", "text": "go on"},
        ]},
    ],
}

OPENAI_HEADERS = {"authorization": "Bearer sk-test", "content-type": "application/json"}
OPENAI_BODY = {
    "model": "gpt-4o",
    "max_tokens": 256,
    "tools": [{"type": "function", "function": {"name": "list_path", "description": "lists",
                                                "parameters": {"type": "object", "properties": {}}}}],
    "messages": [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "list it"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "list_path", "arguments": "{\"path\": \".\"}"}},
        ]},
        {"role": "tool", "tool_call_id": "call_1", "content": "a.txt"},
        {"role": "user", "content": "go on"},
    ],
}


def post(fake, path, headers, body):
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    req = urllib.request.Request(fake.url + path, data=data, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def anthropic(fake, headers=None, body=None):
    return post(fake, "/v1/messages", ANTHROPIC_HEADERS if headers is None else headers,
                ANTHROPIC_BODY if body is None else body)


def openai(fake, headers=None, body=None):
    return post(fake, "/v1/chat/completions", OPENAI_HEADERS if headers is None else headers,
                OPENAI_BODY if body is None else body)


def changed(base, fn):
    """A deep copy of base changed by fn (which may also return a replacement)."""
    copy_ = copy.deepcopy(base)
    out = fn(copy_)
    return copy_ if out is None else out


def without(d, key):
    d = dict(d)
    del d[key]
    return d


def msgs(body):
    return body["messages"]


# (case id, rule, headers or None, change of the body or None)
ANTHROPIC_CASES = [
    ("no api key", "anthropic.header.api_key", without(ANTHROPIC_HEADERS, "x-api-key"), None),
    ("no anthropic-version", "anthropic.header.version", without(ANTHROPIC_HEADERS, "anthropic-version"), None),
    ("unknown anthropic-version", "anthropic.header.version",
     dict(ANTHROPIC_HEADERS, **{"anthropic-version": "2099-01-01"}), None),
    ("content-type not json", "anthropic.header.content_type", dict(ANTHROPIC_HEADERS, **{"content-type": "text/plain"}),
     None),
    ("body is not json", "anthropic.body.json", None, lambda b: b"{not json"),
    ("max_completion_tokens sent to anthropic", "anthropic.body.unknown_param", None,
     lambda b: b.update(max_completion_tokens=256)),
    ("no model", "anthropic.body.model", None, lambda b: b.pop("model") and None),
    ("no max_tokens", "anthropic.body.max_tokens", None, lambda b: b.pop("max_tokens") and None),
    ("max_tokens 0", "anthropic.body.max_tokens", None, lambda b: b.update(max_tokens=0)),
    ("system not text", "anthropic.body.system", None, lambda b: b.update(system=5)),
    ("tool name with a space", "anthropic.tools.shape", None, lambda b: b["tools"][0].update(name="list path")),
    ("tool without input_schema", "anthropic.tools.shape", None, lambda b: b["tools"][0].pop("input_schema") and None),
    ("tool named twice", "anthropic.tools.shape", None, lambda b: b["tools"].append(dict(b["tools"][0]))),
    ("no messages", "anthropic.body.messages", None, lambda b: b.pop("messages") and None),
    ("empty messages", "anthropic.body.messages", None, lambda b: b.update(messages=[])),
    ("message not an object", "anthropic.messages.shape", None, lambda b: b.update(messages=["hi"])),
    ("system role inside messages", "anthropic.messages.role", None,
     lambda b: msgs(b).insert(0, {"role": "system", "content": "be brief"})),
    ("tool role", "anthropic.messages.role", None, lambda b: msgs(b).append({"role": "tool", "content": "x"})),
    ("empty content list", "anthropic.messages.content", None, lambda b: msgs(b)[0].update(content=[])),
    ("content a number", "anthropic.messages.content", None, lambda b: msgs(b)[0].update(content=5)),
    ("block without type", "anthropic.block.type", None, lambda b: msgs(b)[1]["content"].insert(0, {"text": "x"})),
    ("tool_use in a user message", "anthropic.block.role", None,
     lambda b: msgs(b)[0].update(content=[{"type": "tool_use", "id": "t", "name": "list_path", "input": {}}])),
    ("tool_result in an assistant message", "anthropic.block.role", None,
     lambda b: msgs(b)[1]["content"].append({"type": "tool_result", "tool_use_id": "toolu_1", "content": "x"})),
    ("text block without text", "anthropic.text.shape", None, lambda b: msgs(b)[1]["content"][0].pop("text") and None),
    ("whitespace-only text before tool_use", "anthropic.text.nonblank", None,
     lambda b: msgs(b)[1]["content"][0].update(text="\n\n")),
    ("empty text block", "anthropic.text.nonblank", None, lambda b: msgs(b)[1]["content"][0].update(text="")),
    ("whitespace-only user prompt", "anthropic.text.nonblank", None, lambda b: msgs(b)[0].update(content="  \t")),
    ("tool_use id with a space", "anthropic.tool_use.shape", None,
     lambda b: msgs(b)[1]["content"][1].update(id="toolu 1")),
    ("tool_use without a name", "anthropic.tool_use.shape", None,
     lambda b: msgs(b)[1]["content"][1].pop("name") and None),
    ("tool_use input as a JSON string", "anthropic.tool_use.input", None,
     lambda b: msgs(b)[1]["content"][1].update(input="{\"path\": \".\"}")),
    ("tool_use id twice", "anthropic.tool_use.unique", None,
     lambda b: msgs(b)[1]["content"].append(dict(msgs(b)[1]["content"][1]))),
    ("tool_result without tool_use_id", "anthropic.tool_result.shape", None,
     lambda b: msgs(b)[2]["content"][0].pop("tool_use_id") and None),
    ("tool_result is_error not a boolean", "anthropic.tool_result.shape", None,
     lambda b: msgs(b)[2]["content"][0].update(is_error="yes")),
    ("tool blocks without tools", "anthropic.tools.required", None, lambda b: b.pop("tools") and None),
    ("tool_result for an unknown id", "anthropic.tool_result.unexpected", None,
     lambda b: msgs(b)[2]["content"][0].update(tool_use_id="toolu_9")),
    ("tool_result with no tool_use before it", "anthropic.tool_result.unexpected", None,
     lambda b: b.update(messages=[msgs(b)[0], msgs(b)[2]])),
    ("text before the tool_result", "anthropic.tool_result.first", None,
     lambda b: msgs(b)[2]["content"].reverse()),
    ("tool_use not answered in the next message", "anthropic.tool_use.unanswered", None,
     lambda b: msgs(b)[2].update(content="go on")),
]

OPENAI_CASES = [
    ("no authorization", "openai.header.authorization", without(OPENAI_HEADERS, "authorization"), None),
    ("empty bearer", "openai.header.authorization", dict(OPENAI_HEADERS, authorization="Bearer "), None),
    ("body is not json", "openai.body.json", None, lambda b: b"{not json"),
    ("no model", "openai.body.model", None, lambda b: b.pop("model") and None),
    ("max_tokens 0", "openai.body.token_limit", None, lambda b: b.update(max_tokens=0)),
    ("max_completion_tokens a string", "openai.body.token_limit", None,
     lambda b: b.pop("max_tokens") and b.update(max_completion_tokens="256")),
    ("max_tokens to o3-mini", "openai.body.max_tokens_unsupported", None, lambda b: b.update(model="o3-mini")),
    ("max_tokens to o1", "openai.body.max_tokens_unsupported", None, lambda b: b.update(model="o1")),
    ("max_tokens to o4-mini through a gateway prefix", "openai.body.max_tokens_unsupported", None,
     lambda b: b.update(model="openai/o4-mini")),
    ("max_tokens to gpt-5", "openai.body.max_tokens_unsupported", None, lambda b: b.update(model="gpt-5")),
    ("max_tokens to gpt-5-mini", "openai.body.max_tokens_unsupported", None, lambda b: b.update(model="gpt-5-mini")),
    ("tool of another type", "openai.tools.shape", None, lambda b: b["tools"][0].update(type="retrieval")),
    ("tool name with a space", "openai.tools.shape", None,
     lambda b: b["tools"][0]["function"].update(name="list path")),
    ("no messages", "openai.body.messages", None, lambda b: b.pop("messages") and None),
    ("empty messages", "openai.body.messages", None, lambda b: b.update(messages=[])),
    ("message not an object", "openai.messages.shape", None, lambda b: b.update(messages=["hi"])),
    ("unknown role", "openai.messages.role", None, lambda b: msgs(b)[1].update(role="robot")),
    ("user content null", "openai.messages.content", None, lambda b: msgs(b)[1].update(content=None)),
    ("assistant without content or tool_calls", "openai.messages.content", None,
     lambda b: msgs(b).append({"role": "assistant", "content": None})),
    ("tool call without id", "openai.tool_calls.shape", None,
     lambda b: msgs(b)[2]["tool_calls"][0].pop("id") and None),
    ("arguments as an object", "openai.tool_calls.arguments", None,
     lambda b: msgs(b)[2]["tool_calls"][0]["function"].update(arguments={"path": "."})),
    ("tool message without tool_call_id", "openai.tool.tool_call_id", None,
     lambda b: msgs(b)[3].pop("tool_call_id") and None),
    ("tool message with no preceding call", "openai.tool.without_call", None, lambda b: msgs(b).pop(2) and None),
    ("tool message for an unknown id", "openai.tool.without_call", None,
     lambda b: msgs(b)[3].update(tool_call_id="call_9")),
    ("tool_calls not answered before the next user message", "openai.tool_calls.unanswered", None,
     lambda b: msgs(b).pop(3) and None),
    ("tool_calls unanswered at the end", "openai.tool_calls.unanswered", None,
     lambda b: b.update(messages=msgs(b)[:3])),
]


def assert_refused(fake, status, err, rule, expect_status, api):
    assert status == expect_status, (status, err)
    if api == "anthropic":
        assert err["type"] == "error"
        assert err["error"]["type"] == ("authentication_error" if expect_status == 401 else "invalid_request_error")
        assert isinstance(err["error"]["message"], str) and err["error"]["message"]
    else:
        assert set(err["error"]) == {"message", "type", "param", "code"}
        assert err["error"]["type"] == "invalid_request_error"
        assert isinstance(err["error"]["message"], str) and err["error"]["message"]
    last = fake.requests()[-1]
    assert last["refused"]["rule"] == rule, last["refused"]
    assert last["refused"]["source"].startswith("https://")


@pytest.mark.parametrize("case", ANTHROPIC_CASES, ids=[c[0] for c in ANTHROPIC_CASES])
def test_anthropic_request_breaking_a_rule_is_refused(fake_llm, case):  # noqa: F811
    _, rule, headers, change = case
    fake_llm.reset()
    body = changed(ANTHROPIC_BODY, change) if change else None
    status, err = anthropic(fake_llm, headers, body)
    assert_refused(fake_llm, status, err, rule, 401 if rule == "anthropic.header.api_key" else 400, "anthropic")


@pytest.mark.parametrize("case", OPENAI_CASES, ids=[c[0] for c in OPENAI_CASES])
def test_openai_request_breaking_a_rule_is_refused(fake_llm, case):  # noqa: F811
    _, rule, headers, change = case
    fake_llm.reset()
    body = changed(OPENAI_BODY, change) if change else None
    status, err = openai(fake_llm, headers, body)
    assert_refused(fake_llm, status, err, rule, 401 if rule == "openai.header.authorization" else 400, "openai")


def test_every_rule_of_the_fake_has_a_negative_case():
    rules = set(re.findall(r"\"((?:anthropic|openai)\.[a-z_]+\.[a-z_]+)\"", RULES_FILE.read_text()))
    covered = {c[1] for c in ANTHROPIC_CASES + OPENAI_CASES}
    assert len(rules) >= 30
    assert rules - covered == set()


def test_valid_anthropic_tool_conversation_is_answered(fake_llm):  # noqa: F811
    fake_llm.reset()
    status, reply = anthropic(fake_llm)
    assert status == 200 and reply["type"] == "message", reply
    assert fake_llm.requests()[-1]["refused"] is None
    # A lone string prompt, and a final assistant prefill, are valid too.
    status, _ = anthropic(fake_llm, body=dict(ANTHROPIC_BODY, messages=[
        {"role": "user", "content": "hi"}, {"role": "assistant", "content": "Sure:"}]))
    assert status == 200


def test_valid_openai_tool_conversation_is_answered(fake_llm):  # noqa: F811
    fake_llm.reset()
    status, reply = openai(fake_llm)
    assert status == 200 and reply["object"] == "chat.completion", reply
    assert fake_llm.requests()[-1]["refused"] is None


@pytest.mark.parametrize("model", ["o3-mini", "o1", "gpt-5", "gpt-4o", "llama3"])
def test_openai_max_completion_tokens_is_accepted_for_any_model(fake_llm, model):  # noqa: F811
    fake_llm.reset()
    body = dict(without(OPENAI_BODY, "max_tokens"), model=model, max_completion_tokens=256)
    status, _ = openai(fake_llm, body=body)
    assert status == 200


@pytest.mark.parametrize("model", ["gpt-4o", "gpt-4.1-mini", "llama3", "omni-model", "gpt-50x"])
def test_openai_max_tokens_is_accepted_outside_the_reasoning_families(fake_llm, model):  # noqa: F811
    fake_llm.reset()
    status, _ = openai(fake_llm, body=dict(OPENAI_BODY, model=model))
    assert status == 200


def test_a_refused_request_consumes_no_scripted_step(fake_llm):  # noqa: F811
    fake_llm.reset()
    fake_llm.script([{"text": "scripted answer"}])
    status, _ = anthropic(fake_llm, headers=without(ANTHROPIC_HEADERS, "anthropic-version"))
    assert status == 400
    status, reply = anthropic(fake_llm)
    assert status == 200
    assert reply["content"] == [{"type": "text", "text": "scripted answer"}]
    refused = [r["refused"] for r in fake_llm.requests()]
    assert refused[0]["rule"] == "anthropic.header.version" and refused[1] is None
