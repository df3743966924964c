#!/usr/bin/env python3
"""Writes the seed corpora of fuzz/corpus/ (committed; run this again only
when the API's methods or messages change, since selector bytes index them).

    BBB_BUILD_DIR=build python3 fuzz/make_seeds.py [TARGET...]

(with TARGETs, only those corpora are written).

needs the Python stubs of the build (cmake --build build --target python_package).
Selector bytes index the methods and messages sorted by full name, exactly as
fuzz/fuzz_common.c sorts them. Every seed is small: the fuzzers grow them.
"""
import json
import os
import pathlib
import sys

REPO = pathlib.Path(__file__).resolve().parent.parent
BUILD = pathlib.Path(os.environ.get("BBB_BUILD_DIR", REPO / "build"))
sys.path.insert(0, str(BUILD / "python"))

from google.protobuf import json_format  # noqa: E402
from google.protobuf import text_format  # noqa: E402
from google.protobuf import message_factory  # noqa: E402
from beebeebrain.v1 import (  # noqa: E402,F401
    admin_pb2, agent_pb2, event_pb2, events_pb2, health_pb2, inbox_pb2, log_pb2,
    metrics_pb2, project_pb2, rpc_pb2, runtime_pb2, task_pb2, tool_pb2)

MODULES = [admin_pb2, agent_pb2, event_pb2, health_pb2, inbox_pb2, log_pb2,
           metrics_pb2, project_pb2, runtime_pb2, task_pb2, tool_pb2]
CORPUS = REPO / "fuzz" / "corpus"
ONLY = set(sys.argv[1:])


def methods():
    """Every method as (full name, descriptor), sorted by full name."""
    out = []
    for mod in MODULES:
        for svc in mod.DESCRIPTOR.services_by_name.values():
            for m in svc.methods:
                out.append((f"/{svc.full_name}/{m.name}", m))
    return sorted(out, key=lambda x: x[0])


def messages():
    """Message types reachable from the methods, plus Event and the envelopes."""
    seen = {}

    def add(d):
        if d.full_name in seen:
            return
        seen[d.full_name] = d
        for f in d.fields:
            if f.message_type is not None:
                add(f.message_type)

    for _, m in methods():
        add(m.input_type)
        add(m.output_type)
    add(events_pb2.Event.DESCRIPTOR)
    add(rpc_pb2.RpcRequest.DESCRIPTOR)
    add(rpc_pb2.RpcResponse.DESCRIPTOR)
    return [seen[k] for k in sorted(seen)]


def new(desc, text=""):
    cls = message_factory.GetMessageClass(desc) if hasattr(message_factory, "GetMessageClass") \
        else message_factory.MessageFactory().GetPrototype(desc)
    return text_format.Parse(text, cls())


def write(target, name, data):
    if ONLY and target not in ONLY:
        return
    d = CORPUS / target
    d.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    (d / name).write_bytes(data)


