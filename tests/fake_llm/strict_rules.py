"""The request contracts of the two APIs the fake speaks, as their public
documentation states them: what a real endpoint refuses, the fake refuses.

    check(endpoint, headers, raw) -> Refusal or None
        endpoint "anthropic" or "openai"; headers with lower-case names; raw the
        request body as bytes. The first rule the request breaks, in the order
        below, or None when it keeps every rule.

Every rule has a stable id (anthropic.* / openai.*), the HTTP status and error
the API answers with, and its source: the documentation page it comes from
(A_* and O_* below). Where a page states a rule without the API's wording of
the error, the message says the rule in the API's style; where the API's own
message is widely reported, that message is used (the tests match on the rule
id and the error shape, not on the words).

Deliberately not enforced: rules the documentation does not state (e.g.
whether a tool_result may have empty content), and the model names the real
APIs know (a gateway serves any name).
"""

import json
import re

# ---- sources -----------------------------------------------------------------

# Anthropic Messages API reference: the body parameters, their types and limits,
# "there is no system role" (system is a top-level parameter), message content
# as a string or content blocks, tool definitions (name pattern, input_schema).
A_MESSAGES = "https://docs.anthropic.com/en/api/messages"
# Versioning: "the anthropic-version header is required"; 2023-06-01 and 2023-01-01.
A_VERSIONING = "https://docs.anthropic.com/en/api/versioning"
# API overview: every request carries x-api-key and content-type: application/json.
A_OVERVIEW = "https://docs.anthropic.com/en/api/overview"
# Errors: {"type": "error", "error": {"type", "message"}}; 400
# invalid_request_error, 401 authentication_error, 429 rate_limit_error,
# 529 overloaded_error, 500 api_error.
A_ERRORS = "https://docs.anthropic.com/en/api/errors"
# Implementing tool use: tool_result blocks go in the user message right after
# the assistant's tool_use, they come first in that message's content (text
# after them), every tool_use is answered there, tool_use input is an object.
A_TOOL_USE = "https://docs.anthropic.com/en/docs/build-with-claude/tool-use/implement-tool-use"

# Chat Completions reference: the body parameters, message roles and their
# content, tool_calls (function.arguments is a JSON-encoded string), tool
# messages (tool_call_id), tools (function name pattern), max_tokens
# "deprecated in favor of max_completion_tokens and not compatible with
# o-series models".
O_CHAT = "https://platform.openai.com/docs/api-reference/chat/create"
# Authentication: "Authorization: Bearer OPENAI_API_KEY" on every request.
O_AUTH = "https://platform.openai.com/docs/api-reference/authentication"
# Error codes: 401 invalid authentication, 400 invalid request; error bodies
# {"error": {"message", "type", "param", "code"}}.
O_ERRORS = "https://platform.openai.com/docs/guides/error-codes"
# Function calling: the assistant message with tool_calls goes back into the
# conversation, followed by one tool message per call, with its tool_call_id.
O_FUNCTIONS = "https://platform.openai.com/docs/guides/function-calling"
# Reasoning models (o1, o3, o4-mini, gpt-5 ...): the output limit is
# max_completion_tokens; max_tokens is refused.
O_REASONING = "https://platform.openai.com/docs/guides/reasoning"

ANTHROPIC_VERSIONS = ("2023-06-01", "2023-01-01")
# Top-level body parameters of the Messages API reference; any other is
# refused ("Extra inputs are not permitted").
ANTHROPIC_PARAMS = {
    "model", "messages", "max_tokens", "system", "metadata", "stop_sequences", "stream", "temperature", "top_k",
    "top_p", "tools", "tool_choice", "thinking", "service_tier", "container", "mcp_servers", "context_management",
}
ANTHROPIC_USER_BLOCKS = {"text", "image", "document", "search_result", "tool_result"}
ANTHROPIC_ASSISTANT_BLOCKS = {"text", "tool_use", "thinking", "redacted_thinking", "server_tool_use",
                              "web_search_tool_result"}
