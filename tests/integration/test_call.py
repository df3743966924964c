"""`beebeebrain call SERVICE/METHOD ['{json}']` and `beebeebrain describe`
(docs/protocol.md, "Calling any method"): any method with a proto3 JSON request against the real
server, the JSON decoder checked against Python protobuf's json_format on the
same text (through a fake server that records the request), and the schema
checked against the FileDescriptorSet protoc writes."""

import ctypes
import importlib
import json
import os
import pkgutil
import subprocess
import threading

import pytest

from conftest import BIN, child_env, free_port
from beebeebrain import _nng
import beebeebrain.v1
from beebeebrain.v1 import rpc_pb2
from google.protobuf import descriptor_pb2, json_format, symbol_database

# Every generated module, so that the symbol database knows every message.
for _mod in pkgutil.iter_modules(beebeebrain.v1.__path__):
    importlib.import_module(f"beebeebrain.v1.{_mod.name}")


def msg_class(full_name):
    return symbol_database.Default().GetSymbol(full_name)


def run(*args, url, stdin=None, timeout_s=60):
    """The binary with --rpc url; stdin text, or /dev/null when None."""
    p = subprocess.run([BIN, "--rpc", url, *map(str, args)], input=stdin if stdin is not None else "",
                       capture_output=True, text=True, timeout=timeout_s, env=child_env())
    return p.returncode, p.stdout, p.stderr


def call_ok(url, method, body=None, stdin=None):
    args = ["call", method] + ([body] if body is not None else [])
    rc, out, err = run(*args, url=url, stdin=stdin)
    assert rc == 0, f"call {method} {body!r} exited {rc}: {err}"
    return json.loads(out)


# ---- against the real server


def test_call_reaches_every_service_with_json_requests(server, workspace):
    url = server.url
    called = set()

    def call(method, body=None):
        called.add(method.split("/")[0].split(".")[-1])
        return call_ok(url, method, body)

    assert call("HealthService/Check")["status"] == "ok"
    assert call("beebeebrain.v1.HealthService/Ready", "{}")["ready"] is True
    project = call("ProjectService/CreateProject",
                   json.dumps({"name": "kit", "root_path": str(workspace)}))["project"]
    pid = project["id"]
    assert isinstance(pid, str), "int64 comes back as a string"
    assert call("ProjectService/GetProject", json.dumps({"projectId": pid}))["project"]["name"] == "kit"
    assert [p["id"] for p in call("ProjectService/ListProjects", "{}")["projects"]] == [pid]
    agent = call("AgentService/CreateAgent", json.dumps({
        "project_id": pid, "name": "a1", "role": "coder", "model_provider": "echo", "model_name": "echo-1",
        "enabledTools": ["read_file", "write_file"], "max_concurrency": 2}))["agent"]
    assert agent["enabled_tools"] == ["read_file", "write_file"]
    assert agent["max_concurrency"] == 2
    assert call("AgentService/ListAgents", json.dumps({"project_id": int(pid)}))["agents"][0]["id"] == agent["id"]
    task = call("TaskService/CreateTask", json.dumps({
        "project_id": pid, "title": "call me", "description": "über", "priority": 2,
        "assigneeAgentId": agent["id"], "due_at_ms": "1893456000000"}))["task"]
    assert task["status"] == "TASK_STATUS_TODO"
    got = call("beebeebrain.v1.TaskService/GetTask", json.dumps({"task_id": task["id"]}))["task"]
    assert (got["title"], got["description"], got["priority"], got["assignee_agent_id"], got["due_at_ms"]) == \
        ("call me", "über", 2, agent["id"], "1893456000000")
    by_name = call("TaskService/ListTasks", json.dumps({"project_id": pid, "status": "TASK_STATUS_TODO"}))
    by_number = call("TaskService/ListTasks", json.dumps({"project_id": pid, "status": 1}))
    assert [t["id"] for t in by_name["tasks"]] == [t["id"] for t in by_number["tasks"]] == [task["id"]]
    assert call("TaskService/ListTasks", json.dumps({"project_id": pid, "status": "TASK_STATUS_DONE"})) == {}
    item = call("InboxService/CreateItem", json.dumps({"project_id": pid, "title": "t", "content": "c"}))
    assert call("InboxService/ListItems", json.dumps({"project_id": pid}))["items"][0]["id"] == item["item"]["id"]
    call("LogService/QueryLogs", json.dumps({"project_id": pid}))
    assert call("MetricsService/RunsSummary", json.dumps({"project_id": pid})).get("total", 0) == 0
    head = call("EventService/StreamInfo")["head_id"]
    replay = call("EventService/Replay", json.dumps({"last_n": 1000}))
    assert replay["events"][-1]["id"] == head
    ms = call("AdminService/MigrationStatus")
    assert ms["current_version"] == ms["latest_version"] > 0
    assert call("RuntimeService/Status")["snapshot_at_ms"] != "0"
    # ToolService: an agent's call on a task that is not in review is refused by the server.
    rc, out, err = run("call", "ToolService/FinishTask", json.dumps({"task_id": task["id"], "idempotency_key": "k1"}),
                       url=url)
    called.add("ToolService")
    assert rc == 1 and out == "" and err.startswith("error: FAILED_PRECONDITION "), err

    rc, out, err = run("-o", "json", "describe", url=url)
    assert rc == 0, err
    assert called == {s["name"] for s in json.loads(out)["service"]}