# Requests against the template database of fuzz_dispatch.c: projects 1
# ("default") and 2, agent 1, tasks 1..3 (2 a child of 1, 3 after 2), inbox
# item 1, run 1 (queued), a log line, an event.
REQUESTS = {
    "AdminService/Backup": ["", 'out_path: "/tmp/elsewhere.db"', 'out_path: "relative.db"'],
    "AdminService/MigrationStatus": [""],
    "AdminService/InjectFault": ['mode: "db_lock" duration_ms: 10'],
    "AdminService/ClearFaults": [""],
    "AdminService/Triage": [""],
    "RuntimeService/Status": [""],
    "RuntimeService/ResetBreaker": ['endpoint: "anthropic"', 'endpoint: "http://127.0.0.1:1/v1"', ""],
    "AgentService/CreateAgent": ['project_id: 1 name: "coder" role: "dev" model_provider: "openai" '
                                 'model_name: "gpt" enabled_tools: "read_file" enabled_tools: "write_file" '
                                 'max_concurrency: 2'],
    "AgentService/GetAgent": ["agent_id: 1"],
    "AgentService/ListAgents": ["project_id: 1 limit: 1", 'page_token: "c1"'],
    "AgentService/UpdateAgent": ['agent_id: 1 role: "lead" update_mask: "role" expected_version: 1',
                                 'agent_id: 1 status: AGENT_STATUS_INACTIVE update_mask: "status"'],
    "AgentService/DeleteAgent": ["agent_id: 1 expected_version: 1"],
    "EventService/Replay": ["after_id: 0 limit: 10", 'last_n: 5 type_prefix: "task."'],
    "EventService/Publish": ['event_type: "operator.note" project_id: 1 message: "hi" data_json: "{\\"k\\": [1, 2]}"'],
    "EventService/StreamInfo": [""],
    "EventService/ListAlerts": ["status: ALERT_STATUS_OPEN limit: 5", 'code: "DB_LOCKED" page_token: "c1"'],
    "EventService/AckAlert": ['alert_id: 1 note: "on it"', "alert_id: -1"],
    "EventService/ResolveAlert": ['alert_id: 1 actor: "op" note: "fixed"'],
    "HealthService/Check": [""],
    "HealthService/Ready": [""],
    "InboxService/ListItems": ["project_id: 1 status: INBOX_STATUS_OPEN limit: 10"],
    "InboxService/GetItem": ["item_id: 1"],
    "InboxService/CreateItem": ['project_id: 1 title: "note" content: "caf\\303\\251"'],
    "InboxService/CloseItem": ['item_id: 1 resolver: "op" user_input: "yes"'],
    "LogService/QueryLogs": ["run_id: 1 min_level: LOG_LEVEL_INFO limit: 5"],
    "LogService/AppendLog": ['run_id: 1 level: LOG_LEVEL_WARNING message: "token=abc" source: "op"'],
    "MetricsService/RunsSummary": ["project_id: 1 from_ms: 0 to_ms: 4102444800000"],
    "MetricsService/UsageDaily": ['provider: "echo" from_date: "2024-01-01" to_date: "2030-12-31" limit: 3'],
    "ProjectService/CreateProject": ['name: "p3" root_path: "/srv/bbb-fuzz/p3"'],
    "ProjectService/GetProject": ["project_id: 1"],
    "ProjectService/ListProjects": ["limit: 1"],
    "TaskService/CreateTask": ['project_id: 1 title: "t" description: "d" priority: 2 assignee_agent_id: 1 '
                               'parent_task_id: 1 due_at_ms: 1700000000000'],
    "TaskService/GetTask": ["task_id: 1"],
    "TaskService/ListTasks": ["project_id: 1 status: TASK_STATUS_TODO limit: 2"],
    "TaskService/UpdateTask": ['task_id: 1 title: "renamed" priority: 1 update_mask: "title" update_mask: "priority" '
                               'expected_version: 1 actor: "op"',
                               'task_id: 2 status: TASK_STATUS_RUNNING update_mask: "status"'],
    "TaskService/DeleteTask": ["task_id: 3"],
    "TaskService/PauseTask": ['task_id: 1 actor: "op"'],
    "TaskService/ResumeTask": ['task_id: 1 actor: "op"'],
    "TaskService/RetryTask": ["task_id: 1"],
    "TaskService/CancelTask": ["task_id: 2"],
    "TaskService/BroadcastCommand": ["command: TASK_COMMAND_PAUSE task_ids: 1 task_ids: 2 expected_versions: 0 "
                                     "expected_versions: 0",
                                     "command: TASK_COMMAND_CANCEL project_id: 1 status: TASK_STATUS_TODO limit: 5"],
    "TaskService/AddDependency": ["task_id: 1 depends_on_task_id: 3 dependency_type: DEPENDENCY_TYPE_START_TO_START"],
    "TaskService/RemoveDependency": ["task_id: 3 depends_on_task_id: 2"],
    "TaskService/ListReadyTasks": ["project_id: 1 limit: 10"],
    "TaskService/RunTask": ['task_id: 1 prompt: "go" provider: "echo" model: "echo" max_turns: 3 '
                            'timeout_seconds: 30 idempotency_key: "k1"',
                            'task_id: 2 prompt: "and wait" wait: true'],
    "TaskService/GetRun": ["run_id: 1"],
    "TaskService/ListRuns": ["task_id: 1 status: RUN_STATUS_QUEUED limit: 5"],
    "ToolService/FinishTask": ['task_id: 1 idempotency_key: "f1" run_id: 1'],
    "ToolService/BlockTask": ['task_id: 1 idempotency_key: "b1" reason: "waiting"'],
    "ToolService/RequestInput": ['task_id: 1 idempotency_key: "r1" title: "which file?" content: "?" run_id: 1'],
}

