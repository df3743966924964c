"""Event streams over HTTP (docs/events.md, "Over HTTP"): the original API's
SSE route GET /api/v1/events/stream and POST /api/v1/events, and Connect
server streaming (EventService/Subscribe) with both codecs, against the real
server over real sockets."""

import http.client
import json
import struct

import pytest

from conftest import Client, Server
from beebeebrain.v1 import event_pb2, project_pb2, rpc_pb2, task_pb2

ERR_UNIMPLEMENTED = 12


def conn(srv, timeout=20):
    return http.client.HTTPConnection("127.0.0.1", srv.http_port, timeout=timeout)


def get(srv, query="", headers=None):
    """A request that is answered at once: (status, headers, JSON body)."""
    c = conn(srv)
    try:
        c.request("GET", "/api/v1/events/stream" + query, headers=headers or {})
        r = c.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, json.loads(r.read())
    finally:
        c.close()


class Sse:
    """An open SSE stream: frames() reads whole frames as dicts."""

    def __init__(self, srv, query="", headers=None):
        self.c = conn(srv)
        self.c.request("GET", "/api/v1/events/stream" + query, headers=headers or {})
        self.r = self.c.getresponse()
        self.status = self.r.status
        self.headers = {k.lower(): v for k, v in self.r.getheaders()}

    def frame(self):
        """The next frame: {"id","event","data"} or {"comment"}; None at the end."""
        f = {}
        while True:
            line = self.r.readline()
            if line == b"":
                return None
            line = line.decode().rstrip("\n")
            if line == "":
                return f
            if line.startswith(":"):
                f["comment"] = line[1:].strip()
            else:
                k, v = line.split(": ", 1)
                f[k] = v

    def events(self, n):
        out = []
        while len(out) < n:
            f = self.frame()
            assert f is not None, f"stream ended after {len(out)} events"
            if "id" in f:
                out.append(f)
        return out

    def rest(self):
        out = []
        while (f := self.frame()) is not None:
            out.append(f)
        return out

    def close(self):
        self.c.close()


def post_event(srv, body):
    c = conn(srv)
    try:
        c.request("POST", "/api/v1/events", body=json.dumps(body), headers={"Content-Type": "application/json"})
        r = c.getresponse()
        return r.status, json.loads(r.read())
    finally:
        c.close()


@pytest.fixture
def project(client, workspace):
    return client.call("ProjectService", "CreateProject",
                       project_pb2.CreateProjectRequest(name="p", root_path=str(workspace)),
                       project_pb2.CreateProjectResponse).project


def create_tasks(client, project_id, n, prefix="t"):
    for i in range(n):
        client.call("TaskService", "CreateTask", task_pb2.CreateTaskRequest(project_id=project_id, title=f"{prefix}{i}"),
                    task_pb2.CreateTaskResponse)


def head_id(client):
    return client.call("EventService", "StreamInfo", event_pb2.StreamInfoRequest(),
                       event_pb2.StreamInfoResponse).head_id


@pytest.mark.parametrize("name,bad", [
    ("project_id", "0"), ("project_id", "x"), ("last_event_id", "0"), ("replay_last", "-1"),
    ("replay_last", "501"), ("max_events", "0"), ("max_events", "1001"), ("batch_size", "0"),
    ("batch_size", "201"), ("poll_interval_ms", "99"), ("poll_interval_ms", "5001"),
    ("heartbeat_seconds", "4"), ("heartbeat_seconds", "61"), ("heartbeat_seconds", "1.5"),
])
def test_each_query_parameter_out_of_range_is_422_naming_it(server, name, bad):
    status, headers, body = get(server, f"?{name}={bad}")
    assert status == 422, body
    assert body["error"]["code"] == "VALIDATION_ERROR"
    assert [i["field"] for i in body["error"]["issues"]] == [f"query.{name}"]
    assert headers["x-trace-id"].startswith("trace-http-")


def test_last_event_id_header_must_be_a_positive_integer_equal_to_the_query(server):
    for bad in ("abc", "0", "-3"):
        status, _, body = get(server, "", {"Last-Event-ID": bad})
        assert (status, body["error"]["code"]) == (422, "INVALID_LAST_EVENT_ID")
    status, _, body = get(server, "?last_event_id=4", {"Last-Event-ID": "5"})
    assert (status, body["error"]["code"]) == (422, "INVALID_LAST_EVENT_ID")