def test_call_reads_the_request_from_stdin(server, workspace):
    body = json.dumps({"name": "from-stdin", "root_path": str(workspace)})
    project = call_ok(server.url, "ProjectService/CreateProject", stdin=body)["project"]
    assert project["name"] == "from-stdin"
    got = call_ok(server.url, "ProjectService/GetProject", "-", stdin=json.dumps({"project_id": project["id"]}))
    assert got["project"]["id"] == project["id"]
    # An empty stdin is the empty request.
    assert call_ok(server.url, "HealthService/Check", stdin="")["status"] == "ok"


def test_a_call_repeated_with_its_request_id_runs_once(server, workspace):
    """A retry after a lost answer: the same --request-id gets the first
    call's answer; without it, the write runs again."""
    project = call_ok(server.url, "ProjectService/CreateProject",
                      json.dumps({"name": "idem", "root_path": str(workspace / "idem")}))["project"]
    body = json.dumps({"project_id": project["id"], "title": "once"})
    first = call_ok(server.url, "TaskService/CreateTask", body)["task"]
    args = ["call", "TaskService/CreateTask", body, "--request-id", "retry-7"]
    rc, out, err = run(*args, url=server.url)
    assert rc == 0, err
    again = [json.loads(run(*args, url=server.url)[1])["task"] for _ in range(2)]
    assert again[0]["id"] == again[1]["id"] == json.loads(out)["task"]["id"] != first["id"]
    listed = call_ok(server.url, "TaskService/ListTasks", json.dumps({"project_id": project["id"]}))["tasks"]
    assert sorted(t["id"] for t in listed) == sorted({first["id"], again[0]["id"]})


def test_server_validation_error_exits_1_with_its_reason(server):
    rc, out, err = run("call", "TaskService/CreateTask", '{"title": ""}', url=server.url)
    assert rc == 1 and out == ""
    assert err.startswith("error: INVALID_ARGUMENT VALIDATION_ERROR: "), err


def test_server_not_found_exits_1_with_its_reason(server):
    rc, out, err = run("call", "TaskService/GetTask", '{"task_id": "999"}', url=server.url)
    assert rc == 1 and err.startswith("error: NOT_FOUND TASK_NOT_FOUND: "), err


# ---- refused before anything is sent: no server needed (exit 2, not 3)

NOWHERE = "tcp://127.0.0.1:1"


def test_unknown_field_exits_2_naming_its_path():
    rc, out, err = run("call", "TaskService/CreateTask", '{"title": "x", "titel": "y"}', url=NOWHERE)
    assert rc == 2 and out == ""
    assert err.startswith("error: INVALID_ARGUMENT VALIDATION_ERROR: "), err
    assert "\n  titel: " in err