# Replies and events, for fuzz_pbjson (text format of the named type).
RESPONSES = {
    "beebeebrain.v1.GetTaskResponse": 'task { id: 1 project_id: 1 title: "caf\\303\\251" description: "d" '
                                      'status: TASK_STATUS_REVIEW priority: 3 created_at_ms: 1700000000000 version: 4 }',
    "beebeebrain.v1.GetRunResponse": 'run { id: 7 task_id: 1 run_status: RUN_STATUS_FAILED error_code: "LLM_TIMEOUT" '
                                     'token_in: 9007199254740993 cost_usd_micros: -1 } attempts { run_id: 7 n: 1 '
                                     'http_status: 429 retry_after_ms: 1500 }',
    "beebeebrain.v1.ReplayResponse": 'events { id: 1 event_type: "task.status" task_status_changed { task_id: 1 '
                                     'to_status: TASK_STATUS_TODO } } events { id: 2 event_type: "alert.raised" '
                                     'alert { code: "DB_LOCKED" severity: SEVERITY_ERROR } } head_id: 2 more: true',
    "beebeebrain.v1.Event": 'id: 5 event_type: "inbox.item.created" inbox_item { item { id: 1 title: "q" '
                            'item_type: INBOX_ITEM_TYPE_AWAIT_USER_INPUT } }',
    "beebeebrain.v1.ListAgentsResponse": 'agents { id: 1 name: "a" enabled_tools: "read_file" '
                                         'status: AGENT_STATUS_ACTIVE } next_page_token: "c1"',
    "beebeebrain.v1.RunsSummaryResponse": "total: 3 by_status { status: RUN_STATUS_QUEUED count: 3 } "
                                          "p95_duration_ms: 120",
    "beebeebrain.v1.BackupResponse": 'path: "/x.bak" size_bytes: 4096 integrity: "ok"',
    "beebeebrain.v1.RpcResponse": 'code: 3 reason: "VALIDATION_ERROR" message: "invalid" '
                                  'violations { field: "title" description: "required" } trace_id: "t"',
}

ANTHROPIC = {
    "text": {"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-x",
             "content": [{"type": "text", "text": "Hello, caf\u00e9."}], "stop_reason": "end_turn",
             "usage": {"input_tokens": 12, "output_tokens": 5}},
    "tool_use": {"id": "msg_2", "model": "claude-x", "stop_reason": "tool_use",
                 "content": [{"type": "text", "text": "Reading."},
                             {"type": "tool_use", "id": "tu_1", "name": "read_file", "input": {"path": "a.c"}},
                             {"type": "thinking", "thinking": "..."}],
                 "usage": {"input_tokens": 10, "cache_creation_input_tokens": 3, "cache_read_input_tokens": 4,
                           "output_tokens": 7}},
    "max_tokens": {"content": [{"type": "text", "text": "cut"}], "stop_reason": "max_tokens"},
    "error": {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}},
    "no_content": {"id": "msg_3", "stop_reason": "refusal"},
    "usage_extremes": {"content": [], "usage": {"input_tokens": 9223372036854775807,
                                                "cache_creation_input_tokens": 1, "output_tokens": -5}},
}

OPENAI = {
    "text": {"id": "c1", "object": "chat.completion", "model": "gpt-x",
             "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello."},
                          "finish_reason": "stop"}],
             "usage": {"prompt_tokens": 9, "completion_tokens": 2}},
    "tool_calls": {"model": "gpt-x",
                   "choices": [{"message": {"role": "assistant", "content": None,
                                            "tool_calls": [{"id": "call_1", "type": "function",
                                                            "function": {"name": "write_file",
                                                                         "arguments": "{\"path\":\"b\",\"content\":\"x\"}"}}]},
                                "finish_reason": "tool_calls"}]},
    "parts": {"choices": [{"message": {"content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
                           "finish_reason": "length"}]},
    "error": {"error": {"message": "Rate limit reached", "type": "requests", "code": "rate_limit_exceeded"}},
    "error_string": {"error": "model not found"},
    "usage_extremes": {"choices": [{"message": {"content": "x"}}],
                       "usage": {"prompt_tokens": -9223372036854775808, "completion_tokens": 9223372036854775807}},
}