def test_without_cursor_the_stream_replays_the_whole_history_in_order_then_closes(server, client, project):
    create_tasks(client, project.id, 3)
    head = head_id(client)
    s = Sse(server, f"?max_events={head}", {"X-Trace-ID": "sse-trace-1"})
    assert s.status == 200
    assert s.headers["content-type"].startswith("text/event-stream")
    assert s.headers["x-trace-id"] == "sse-trace-1"
    frames = s.rest()
    s.close()
    assert [int(f["id"]) for f in frames] == list(range(1, head + 1))
    for f in frames:
        rec = json.loads(f["data"])
        assert rec["id"] == int(f["id"]) and rec["event_type"] == f["event"]
        assert set(rec) >= {"id", "project_id", "event_type", "category", "payload", "created_at", "trace_id"}
    created = [json.loads(f["data"]) for f in frames if f["event"] == "task.status.changed"]
    assert len(created) == 3
    assert created[0]["category"] == "task_status" and created[0]["project_id"] == project.id
    assert created[0]["payload"]["to_status"] == "TASK_STATUS_TODO"


def test_replay_last_starts_with_the_last_n_and_a_cursor_wins_over_it(server, client, project):
    create_tasks(client, project.id, 4)
    head = head_id(client)
    s = Sse(server, "?replay_last=2&max_events=2")
    assert [int(f["id"]) for f in s.rest()] == [head - 1, head]
    s.close()
    s = Sse(server, "?replay_last=2&last_event_id=3&max_events=2")
    assert [int(f["id"]) for f in s.rest()] == [4, 5]
    s.close()
    s = Sse(server, "?replay_last=2&max_events=1", {"Last-Event-ID": "1"})
    assert [int(f["id"]) for f in s.rest()] == [2]
    s.close()


def test_project_id_filters_the_stream(server, client, project, tmp_path):
    (tmp_path / "other").mkdir()
    other = client.call("ProjectService", "CreateProject",
                        project_pb2.CreateProjectRequest(name="q", root_path=str(tmp_path / "other")),
                        project_pb2.CreateProjectResponse).project
    create_tasks(client, other.id, 2)
    create_tasks(client, project.id, 1)
    s = Sse(server, f"?project_id={project.id}&max_events=1")
    (f,) = s.rest()
    s.close()
    assert json.loads(f["data"])["project_id"] == project.id and f["event"] == "task.status.changed"


def test_live_events_arrive_and_a_reconnect_with_the_last_id_loses_and_repeats_nothing(server, client, project):
    start = head_id(client)
    s = Sse(server, f"?last_event_id={start}" if start else "")
    create_tasks(client, project.id, 3, "live")
    first = s.events(4)
    s.close()
    create_tasks(client, project.id, 3, "gap")  # while nobody listens
    last = int(first[-1]["id"])
    total = head_id(client) - start
    s = Sse(server, f"?max_events={total - 4}", {"Last-Event-ID": str(last)})
    second = s.rest()
    s.close()
    ids = [int(f["id"]) for f in first + second]
    assert ids == list(range(start + 1, start + total + 1))


def test_a_heartbeat_comment_comes_when_no_event_does(server, client):
    # The first one at once (nothing to replay: the headers go out with it),
    # the next after heartbeat_seconds without events.
    s = Sse(server, f"?heartbeat_seconds=5&last_event_id={head_id(client) + 100}")
    assert s.status == 200
    assert s.frame() == {"comment": "heartbeat"}
    assert s.frame() == {"comment": "heartbeat"}
    s.close()