def test_wrong_element_type_exits_2_naming_the_index():
    rc, _, err = run("call", "TaskService/BroadcastCommand", '{"task_ids": ["1", "two"]}', url=NOWHERE)
    assert rc == 2 and "\n  task_ids[1]: " in err, err


def test_bad_json_exits_2():
    rc, out, err = run("call", "TaskService/GetTask", '{"task_id": ', url=NOWHERE)
    assert rc == 2 and out == ""
    assert err.startswith("error: INVALID_ARGUMENT MALFORMED_REQUEST: "), err


def test_unknown_method_exits_2_listing_the_close_matches():
    rc, out, err = run("call", "TaskService/GetTsk", "{}", url=NOWHERE)
    assert rc == 2 and out == ""
    assert "unknown method 'GetTsk'; close matches: GetTask" in err, err


def test_unknown_service_exits_2_listing_the_close_matches():
    rc, _, err = run("call", "beebeebrain.v1.TaskServce/GetTask", "{}", url=NOWHERE)
    assert rc == 2 and "unknown service 'beebeebrain.v1.TaskServce'; close matches: TaskService" in err, err
    rc, _, err = run("call", "Nothing/GetTask", "{}", url=NOWHERE)
    assert rc == 2 and "unknown service 'Nothing'; known: AdminService, " in err, err


def test_a_service_without_a_method_is_a_usage_error():
    rc, _, err = run("call", "TaskService", url=NOWHERE)
    assert rc == 2 and "'TaskService' is a service" in err, err


def test_unreachable_server_exits_3():
    rc, _, err = run("call", "HealthService/Check", "{}", url=NOWHERE)
    assert rc == 3 and "SERVER_UNREACHABLE" in err, err


# ---- the decoder against json_format: a fake server records what `call` sends


class FakeServer:
    """A rep0 socket on loopback answering one request with `reply` (an
    RpcResponse); the request envelope lands in self.request."""

    def __init__(self):
        self.url = f"tcp://127.0.0.1:{free_port()}"
        self.lib = _nng.lib()
        self.sock = _nng.Handle()
        assert self.lib.nng_rep0_open(ctypes.byref(self.sock)) == 0
        assert self.lib.nng_socket_set_ms(self.sock, b"recv-timeout", 20000) == 0
        assert self.lib.nng_listen(self.sock, self.url.encode(), None, 0) == 0
        self.request = None

    def serve_one(self, reply):
        def loop():
            ptr, size = ctypes.c_void_p(), ctypes.c_size_t()
            if self.lib.nng_recv(self.sock, ctypes.byref(ptr), ctypes.byref(size), 1) != 0:
                return
            self.request = rpc_pb2.RpcRequest.FromString(ctypes.string_at(ptr, size.value))
            self.lib.nng_free(ptr, size.value)
            data = reply.SerializeToString()
            self.lib.nng_send(self.sock, ctypes.create_string_buffer(data, len(data)), len(data), 0)

        t = threading.Thread(target=loop, daemon=True)
        t.start()
        return t

    def close(self):
        self.lib.nng_close(self.sock)


@pytest.fixture
def fake():
    f = FakeServer()
    yield f
    f.close()


# (method, request JSON): every scalar kind a request has, both key spellings,
# enums by name and number, 64-bit ints as strings and numbers, repeated fields.
REFERENCE_REQUESTS = [
    ("TaskService/CreateTask", {"projectId": "7", "title": "t\u00e9\u4e2d", "description": "a\nb\"c",
                                "priority": 5, "assignee_agent_id": 9007199254740993,
                                "dueAtMs": "-1", "status": "TASK_STATUS_TODO"}),
    ("TaskService/BroadcastCommand", {"command": 2, "project_id": 1, "task_ids": ["1", 2, "9223372036854775807"],
                                      "status": "TASK_STATUS_BLOCKED", "limit": 200, "actor": "ops",
                                      "expected_versions": [3, "4"]}),
    ("AgentService/UpdateAgent", None),  # filled below from the descriptor: every field
    ("EventService/Replay", {"after_id": "0", "last_n": 1e3, "type_prefix": "task.", "limit": "20"}),
    ("HealthService/Check", {}),
    ("TaskService/UpdateTask", {"task_id": 1, "update_mask": ["title", "status"], "title": "", "status": 0,
                                "expected_version": "12"}),
]