# Text the JSON decoder must refuse or read exactly (fuzz_pbjson_decode).
PBJSON_HOSTILE = [
    ("hostile-both-names", "create", '{"project_id": "1", "projectId": 2}'),
    ("hostile-exact-int64", "create", '{"dueAtMs": "9007199254740993", "priority": 2.0e0}'),
    ("hostile-huge", "create", '{"due_at_ms": 1e400, "priority": "-0"}'),
    ("hostile-escapes", "create", '{"title": "\\ud83d\\ude00 \\u00e9\\n", "description": "\\u0000"}'),
    ("hostile-nulls", "broadcast", '{"task_ids": null, "expected_versions": [1, null], "command": "TASK_COMMAND_PAUSE"}'),
    ("hostile-deep", "create", '{"title": ' + '[' * 40 + ']' * 40 + '}'),
    ("hostile-numbers", "broadcast", '{"taskIds": ["1", 2, 3e2, "4.0", -0, 18446744073709551615], "limit": 1.5}'),
]

REDACT = [
    "Authorization: Bearer abc.def-123 and x-api-key: sk-ant-XYZ",
    "password=hunter2 token=t0k secret=s api_key=k apikey=k2",
    "PASSWORD: p api-key: q; key sk-proj-abcdef1234 leaked",
    "caf\u00e9 token=\u00e9t\u00e9 \u65e5\u672c sk-\u00e9",
    "no secrets here, just text (risk-assessment)\0Bearer tail",
    "token=Bearer abc secret=x-api-key:def",
]

GATEWAY = {  # op byte: 0 read, 1 list, 2 write, 3 write failing, 4 search
    "read-readme": (0, "README.md"), "read-link-in": (0, "link_in"), "read-abs-in": (0, "abs_in"),
    "read-dir-link": (0, "dir_link/util/x.c"), "read-env": (0, ".env"), "read-to-env": (0, "to_env"),
    "read-link-out": (0, "link_out/outside_a.txt"), "read-abs-out": (0, "abs_out"), "read-sneaky": (0, "sneaky"),
    "read-up": (0, "up/outside/outside_a.txt"), "read-up2": (0, "src/up2/outside/outside_a.txt"),
    "read-dotdot": (0, "../outside/outside_a.txt"), "read-hard": (0, "hard_link.txt"), "read-fifo": (0, "fifo"),
    "read-loop": (0, "loop1"), "read-absolute": (0, "/etc/passwd"), "read-dots": (0, "src/./util//x.c"),
    "list-root": (1, ""), "list-dot": (1, "."), "list-src": (1, "src"), "list-link-out": (1, "link_out"),
    "list-up": (1, "up"), "list-certs": (1, "certs"),
    "write-new": (2, "new/dir/file.txt\0hello"), "write-link-in": (2, "link_in\0x"),
    "write-dangling-out": (2, "dangling_out\0x"), "write-hard": (2, "hard_link.txt\0x"),
    "write-up": (2, "up/outside/x.txt\0x"), "write-env": (2, ".env\0x"),
    "write-failing": (3, "README.md\0new text"), "write-failing-new": (3, "a/b/c.txt\0y"),
    "search-root": (4, "\0main"), "search-src": (4, "src\0int"), "search-link-out": (4, "link_out\0OUTSIDE"),
    "search-secret": (4, "config\0INSIDE"),
}