def test_with_an_api_key_the_stream_needs_it(db_path, rpc_url):
    key = "stream-test-key-0123456789"
    srv = Server(db_path, rpc_url, env={"BEEBEEBRAIN_API_KEY": key}).start()
    try:
        status, _, body = get(srv, "?max_events=1")
        assert (status, body["error"]["code"]) == (401, "UNAUTHORIZED")
        status, _ = post_event(srv, {"project_id": 1, "event_type": "run.log", "payload": {}})
        assert status == 401
        s = Sse(srv, "?heartbeat_seconds=5", {"X-API-Key": key})
        assert s.status == 200
        # The whole history comes first: the refusals above are audited by a
        # background writer, so their events may or may not be in it yet.
        frames = []
        while {"comment": "heartbeat"} not in frames and len(frames) < 4:
            frames.append(s.frame())
        s.close()
        events = [f for f in frames if "comment" not in f]
        assert {"comment": "heartbeat"} in frames, frames
        assert all(f["event"] == "security.audit.denied" for f in events), events
    finally:
        assert srv.stop() == 0


def test_the_stream_continues_exactly_across_a_server_restart(server, client, project, db_path, rpc_url):
    create_tasks(client, project.id, 2)
    s = Sse(server, "")
    got = s.events(head_id(client))
    s.close()
    assert server.stop() == 0
    again = Server(db_path, rpc_url)
    again.http_port, again.http_url, again.events_url = server.http_port, server.http_url, server.events_url
    again.start()
    try:
        with Client(rpc_url, timeout=10) as c2:
            create_tasks(c2, project.id, 2, "after")
            head = head_id(c2)
        last = int(got[-1]["id"])
        s = Sse(again, f"?max_events={head - last}", {"Last-Event-ID": str(last)})
        after = s.rest()
        s.close()
        assert [int(f["id"]) for f in got + after] == list(range(1, head + 1))
    finally:
        assert again.stop() == 0


def test_post_event_stores_one_of_the_four_types_and_streams_it(server, project):
    status, rec = post_event(server, {"project_id": project.id, "event_type": "alert.raised",
                                      "payload": {"code": "X", "n": 1}, "trace_id": "body-trace"})
    assert status == 201
    assert (rec["event_type"], rec["category"], rec["payload"], rec["trace_id"]) == \
        ("alert.raised", "alert", {"code": "X", "n": 1}, "body-trace")
    s = Sse(server, f"?max_events=1&last_event_id={rec['id'] - 1}")
    (f,) = s.rest()
    s.close()
    assert json.loads(f["data"]) == rec


def test_post_event_refuses_an_unknown_project_and_other_types(server, project):
    status, body = post_event(server, {"project_id": 999, "event_type": "run.log", "payload": {}})
    assert (status, body["error"]["code"]) == (404, "PROJECT_NOT_FOUND")
    for t in ("operator.note", "task.created", 7):
        status, body = post_event(server, {"project_id": project.id, "event_type": t, "payload": {}})
        assert (status, body["error"]["code"]) == (422, "VALIDATION_ERROR")
        assert body["error"]["issues"][0]["field"] == "body.event_type"


# ---- Connect server streaming

def envelope(flags, data):
    return struct.pack(">BI", flags, len(data)) + data


def parse_envelopes(raw):
    out = []
    while raw:
        flags, n = struct.unpack(">BI", raw[:5])
        out.append((flags, raw[5:5 + n]))
        raw = raw[5 + n:]
    return out


def subscribe(srv, body, codec, headers=None):
    c = conn(srv)
    try:
        c.request("POST", "/beebeebrain.v1.EventService/Subscribe", body=envelope(0, body),
                  headers={"Content-Type": f"application/connect+{codec}", **(headers or {})})
        r = c.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, parse_envelopes(r.read())
    finally:
        c.close()


def test_connect_subscribe_streams_proto_messages_and_ends_with_an_empty_end_of_stream(server, client, project):
    create_tasks(client, project.id, 2)
    req = event_pb2.SubscribeRequest(after_id=0, type_prefix="task.status.", max_events=2)
    status, headers, msgs = subscribe(server, req.SerializeToString(), "proto", {"X-Trace-ID": "c-1"})
    assert status == 200 and headers["content-type"] == "application/connect+proto"
    assert headers["x-trace-id"] == "c-1"
    assert [f for f, _ in msgs] == [0, 0, 2]
    events = [event_pb2.SubscribeResponse.FromString(m).event for _, m in msgs[:2]]
    assert [e.event_type for e in events] == ["task.status.changed"] * 2
    assert events[0].id < events[1].id
    assert json.loads(msgs[2][1]) == {}