def _request_json_of(method):
    for m, body in REFERENCE_REQUESTS:
        if m == method:
            return body
    raise KeyError(method)


@pytest.mark.parametrize("method", [m for m, _ in REFERENCE_REQUESTS])
def test_call_sends_what_json_format_parses_from_the_same_json(fake, method):
    service, name = method.split("/")
    svc = symbol_database.Default().pool.FindServiceByName(f"beebeebrain.v1.{service}")
    desc = svc.FindMethodByName(name)
    body = _request_json_of(method)
    if body is None:  # UpdateAgent: a value for each of its fields
        body = {"agent_id": "3", "name": "n", "role": "r", "model_provider": "openai", "model_name": "m",
                "persona_prompt": "p", "enabled_tools": ["x", "y"], "max_concurrency": 4, "status": 2,
                "update_mask": ["name"], "expected_version": "5", "token_limit_param": "max_tokens",
                "maxOutputTokens": 100}
        body = {k: v for k, v in body.items() if k in desc.input_type.fields_by_name}
    text = json.dumps(body)
    expected = json_format.Parse(text, msg_class(desc.input_type.full_name)())
    out_cls = msg_class(desc.output_type.full_name)
    reply_msg = out_cls()
    fake.serve_one(rpc_pb2.RpcResponse(code=0, payload=reply_msg.SerializeToString()))
    rc, out, err = run("call", method, text, url=fake.url)
    assert rc == 0, err
    req = fake.request
    assert req.method == f"/beebeebrain.v1.{service}/{name}"
    sent = msg_class(desc.input_type.full_name).FromString(req.payload)
    assert sent == expected
    assert req.payload == expected.SerializeToString(deterministic=True)
    assert json.loads(out) == {}


def test_call_prints_the_reply_as_json_format_does(fake):
    from beebeebrain.v1 import event_pb2, events_pb2
    reply = event_pb2.ReplayResponse(head_id=2**62, more=True)
    e = reply.events.add(id=1, project_id=2, event_type="task.status_changed", created_at_ms=1700000000000)
    e.task_status_changed.task_id = 5
    e.task_status_changed.to_status = 2
    reply.events.add(id=2, event_type="operator.note").custom.message = "hi \u2603"
    assert isinstance(reply.events[0], events_pb2.Event)
    fake.serve_one(rpc_pb2.RpcResponse(code=0, payload=reply.SerializeToString()))
    rc, out, err = run("call", "EventService/Replay", "{}", url=fake.url)
    assert rc == 0, err
    assert json.loads(out) == json_format.MessageToDict(reply, preserving_proto_field_name=True)


# ---- describe and the descriptor set


@pytest.fixture(scope="module")
def descriptor_set(tmp_path_factory):
    path = tmp_path_factory.mktemp("fds") / "beebeebrain.protoset"
    rc, out, err = run("describe", "--descriptor-set-out", path, url=NOWHERE)
    assert rc == 0 and out == "", err
    fds = descriptor_pb2.FileDescriptorSet()
    fds.ParseFromString(path.read_bytes())
    return fds


def describe_json(*args):
    rc, out, err = run("-o", "json", "describe", *args, url=NOWHERE)
    assert rc == 0, err
    return json.loads(out)


def test_descriptor_set_parses_and_holds_every_service(descriptor_set):
    names = {f.name for f in descriptor_set.file}
    assert "beebeebrain/v1/task.proto" in names and "beebeebrain/v1/rpc.proto" in names
    in_set = {f"{f.package}.{s.name}": [m.name for m in s.method] for f in descriptor_set.file for s in f.service}
    described = {s["full_name"]: [m["name"] for m in s["method"]] for s in describe_json()["service"]}
    assert in_set == described
    assert len(in_set) >= 11
    # The comments of the .proto files travel with the set (source info).
    assert any(f.source_code_info.location for f in descriptor_set.file)