ANTHROPIC_TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
ANTHROPIC_TOOL_USE_ID = re.compile(r"^[a-zA-Z0-9_-]+$")

OPENAI_ROLES = ("system", "developer", "user", "assistant", "tool", "function")
OPENAI_FUNCTION_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")


class Refusal(Exception):
    """One broken rule, as the API answers it."""

    def __init__(self, rule, source, status, message, kind="invalid_request_error", param=None, code=None):
        super().__init__(message)
        self.rule = rule
        self.source = source
        self.status = status
        self.message = message
        self.kind = kind
        self.param = param
        self.code = code

    def summary(self):
        return {"rule": self.rule, "message": self.message, "source": self.source}

    def body(self, endpoint, seq):
        if endpoint == "anthropic":
            return {"type": "error", "error": {"type": self.kind, "message": self.message},
                    "request_id": "req_fake_%d" % seq}
        return {"error": {"message": self.message, "type": self.kind, "param": self.param, "code": self.code}}


def anthropic_error(status, message):
    """The error body Anthropic sends with status (A_ERRORS)."""
    kind = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
            404: "not_found_error", 413: "request_too_large", 429: "rate_limit_error",
            529: "overloaded_error"}.get(status, "api_error")
    return {"type": "error", "error": {"type": kind, "message": message}}


def check(endpoint, headers, raw):
    try:
        if endpoint == "anthropic":
            anthropic_check(headers, raw)
        else:
            openai_check(headers, raw)
    except Refusal as r:
        return r
    return None


def is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def blank(text):
    return text.strip() == ""


# ---- Anthropic Messages ----------------------------------------------------------


def a_refuse(rule, source, message, status=400, kind="invalid_request_error"):
    raise Refusal(rule, source, status, message, kind=kind)


def anthropic_check(headers, raw):
    if not headers.get("x-api-key", "").strip():
        a_refuse("anthropic.header.api_key", A_OVERVIEW, "x-api-key header is required", 401,
                 "authentication_error")
    version = headers.get("anthropic-version")
    if version is None:
        a_refuse("anthropic.header.version", A_VERSIONING, "anthropic-version: header is required")
    if version not in ANTHROPIC_VERSIONS:
        a_refuse("anthropic.header.version", A_VERSIONING, "anthropic-version: invalid version %r" % version)
    if headers.get("content-type", "").split(";")[0].strip().lower() != "application/json":
        a_refuse("anthropic.header.content_type", A_OVERVIEW, "content-type: must be application/json")
    try:
        body = json.loads(raw)
    except ValueError:
        body = None
    if not isinstance(body, dict):
        a_refuse("anthropic.body.json", A_MESSAGES, "the request body is not a JSON object")
    for key in body:
        if key not in ANTHROPIC_PARAMS:
            a_refuse("anthropic.body.unknown_param", A_MESSAGES, "%s: Extra inputs are not permitted" % key)
    if not isinstance(body.get("model"), str) or body["model"] == "":
        a_refuse("anthropic.body.model", A_MESSAGES, "model: Field required")
    if "max_tokens" not in body:
        a_refuse("anthropic.body.max_tokens", A_MESSAGES, "max_tokens: Field required")
    if not is_int(body["max_tokens"]) or body["max_tokens"] < 1:
        a_refuse("anthropic.body.max_tokens", A_MESSAGES, "max_tokens: Input should be an integer >= 1")
    anthropic_check_system(body.get("system"))
    has_tools = anthropic_check_tools(body.get("tools"))
    anthropic_check_messages(body.get("messages"), has_tools)


def anthropic_check_system(system):
    if system is None or isinstance(system, str):
        return
    if isinstance(system, list) and all(isinstance(b, dict) and b.get("type") == "text" and
                                        isinstance(b.get("text"), str) for b in system):
        return
    a_refuse("anthropic.body.system", A_MESSAGES, "system: Input should be a string or a list of text blocks")