def main():
    meth = methods()
    index = {full: i for i, (full, _) in enumerate(meth)}
    assert len(meth) < 256
    for short, payloads in REQUESTS.items():
        full = f"/beebeebrain.v1.{short}"
        desc = dict(meth)[full]
        for k, text in enumerate(payloads):
            payload = new(desc.input_type, text).SerializeToString()
            write("dispatch", f"{short.replace('/', '.')}-{k}", bytes([index[full], 0]) + payload)
    missing = set(index) - {f"/beebeebrain.v1.{s}" for s in REQUESTS}
    assert not missing or (ONLY and "dispatch" not in ONLY), f"no seed for {sorted(missing)}"
    # Envelope flags: a wrong key, a repeated request_id, a trace id, a 1 ms deadline.
    task = dict(meth)["/beebeebrain.v1.TaskService/CreateTask"]
    body = new(task.input_type, 'project_id: 1 title: "again"').SerializeToString()
    for flags in (0x01, 0x12, 0x04, 0x08):
        write("dispatch", f"TaskService.CreateTask-flags-{flags:02x}",
              bytes([index["/beebeebrain.v1.TaskService/CreateTask"], flags]) + body)

    for short in ("TaskService/GetTask", "HealthService/Check", "EventService/Publish"):
        full = f"/beebeebrain.v1.{short}"
        payload = new(dict(meth)[full].input_type, REQUESTS[short][0]).SerializeToString()
        req = rpc_pb2.RpcRequest(method=full, payload=payload, timeout_ms=5000, api_key="k", trace_id="t-1",
                                 request_id="r-1")
        write("envelope", short.replace("/", "."), req.SerializeToString())
    write("envelope", "bad-utf8-method", b"\x0a\x04/x\xc3\x28")
    write("envelope", "nul-in-api-key", b"\x22\x05KEY\x00j")
    write("envelope", "field-zero", b"\x82\x00\x00\x0a\x02/x")
    write("envelope", "response", new(rpc_pb2.RpcResponse.DESCRIPTOR, RESPONSES["beebeebrain.v1.RpcResponse"])
          .SerializeToString())

    types = messages()
    tindex = {d.full_name: i for i, d in enumerate(types)}
    assert len(types) < 256
    for short, payloads in REQUESTS.items():
        desc = dict(meth)[f"/beebeebrain.v1.{short}"].input_type
        write("pbjson", desc.name, bytes([tindex[desc.full_name]]) + new(desc, payloads[0]).SerializeToString())
    for full, text in RESPONSES.items():
        desc = next(d for d in types if d.full_name == full)
        write("pbjson", desc.name, bytes([tindex[full]]) + new(desc, text).SerializeToString())

    # JSON as Python's json_format writes it: requests with JSON names
    # (lowerCamelCase), replies with the .proto names; then hostile text.
    for short, payloads in REQUESTS.items():
        desc = dict(meth)[f"/beebeebrain.v1.{short}"].input_type
        text = json_format.MessageToJson(new(desc, payloads[0]), indent=None, ensure_ascii=False)
        write("pbjson_decode", desc.name, bytes([tindex[desc.full_name]]) + text.encode())
    for full, text in RESPONSES.items():
        desc = next(d for d in types if d.full_name == full)
        js = json_format.MessageToJson(new(desc, text), preserving_proto_field_name=True, ensure_ascii=False)
        write("pbjson_decode", desc.name, bytes([tindex[full]]) + js.encode())
    create = tindex["beebeebrain.v1.CreateTaskRequest"]
    broadcast = tindex["beebeebrain.v1.BroadcastCommandRequest"]
    for name, t, text in PBJSON_HOSTILE:
        write("pbjson_decode", name, bytes([create if t == "create" else broadcast]) + text.encode())

    for i, text in enumerate(REDACT):
        write("redact", f"text-{i}", bytes([i % 16, i]) + text.encode())
    for name, (op, text) in GATEWAY.items():
        write("gateway_path", name, bytes([op]) + text.encode())
    for name, body in ANTHROPIC.items():
        write("provider_anthropic", name, json.dumps(body, ensure_ascii=False))
    write("provider_anthropic", "truncated", '{"id": "broken", "content": [{"type": "text", "te')
    for name, body in OPENAI.items():
        write("provider_openai", name, json.dumps(body, ensure_ascii=False))
    write("provider_openai", "truncated", '{"choices": [{"message": {"content": "cut')


if __name__ == "__main__":
    main()