def _set_types(descriptor_set):
    for f in descriptor_set.file:
        for m in f.message_type:
            yield "message", f"{f.package}.{m.name}", m
        for e in f.enum_type:
            yield "enum", f"{f.package}.{e.name}", e


def test_describe_json_of_every_message_and_enum_matches_the_descriptor_set(descriptor_set):
    seen = 0
    for kind, full, proto in _set_types(descriptor_set):
        got = describe_json(full)
        assert got["full_name"] == full and got["name"] == proto.name
        if kind == "message":
            want = [json_format.MessageToDict(f, preserving_proto_field_name=True) for f in proto.field]
            assert got["field"] == want, full
            assert got.get("oneof_decl", []) == [{"name": o.name} for o in proto.oneof_decl], full
        else:
            assert got["value"] == [{"name": v.name, "number": v.number} for v in proto.value], full
        seen += 1
    assert seen > 50


def test_describe_json_of_a_service_and_a_method_match_the_descriptor_set(descriptor_set):
    task = next(s for f in descriptor_set.file for s in f.service if s.name == "TaskService")
    got = describe_json("beebeebrain.v1.TaskService")
    assert got["method"] == [{"name": m.name, "input_type": m.input_type, "output_type": m.output_type}
                             for m in task.method]
    m = describe_json("TaskService/GetTask")
    assert m["service"] == "beebeebrain.v1.TaskService"
    assert m["method"]["input_type"] == ".beebeebrain.v1.GetTaskRequest"
    assert m["input"]["full_name"] == "beebeebrain.v1.GetTaskRequest"
    assert m["output"]["field"][0]["type_name"] == ".beebeebrain.v1.Task"


def test_describe_text_forms():
    def text(*args):
        rc, out, err = run("describe", *args, url=NOWHERE)
        assert rc == 0, err
        return out

    listing = text()
    assert "beebeebrain.v1.TaskService\n  CreateTask\n  GetTask\n" in listing
    assert "beebeebrain.v1.HealthService\n  Check\n  Ready\n" in listing
    svc = text("TaskService")
    assert svc.startswith("beebeebrain.v1.TaskService is a service:\nservice TaskService {\n")
    assert "  rpc GetTask(.beebeebrain.v1.GetTaskRequest) returns (.beebeebrain.v1.GetTaskResponse);\n" in svc
    method = text("TaskService/GetTask")
    assert "message GetTaskRequest {\n  int64 task_id = 1 [json_name = \"taskId\"];\n}\n" in method
    assert "message GetTaskResponse {\n  .beebeebrain.v1.Task task = 1 [json_name = \"task\"];\n}\n" in method
    msg = text("Agent")
    assert "  repeated string enabled_tools = 8 [json_name = \"enabledTools\"];\n" in msg
    assert "  .beebeebrain.v1.AgentStatus status = 9 [json_name = \"status\"];\n" in msg
    assert "  TASK_STATUS_TODO = 1;\n" in text("beebeebrain.v1.TaskStatus")
    event = text("Event")
    assert "  oneof payload {\n    .beebeebrain.v1.TaskStatusChanged task_status_changed = 10" in event
    assert "    .beebeebrain.v1.CustomEvent custom = 21 [json_name = \"custom\"];\n  }\n}\n" in event


def test_describe_of_an_unknown_name_exits_2_with_close_matches():
    rc, out, err = run("describe", "Tsk", url=NOWHERE)
    assert rc == 2 and out == "" and "close matches: Task" in err, err
    rc, _, err = run("describe", "TaskService/GetTsk", url=NOWHERE)
    assert rc == 2 and "close matches: GetTask" in err, err


def test_descriptor_set_out_to_an_unwritable_path_exits_2(tmp_path):
    rc, _, err = run("describe", "--descriptor-set-out", tmp_path / "no" / "such" / "dir", url=NOWHERE)
    assert rc == 2 and "cannot write" in err, err