def test_connect_subscribe_over_json_resumes_after_an_id(server, client, project):
    create_tasks(client, project.id, 3)
    head = head_id(client)
    status, headers, msgs = subscribe(server, json.dumps({"afterId": str(head - 2), "maxEvents": 2}).encode(), "json")
    assert status == 200 and headers["content-type"] == "application/connect+json"
    ids = [int(json.loads(m)["event"]["id"]) for f, m in msgs if f == 0]
    assert ids == [head - 1, head]
    assert msgs[-1] == (2, b"{}")


def test_connect_subscribe_with_a_bad_argument_ends_with_an_error(server):
    req = event_pb2.SubscribeRequest(last_n=5000)
    status, _, msgs = subscribe(server, req.SerializeToString(), "proto")
    assert status == 200 and len(msgs) == 1 and msgs[0][0] == 2
    err = json.loads(msgs[0][1])["error"]
    assert err["code"] == "invalid_argument"
    detail = rpc_pb2.RpcResponse.FromString(__import__("base64").b64decode(err["details"][0]["value"] + "=="))
    assert detail.reason == "VALIDATION_ERROR" and detail.violations[0].field == "last_n"


def test_connect_subscribe_with_a_unary_content_type_is_415(server):
    c = conn(server)
    c.request("POST", "/beebeebrain.v1.EventService/Subscribe", body=b"",
              headers={"Content-Type": "application/proto"})
    assert c.getresponse().status == 415
    c.close()


def test_subscribe_over_nng_is_refused_clearly(client):
    env = rpc_pb2.RpcRequest(method="/beebeebrain.v1.EventService/Subscribe",
                             payload=event_pb2.SubscribeRequest().SerializeToString())
    r = rpc_pb2.RpcResponse.FromString(client.raw(env.SerializeToString()))
    assert (r.code, r.reason) == (ERR_UNIMPLEMENTED, "STREAMING_NOT_SUPPORTED")
    assert "HTTP" in r.message and "pub socket" in r.message


def test_connect_subscribe_live_starts_with_the_head_then_streams_new_events(server, client, project):
    head = head_id(client)
    c = conn(server)
    req = event_pb2.SubscribeRequest(after_id=head, type_prefix="task.", max_events=1)
    c.request("POST", "/beebeebrain.v1.EventService/Subscribe", body=envelope(0, req.SerializeToString()),
              headers={"Content-Type": "application/connect+proto"})
    r = c.getresponse()
    assert r.status == 200
    flags, n = struct.unpack(">BI", r.read(5))
    first = event_pb2.SubscribeResponse.FromString(r.read(n))
    assert flags == 0 and not first.HasField("event") and first.head_id == head
    create_tasks(client, project.id, 1)
    msgs = parse_envelopes(r.read())
    c.close()
    assert [f for f, _ in msgs] == [0, 2]
    assert event_pb2.SubscribeResponse.FromString(msgs[0][1]).event.event_type == "task.status.changed"


def test_connect_timeout_ends_the_stream_with_deadline_exceeded(server, client):
    body = json.dumps({"afterId": str(head_id(client) + 100)}).encode()
    status, _, msgs = subscribe(server, body, "json", {"Connect-Timeout-Ms": "300"})
    assert status == 200 and msgs[-1][0] == 2
    assert json.loads(msgs[-1][1])["error"]["code"] == "deadline_exceeded"


def test_a_stopping_server_ends_open_streams_cleanly(server, client):
    c = conn(server)
    req = event_pb2.SubscribeRequest(after_id=head_id(client) + 100)
    c.request("POST", "/beebeebrain.v1.EventService/Subscribe", body=envelope(0, req.SerializeToString()),
              headers={"Content-Type": "application/connect+proto"})
    r = c.getresponse()
    s = Sse(server, f"?last_event_id={head_id(client) + 100}")
    assert s.frame() == {"comment": "heartbeat"}
    assert server.stop() == 0
    msgs = parse_envelopes(r.read())
    c.close()
    assert msgs[-1][0] == 2 and json.loads(msgs[-1][1])["error"]["code"] == "unavailable"
    assert s.rest() == []
    s.close()