def anthropic_check_tools(tools):
    if tools is None:
        return False
    if not isinstance(tools, list):
        a_refuse("anthropic.tools.shape", A_MESSAGES, "tools: Input should be a valid list")
    names = set()
    for i, t in enumerate(tools):
        if not isinstance(t, dict):
            a_refuse("anthropic.tools.shape", A_MESSAGES, "tools.%d: Input should be an object" % i)
        if t.get("type") not in (None, "custom"):
            continue  # server tools (web_search ...) have shapes of their own
        name = t.get("name")
        if not isinstance(name, str) or not ANTHROPIC_TOOL_NAME.match(name):
            a_refuse("anthropic.tools.shape", A_MESSAGES,
                     "tools.%d.custom.name: String should match pattern '^[a-zA-Z0-9_-]{1,64}$'" % i)
        schema = t.get("input_schema")
        if not isinstance(schema, dict) or schema.get("type") != "object":
            a_refuse("anthropic.tools.shape", A_MESSAGES,
                     "tools.%d.custom.input_schema: a JSON Schema object of type \"object\" is required" % i)
        if name in names:
            a_refuse("anthropic.tools.shape", A_MESSAGES, "tools: Tool names must be unique.")
        names.add(name)
    return len(tools) > 0


def anthropic_blocks(msg, i, last):
    """The content blocks of message i (a string is one text block)."""
    content = msg.get("content")
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    if not isinstance(content, list):
        a_refuse("anthropic.messages.content", A_MESSAGES,
                 "messages.%d.content: Input should be a valid string or list of content blocks" % i)
    if not content and not (last and msg.get("role") == "assistant"):
        a_refuse("anthropic.messages.content", A_MESSAGES,
                 "messages.%d: all messages must have non-empty content except for the optional final "
                 "assistant message" % i)
    return content


def anthropic_check_block(b, i, k, role, ids_seen):
    allowed = ANTHROPIC_USER_BLOCKS if role == "user" else ANTHROPIC_ASSISTANT_BLOCKS
    where = "messages.%d.content.%d" % (i, k)
    if not isinstance(b, dict) or not isinstance(b.get("type"), str):
        a_refuse("anthropic.block.type", A_MESSAGES, "%s: a content block is an object with a type" % where)
    if b["type"] not in allowed:
        a_refuse("anthropic.block.role", A_MESSAGES if b["type"] not in ("tool_use", "tool_result") else A_TOOL_USE,
                 "%s: %s blocks are not allowed in %s messages" % (where, b["type"], role))
    if b["type"] == "text":
        if not isinstance(b.get("text"), str):
            a_refuse("anthropic.text.shape", A_MESSAGES, "%s.text: Field required" % where)
        if b["text"] == "":
            a_refuse("anthropic.text.nonblank", A_MESSAGES, "messages: text content blocks must be non-empty")
        if blank(b["text"]):
            a_refuse("anthropic.text.nonblank", A_MESSAGES,
                     "messages: text content blocks must contain non-whitespace text")
    elif b["type"] == "tool_use":
        if not isinstance(b.get("id"), str) or not ANTHROPIC_TOOL_USE_ID.match(b["id"]):
            a_refuse("anthropic.tool_use.shape", A_TOOL_USE,
                     "%s.tool_use.id: String should match pattern '^[a-zA-Z0-9_-]+$'" % where)
        if not isinstance(b.get("name"), str) or b["name"] == "":
            a_refuse("anthropic.tool_use.shape", A_TOOL_USE, "%s.tool_use.name: Field required" % where)
        if not isinstance(b.get("input"), dict):
            a_refuse("anthropic.tool_use.input", A_TOOL_USE,
                     "%s.tool_use.input: Input should be a valid dictionary" % where)
        if b["id"] in ids_seen:
            a_refuse("anthropic.tool_use.unique", A_TOOL_USE,
                     "messages.%d: `tool_use` ids must be unique: %s" % (i, b["id"]))
        ids_seen.add(b["id"])
    elif b["type"] == "tool_result":
        if not isinstance(b.get("tool_use_id"), str):
            a_refuse("anthropic.tool_result.shape", A_TOOL_USE, "%s.tool_result.tool_use_id: Field required" % where)
        c = b.get("content")
        if c is not None and not isinstance(c, str) and not (
                isinstance(c, list) and all(isinstance(x, dict) and x.get("type") in ("text", "image", "document",
                                                                                     "search_result") for x in c)):
            a_refuse("anthropic.tool_result.shape", A_TOOL_USE,
                     "%s.tool_result.content: Input should be a string or a list of text or image blocks" % where)
        if "is_error" in b and not isinstance(b["is_error"], bool):
            a_refuse("anthropic.tool_result.shape", A_TOOL_USE,
                     "%s.tool_result.is_error: Input should be a valid boolean" % where)


def anthropic_check_messages(messages, has_tools):
    if not isinstance(messages, list):
        a_refuse("anthropic.body.messages", A_MESSAGES, "messages: Field required")
    if not messages:
        a_refuse("anthropic.body.messages", A_MESSAGES, "messages: at least one message is required")
    ids_seen = set()
    pending = None  # (index, ids) of the assistant tool_use blocks the next message must answer
    for i, m in enumerate(messages):
        if not isinstance(m, dict):
            a_refuse("anthropic.messages.shape", A_MESSAGES, "messages.%d: Input should be an object" % i)
        role = m.get("role")
        if role == "system":
            a_refuse("anthropic.messages.role", A_MESSAGES,
                     "messages.%d: Unexpected role \"system\". The Messages API accepts a top-level `system` "
                     "parameter, not \"system\" as an input message role." % i)
        if role not in ("user", "assistant"):
            a_refuse("anthropic.messages.role", A_MESSAGES,
                     "messages.%d.role: Input should be 'user' or 'assistant'" % i)
        blocks = anthropic_blocks(m, i, i == len(messages) - 1)
        for k, b in enumerate(blocks):
            anthropic_check_block(b, i, k, role, ids_seen)
            if b["type"] in ("tool_use", "tool_result") and not has_tools:
                a_refuse("anthropic.tools.required", A_TOOL_USE,
                         "Requests which include `tool_use` or `tool_result` blocks must define tools.")
        # Tool results answer the tool_use blocks of the message just before,
        # every one of them, and come first in their message.
        answered = []
        for k, b in enumerate(blocks):
            if b["type"] != "tool_result":
                continue
            if pending is None or b["tool_use_id"] not in pending[1]:
                a_refuse("anthropic.tool_result.unexpected", A_TOOL_USE,
                         "messages.%d.content.%d: unexpected `tool_use_id` found in `tool_result` blocks: %s. "
                         "Each `tool_result` block must have a corresponding `tool_use` block in the previous "
                         "message." % (i, k, b["tool_use_id"]))
            if any(x["type"] != "tool_result" for x in blocks[:k]):
                a_refuse("anthropic.tool_result.first", A_TOOL_USE,
                         "messages.%d: `tool_use` ids were found without `tool_result` blocks immediately after: "
                         "%s. Each `tool_use` block must have a corresponding `tool_result` block in the next "
                         "message." % (pending[0], ", ".join(pending[1])))
            answered.append(b["tool_use_id"])
        if pending is not None:
            missing = [x for x in pending[1] if x not in answered]
            if missing:
                a_refuse("anthropic.tool_use.unanswered", A_TOOL_USE,
                         "messages.%d: `tool_use` ids were found without `tool_result` blocks immediately after: "
                         "%s. Each `tool_use` block must have a corresponding `tool_result` block in the next "
                         "message." % (pending[0], ", ".join(missing)))
        uses = [b["id"] for b in blocks if b["type"] == "tool_use"]
        pending = (i, uses) if uses else None


# ---- OpenAI Chat Completions ---------------------------------------------------------


def o_refuse(rule, source, message, param=None, code=None, status=400):
    raise Refusal(rule, source, status, message, param=param, code=code)


def openai_takes_max_completion_tokens(model):
    """The reasoning families (o1, o3, o4-mini ..., gpt-5 ...) refuse max_tokens
    (O_REASONING). A gateway may prefix the name with a vendor: openai/o3."""
    name = model.rsplit("/", 1)[-1].lower()
    return re.match(r"^o[0-9]+($|[-.])", name) is not None or re.match(r"^gpt-5($|[-.])", name) is not None


def openai_check(headers, raw):
    auth = headers.get("authorization", "")
    if not auth.startswith("Bearer ") or not auth[len("Bearer "):].strip():
        raise Refusal("openai.header.authorization", O_AUTH, 401,
                      "You didn't provide an API key. You need to provide your API key in an Authorization header "
                      "using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).", kind="invalid_request_error")
    try:
        body = json.loads(raw)
    except ValueError:
        body = None
    if not isinstance(body, dict):
        o_refuse("openai.body.json", O_CHAT, "We could not parse the JSON body of your request.")
    if not isinstance(body.get("model"), str) or body["model"] == "":
        o_refuse("openai.body.model", O_CHAT, "you must provide a model parameter", param="model",
                 code="missing_required_parameter")
    for key in ("max_tokens", "max_completion_tokens"):
        if key in body and body[key] is not None and (not is_int(body[key]) or body[key] < 1):
            o_refuse("openai.body.token_limit", O_CHAT,
                     "Invalid '%s': expected an integer >= 1." % key, param=key, code="invalid_value")
    if body.get("max_tokens") is not None and openai_takes_max_completion_tokens(body["model"]):
        o_refuse("openai.body.max_tokens_unsupported", O_REASONING,
                 "Unsupported parameter: 'max_tokens' is not supported with this model. Use "
                 "'max_completion_tokens' instead.", param="max_tokens", code="unsupported_parameter")
    openai_check_tools(body.get("tools"))
    openai_check_messages(body.get("messages"))


def openai_check_tools(tools):
    if tools is None:
        return
    if not isinstance(tools, list):
        o_refuse("openai.tools.shape", O_CHAT, "Invalid type for 'tools': expected an array.", param="tools",
                 code="invalid_type")
    for i, t in enumerate(tools):
        fn = t.get("function") if isinstance(t, dict) else None
        if not isinstance(t, dict) or t.get("type") != "function" or not isinstance(fn, dict):
            o_refuse("openai.tools.shape", O_CHAT, "Invalid 'tools[%d]': expected a function tool." % i,
                     param="tools[%d]" % i, code="invalid_value")
        if not isinstance(fn.get("name"), str) or not OPENAI_FUNCTION_NAME.match(fn["name"]):
            o_refuse("openai.tools.shape", O_CHAT,
                     "Invalid 'tools[%d].function.name': string does not match pattern. Expected a string that "
                     "matches the pattern '^[a-zA-Z0-9_-]+$'." % i, param="tools[%d].function.name" % i,
                     code="invalid_value")
        if "parameters" in fn and not isinstance(fn["parameters"], dict):
            o_refuse("openai.tools.shape", O_CHAT, "Invalid type for 'tools[%d].function.parameters': expected "
                     "an object." % i, param="tools[%d].function.parameters" % i, code="invalid_type")


def openai_content_ok(c):
    return isinstance(c, str) or (isinstance(c, list) and all(isinstance(p, dict) and isinstance(p.get("type"), str)
                                                              for p in c))


def openai_check_tool_calls(calls, i):
    if not isinstance(calls, list):
        o_refuse("openai.tool_calls.shape", O_CHAT, "Invalid type for 'messages[%d].tool_calls': expected an "
                 "array." % i, param="messages[%d].tool_calls" % i, code="invalid_type")
    ids = []
    for j, call in enumerate(calls):
        where = "messages[%d].tool_calls[%d]" % (i, j)
        fn = call.get("function") if isinstance(call, dict) else None
        if not isinstance(call, dict) or not isinstance(call.get("id"), str) or call.get("type") != "function" \
                or not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
            o_refuse("openai.tool_calls.shape", O_CHAT, "Invalid '%s': a tool call needs an id, type 'function' and "
                     "a function name." % where, param=where, code="invalid_value")
        if not isinstance(fn.get("arguments"), str):
            got = {dict: "an object", list: "an array"}.get(type(fn.get("arguments")), "another type")
            o_refuse("openai.tool_calls.arguments", O_FUNCTIONS,
                     "Invalid type for '%s.function.arguments': expected a string, but got %s instead." % (where, got),
                     param="%s.function.arguments" % where, code="invalid_type")
        ids.append(call["id"])
    return ids


def openai_check_messages(messages):
    if not isinstance(messages, list):
        o_refuse("openai.body.messages", O_CHAT, "Missing required parameter: 'messages'.", param="messages",
                 code="missing_required_parameter")
    if not messages:
        o_refuse("openai.body.messages", O_CHAT, "[] is too short - 'messages'", param="messages",
                 code="invalid_value")
    pending = None  # (index, ids not yet answered) of the last assistant tool_calls
    for i, m in enumerate(messages):
        if not isinstance(m, dict):
            o_refuse("openai.messages.shape", O_CHAT, "Invalid type for 'messages[%d]': expected an object." % i,
                     param="messages[%d]" % i, code="invalid_type")
        role = m.get("role")
        if role not in OPENAI_ROLES:
            o_refuse("openai.messages.role", O_CHAT, "Invalid value: %r. Supported values are: 'system', "
                     "'assistant', 'user', 'function', 'tool', and 'developer'." % (role,),
                     param="messages[%d].role" % i, code="invalid_value")
        if role != "tool" and pending is not None and pending[1]:
            o_refuse("openai.tool_calls.unanswered", O_FUNCTIONS,
                     "An assistant message with 'tool_calls' must be followed by tool messages responding to each "
                     "'tool_call_id'. The following tool_call_ids did not have response messages: %s"
                     % ", ".join(pending[1]), param="messages.[%d].role" % pending[0])
        if role in ("system", "developer", "user"):
            if not openai_content_ok(m.get("content")):
                o_refuse("openai.messages.content", O_CHAT, "Invalid value for 'content': expected a string or an "
                         "array of content parts.", param="messages[%d].content" % i, code="invalid_value")
            pending = None
        elif role == "assistant":
            calls = m.get("tool_calls")
            c = m.get("content")
            if calls is None and not openai_content_ok(c):
                o_refuse("openai.messages.content", O_CHAT, "Invalid value for 'content': expected a string, got "
                         "null.", param="messages[%d].content" % i, code="invalid_value")
            if c is not None and not openai_content_ok(c):
                o_refuse("openai.messages.content", O_CHAT, "Invalid type for 'messages[%d].content'." % i,
                         param="messages[%d].content" % i, code="invalid_type")
            pending = (i, openai_check_tool_calls(calls, i)) if calls is not None else None
        elif role == "tool":
            if not isinstance(m.get("tool_call_id"), str):
                o_refuse("openai.tool.tool_call_id", O_FUNCTIONS, "Missing parameter 'tool_call_id': messages with "
                         "role 'tool' must have a 'tool_call_id'.", param="messages[%d].tool_call_id" % i,
                         code="missing_required_parameter")
            if not openai_content_ok(m.get("content")):
                o_refuse("openai.messages.content", O_CHAT, "Invalid value for 'content': expected a string or an "
                         "array of content parts.", param="messages[%d].content" % i, code="invalid_value")
            if pending is None or m["tool_call_id"] not in pending[1]:
                o_refuse("openai.tool.without_call", O_FUNCTIONS,
                         "Invalid parameter: messages with role 'tool' must be a response to a preceeding message "
                         "with 'tool_calls'.", param="messages.[%d].role" % i)
            pending[1].remove(m["tool_call_id"])
    if pending is not None and pending[1]:
        o_refuse("openai.tool_calls.unanswered", O_FUNCTIONS,
                 "An assistant message with 'tool_calls' must be followed by tool messages responding to each "
                 "'tool_call_id'. The following tool_call_ids did not have response messages: %s"
                 % ", ".join(pending[1]), param="messages.[%d].role" % pending[0])
