"""The HTTP listener (docs/protocol.md, "HTTP"): Connect unary calls with
application/proto bodies through the same dispatcher as nng, /healthz and
/readyz, the API key headers, X-Trace-ID, the access log and the limits, over
real HTTP (http.client and raw sockets) against the real server."""

import base64
import http.client
import json
import socket
import subprocess
import threading
import time

import pytest

from conftest import BIN, START_TIMEOUT_S, Server, child_env, free_port, wait_until
from beebeebrain.v1 import admin_pb2, common_pb2, health_pb2, project_pb2, rpc_pb2, task_pb2

KEY = "http-test-key-0123456789"
PROTO = {"Content-Type": "application/proto", "Connect-Protocol-Version": "1"}


def conn(srv, timeout=10):
    return http.client.HTTPConnection("127.0.0.1", srv.http_port, timeout=timeout)


def call(srv, service, method, msg, headers=None, c=None):
    """POST /beebeebrain.v1.<service>/<method> with msg packed; returns
    (status, headers as a dict with lower-case names, body bytes)."""
    own = c is None
    c = c or conn(srv)
    try:
        c.request("POST", f"/beebeebrain.v1.{service}/{method}", body=msg.SerializeToString(),
                  headers={**PROTO, **(headers or {})})
        r = c.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        if own:
            c.close()


def ok(srv, service, method, msg, out_type, headers=None, c=None):
    status, h, body = call(srv, service, method, msg, headers, c)
    assert status == 200, (status, body)
    assert h["content-type"] == "application/proto"
    return out_type.FromString(body)


def error(status_and_body):
    """The Connect error body, with its RpcResponse detail decoded."""
    status, h, body = status_and_body
    assert h["content-type"] == "application/json", (status, h, body)
    err = json.loads(body)
    (detail,) = err["details"]
    assert detail["type"] == "beebeebrain.v1.RpcResponse"
    value = detail["value"]
    env = rpc_pb2.RpcResponse.FromString(base64.b64decode(value + "=" * (-len(value) % 4)))
    return status, err, env, h


def get(srv, path, headers=None):
    c = conn(srv)
    try:
        c.request("GET", path, headers=headers or {})
        r = c.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        c.close()


@pytest.fixture
def keyed(db_path, rpc_url):
    srv = Server(db_path, rpc_url, env={"BEEBEEBRAIN_API_KEY": KEY}).start()
    yield srv
    assert srv.stop() == 0, srv.log()


# ---- /healthz and /readyz

def test_healthz_answers_ok_with_the_service_and_env(server):
    status, h, body = get(server, "/healthz")
    assert status == 200 and h["content-type"] == "application/json"
    doc = json.loads(body)
    assert doc["status"] == "ok" and doc["service"] == "beebeebrain" and doc["env"] == "local"
    assert h["x-trace-id"].startswith("trace-http-")


def test_readyz_answers_ready_with_every_check_of_ready(server, cli):
    status, _, body = get(server, "/readyz")
    doc = json.loads(body)
    assert status == 200 and doc["status"] == "ready", doc
    assert doc["checks"]["configuration"] == "ok"
    # The same checks `beebeebrain ready` shows, from the same handler.
    names = {c["name"] for c in cli.json("ready")["checks"]}
    assert names and names <= set(doc["checks"]), (names, doc)


def test_readyz_is_503_not_ready_when_a_project_root_is_not_writable(server, client, tmp_path):
    root = tmp_path / "gone"
    root.mkdir()
    client.call("ProjectService", "CreateProject", project_pb2.CreateProjectRequest(name="p", root_path=str(root)),
                project_pb2.CreateProjectResponse)
    root.rmdir()
    status, _, body = get(server, "/readyz")
    doc = json.loads(body)
    assert status == 503 and doc["status"] == "not_ready", doc
    assert doc["checks"]["workspace"].startswith("failed: "), doc


def test_health_paths_stay_open_when_a_key_is_set_and_connect_calls_need_it(keyed):
    assert get(keyed, "/healthz")[0] == 200
    assert get(keyed, "/readyz")[0] == 200
    status, err, env, _ = error(call(keyed, "ProjectService", "ListProjects", project_pb2.ListProjectsRequest()))
    assert status == 401 and err["code"] == "unauthenticated" and env.reason == "UNAUTHORIZED"
    status, err, env, _ = error(call(keyed, "ProjectService", "ListProjects", project_pb2.ListProjectsRequest(),
                                     {"Authorization": "Bearer wrong-key-0123456789"}))
    assert status == 401 and env.reason == "UNAUTHORIZED"
    for h in ({"Authorization": f"Bearer {KEY}"}, {"X-API-Key": KEY}):
        ok(keyed, "ProjectService", "ListProjects", project_pb2.ListProjectsRequest(),
           project_pb2.ListProjectsResponse, h)
    # HealthService is public over Connect too, as over nng.
    ok(keyed, "HealthService", "Check", health_pb2.CheckRequest(), health_pb2.CheckResponse)


def test_a_refused_key_is_audited_as_on_the_rpc_path(keyed, tmp_path):
    call(keyed, "ProjectService", "ListProjects", project_pb2.ListProjectsRequest(), {"X-API-Key": "nope-nope-nope"})
    p = subprocess.run([BIN, "--rpc", keyed.url, "-o", "json", "events", "--type", "security.audit.denied"],
                       capture_output=True, text=True, timeout=30, cwd=tmp_path,
                       env={**child_env(), "BEEBEEBRAIN_API_KEY": KEY})
    assert p.returncode == 0, p.stderr
    assert "ListProjects" in p.stdout, p.stdout


# ---- Connect unary calls

def test_create_project_task_and_get_task_over_connect_proto(server, workspace):
    project = ok(server, "ProjectService", "CreateProject",
                 project_pb2.CreateProjectRequest(name="web", root_path=str(workspace)),
                 project_pb2.CreateProjectResponse).project
    assert project.id > 0 and project.name == "web"
    task = ok(server, "TaskService", "CreateTask",
              task_pb2.CreateTaskRequest(project_id=project.id, title="over http", priority=2),
              task_pb2.CreateTaskResponse).task
    got = ok(server, "TaskService", "GetTask", task_pb2.GetTaskRequest(task_id=task.id),
             task_pb2.GetTaskResponse).task
    assert (got.id, got.title, got.priority, got.project_id) == (task.id, "over http", 2, project.id)


def test_calls_over_http_and_nng_see_the_same_data(server, client, workspace):
    created = client.call("ProjectService", "CreateProject",
                          project_pb2.CreateProjectRequest(name="shared", root_path=str(workspace)),
                          project_pb2.CreateProjectResponse).project
    listed = ok(server, "ProjectService", "ListProjects", project_pb2.ListProjectsRequest(),
                project_pb2.ListProjectsResponse)
    assert [p.id for p in listed.projects] == [created.id]


def test_an_unknown_method_is_404_unimplemented(server):
    status, err, env, h = error(call(server, "TaskService", "NoSuchMethod", task_pb2.GetTaskRequest()))
    assert status == 404 and err["code"] == "unimplemented" and env.reason == "UNKNOWN_METHOD"
    status, err, env, _ = error(call(server, "NoService", "Get", task_pb2.GetTaskRequest()))
    assert status == 404 and env.reason == "UNKNOWN_METHOD"


def test_a_body_that_does_not_decode_is_400_invalid_argument(server):
    c = conn(server)
    c.request("POST", "/beebeebrain.v1.TaskService/GetTask", body=b"\xff\xff\xff\xff", headers=PROTO)
    r = c.getresponse()
    status, err, env, _ = error((r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()))
    assert status == 400 and err["code"] == "invalid_argument" and env.reason == "MALFORMED_REQUEST"


def test_a_validation_error_carries_its_reason_and_violations_in_details(server):
    status, err, env, _ = error(call(server, "ProjectService", "CreateProject",
                                     project_pb2.CreateProjectRequest(name="", root_path="relative/path")))
    assert status == 400 and err["code"] == "invalid_argument"
    assert env.code == 3 and env.reason == "VALIDATION_ERROR"
    assert {v.field for v in env.violations} >= {"name", "root_path"}, env
    debug = err["details"][0]["debug"]
    assert debug["reason"] == "VALIDATION_ERROR" and debug["violations"], debug


def test_not_found_maps_to_404_not_found(server):
    status, err, env, _ = error(call(server, "TaskService", "GetTask", task_pb2.GetTaskRequest(task_id=999)))
    assert status == 404 and err["code"] == "not_found" and env.reason == "TASK_NOT_FOUND"


def test_other_media_types_are_415_with_the_accepted_ones(server):
    for ctype in ("text/plain", "application/connect+proto", None):
        c = conn(server)
        c.request("POST", "/beebeebrain.v1.HealthService/Check", body=b"{}",
                  headers={"Content-Type": ctype} if ctype else {})
        r = c.getresponse()
        r.read()
        assert r.status == 415, ctype
        assert r.getheader("Accept-Post") == "application/proto, application/json"


def post_json(srv, service, method, body, headers=None):
    """POST a JSON body (text); returns (status, headers, parsed body)."""
    c = conn(srv)
    try:
        c.request("POST", f"/beebeebrain.v1.{service}/{method}", body=body.encode(),
                  headers={"Content-Type": "application/json", **(headers or {})})
        r = c.getresponse()
        h = {k.lower(): v for k, v in r.getheaders()}
        data = r.read()
        assert h["content-type"] == "application/json", (r.status, h)
        return r.status, h, json.loads(data)
    finally:
        c.close()


def test_create_project_task_and_get_task_over_connect_json(server, workspace):
    status, _, doc = post_json(server, "ProjectService", "CreateProject",
                               json.dumps({"name": "js", "rootPath": str(workspace)}))
    assert status == 200, doc
    pid = doc["project"]["id"]
    status, _, doc = post_json(server, "TaskService", "CreateTask",
                               json.dumps({"project_id": pid, "title": "from json", "priority": 4}))
    assert status == 200, doc
    tid = doc["task"]["id"]
    assert isinstance(tid, str)  # int64 as a string, as the proto3 JSON mapping writes it
    status, _, doc = post_json(server, "TaskService", "GetTask", json.dumps({"taskId": tid}))
    assert status == 200 and doc["task"]["title"] == "from json" and doc["task"]["priority"] == 4
    assert doc["task"]["status"] == "TASK_STATUS_TODO"
    # An empty body is the empty message, as Connect clients send it.
    status, _, doc = post_json(server, "HealthService", "Check", "")
    assert status == 200 and doc["status"] == "ok"


def test_json_the_decoder_refuses_is_a_validation_error_naming_the_field(server):
    status, _, err = post_json(server, "TaskService", "GetTask", '{"task_id": "1", "nope": 1}')
    assert status == 400 and err["code"] == "invalid_argument"
    debug = err["details"][0]["debug"]
    assert debug["reason"] == "VALIDATION_ERROR" and debug["violations"][0]["field"] == "nope", debug
    status, _, err = post_json(server, "TaskService", "GetTask", '{"task_id": ')
    assert status == 400 and err["details"][0]["debug"]["reason"] == "MALFORMED_REQUEST"


def test_json_of_a_refused_key_is_401_before_it_is_judged(keyed):
    """The key is checked (and the refusal audited) before the body is: bad
    JSON without the key says nothing about the body."""
    status, _, err = post_json(keyed, "TaskService", "GetTask", '{"nope": 1}')
    assert status == 401 and err["code"] == "unauthenticated"
    status, _, err = post_json(keyed, "TaskService", "GetTask", '{"nope": 1}', {"X-API-Key": KEY})
    assert status == 400 and err["details"][0]["debug"]["reason"] == "VALIDATION_ERROR"


def test_json_errors_of_the_handler_are_connect_errors(server):
    status, _, err = post_json(server, "TaskService", "GetTask", '{"taskId": "4242"}')
    assert status == 404 and err["code"] == "not_found"
    assert err["details"][0]["debug"]["reason"] == "TASK_NOT_FOUND"
    status, _, err = post_json(server, "TaskService", "Nope", "{}")
    assert status == 404 and err["code"] == "unimplemented"


def test_bad_connect_headers_are_400(server):
    for h in ({"Connect-Protocol-Version": "2"}, {"Connect-Timeout-Ms": "soon"},
              {"Connect-Timeout-Ms": "12345678901"}, {"Content-Encoding": "gzip"}):
        status, err, env, _ = error(call(server, "HealthService", "Check", health_pb2.CheckRequest(), h))
        assert status == 400 and env.reason == "MALFORMED_REQUEST", h


def test_get_on_a_connect_path_is_405_and_unknown_paths_404(server):
    status, h, body = get(server, "/beebeebrain.v1.HealthService/Check")
    assert status == 405 and h["allow"] == "POST" and json.loads(body) == {"detail": "Method Not Allowed"}
    status, h, body = get(server, "/api/v1/nothing")
    assert status == 404 and json.loads(body) == {"detail": "Not Found"}
    assert h["x-trace-id"].startswith("trace-http-")


def test_connect_timeout_is_the_calls_deadline(db_path, rpc_url):
    """A write queued behind a held database lock starts after its deadline:
    DEADLINE_EXCEEDED (504), as over nng with timeout_ms."""
    srv = Server(db_path, rpc_url, extra_args=["--enable-fault-injection"]).start()
    try:
        ok(srv, "AdminService", "InjectFault", admin_pb2.InjectFaultRequest(mode="db_lock", duration_ms=2500),
           admin_pb2.InjectFaultResponse)
        first = threading.Thread(target=call, args=(srv, "ProjectService", "CreateProject",
                                                    project_pb2.CreateProjectRequest(name="a", root_path="/tmp/a")))
        first.start()
        time.sleep(0.4)  # the first write now waits for the lock
        status, err, env, _ = error(call(srv, "ProjectService", "CreateProject",
                                         project_pb2.CreateProjectRequest(name="b", root_path="/tmp/b"),
                                         {"Connect-Timeout-Ms": "300"}))
        first.join()
        assert status == 504 and err["code"] == "deadline_exceeded" and env.reason == "DEADLINE_EXCEEDED"
    finally:
        assert srv.stop() == 0, srv.log()


# ---- trace ids and the access log

def test_trace_id_is_echoed_on_success_and_on_errors(server):
    _, h, _ = call(server, "HealthService", "Check", health_pb2.CheckRequest(), {"X-Trace-ID": "t-ok.1"})
    assert h["x-trace-id"] == "t-ok.1"
    status, _, env, h = error(call(server, "TaskService", "GetTask", task_pb2.GetTaskRequest(task_id=5),
                                   {"X-Trace-ID": "t-err:2"}))
    assert status == 404 and h["x-trace-id"] == "t-err:2" and env.trace_id == "t-err:2"
    assert get(server, "/healthz", {"X-Trace-ID": "t-health"})[1]["x-trace-id"] == "t-health"
    assert get(server, "/nowhere", {"X-Trace-ID": "t-404"})[1]["x-trace-id"] == "t-404"


def test_an_invalid_trace_id_is_refused_as_on_the_rpc_path(server):
    status, err, env, h = error(call(server, "HealthService", "Check", health_pb2.CheckRequest(),
                                     {"X-Trace-ID": "x" * 65}))
    assert status == 400 and env.reason == "VALIDATION_ERROR" and env.violations[0].field == "trace_id"
    assert h["x-trace-id"].startswith("trace-") and h["x-trace-id"] == env.trace_id
    # /healthz answers anyway, with a fresh id.
    status, h, _ = get(server, "/healthz", {"X-Trace-ID": "bad id!"})
    assert status == 200 and h["x-trace-id"].startswith("trace-http-")


def test_each_request_writes_one_json_access_log_line(server):
    call(server, "TaskService", "GetTask", task_pb2.GetTaskRequest(task_id=77), {"X-Trace-ID": "t-log-1"})

    def line():
        for raw in server.log().splitlines():
            if '"logger":"http"' in raw and "t-log-1" in raw:
                return json.loads(raw)
        return None
    rec = wait_until(line, 5, "the access log line")
    assert rec["method"] == "POST" and rec["path"] == "/beebeebrain.v1.TaskService/GetTask"
    assert rec["status"] == 404 and rec["trace_id"] == "t-log-1"
    assert rec["bytes"] > 0 and rec["duration_ms"] >= 0 and rec["peer"].startswith("127.0.0.1:")


def test_the_api_key_never_reaches_the_access_log(keyed):
    call(keyed, "ProjectService", "ListProjects", project_pb2.ListProjectsRequest(), {"X-API-Key": KEY})
    get(keyed, f"/healthz?key={KEY}")
    wait_until(lambda: keyed.log().count('"logger":"http"') >= 2, 5, "two access log lines")
    assert KEY not in keyed.log()


# ---- limits and connections

def test_a_body_over_the_request_limit_is_413_before_it_is_read(server):
    """Content-Length over 4 MiB: answered from the headers alone (the client
    need not send the body), and the connection closes."""
    with socket.create_connection(("127.0.0.1", server.http_port), timeout=10) as s:
        s.sendall(b"POST /beebeebrain.v1.HealthService/Check HTTP/1.1\r\nHost: x\r\n"
                  b"Content-Type: application/proto\r\nContent-Length: %d\r\n\r\n" % ((4 << 20) + 1))
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413"), head
    err = json.loads(body)
    assert err["code"] == "resource_exhausted" and err["details"][0]["debug"]["reason"] == "MESSAGE_TOO_LARGE"


def test_a_body_of_exactly_the_limit_is_read_and_decoded(server):
    status, err, env, _ = error(_post_raw(server, b"\xff" * (4 << 20)))
    assert status == 400 and env.reason == "MALFORMED_REQUEST"


def test_a_chunked_body_over_the_limit_closes_the_connection(server):
    with socket.create_connection(("127.0.0.1", server.http_port), timeout=30) as s:
        s.sendall(b"POST /beebeebrain.v1.HealthService/Check HTTP/1.1\r\nHost: x\r\n"
                  b"Content-Type: application/proto\r\nTransfer-Encoding: chunked\r\n\r\n")
        chunk = b"%x\r\n" % (1 << 20) + b"\0" * (1 << 20) + b"\r\n"
        try:
            for _ in range(6):
                s.sendall(chunk)
            s.sendall(b"0\r\n\r\n")
            assert s.recv(64) == b""
        except (BrokenPipeError, ConnectionResetError):
            pass
    assert get(server, "/healthz")[0] == 200


def _post_raw(srv, body):
    c = conn(srv, timeout=30)
    try:
        c.request("POST", "/beebeebrain.v1.HealthService/Check", body=body, headers=PROTO)
        r = c.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        c.close()


def _raw_status(srv, data):
    with socket.create_connection(("127.0.0.1", srv.http_port), timeout=10) as s:
        s.sendall(data)
        return s.recv(256).split(b"\r\n")[0]


def test_headers_up_to_16_kib_are_taken_and_larger_ones_are_431(server):
    head = b"GET /healthz HTTP/1.1\r\nHost: x\r\n"
    small = head + b"X-Pad: " + b"a" * (16 * 1024 - 200) + b"\r\n\r\n"
    large = head + b"X-Pad: " + b"a" * (16 * 1024 + 10) + b"\r\n\r\n"
    assert b" 200 " in _raw_status(server, small)
    assert b" 431 " in _raw_status(server, large)
    assert get(server, "/healthz")[0] == 200


def test_several_calls_share_one_keep_alive_connection(server, workspace):
    c = conn(server)
    ok(server, "HealthService", "Check", health_pb2.CheckRequest(), health_pb2.CheckResponse, c=c)
    sock = c.sock
    project = ok(server, "ProjectService", "CreateProject",
                 project_pb2.CreateProjectRequest(name="ka", root_path=str(workspace)),
                 project_pb2.CreateProjectResponse, c=c).project
    for i in range(5):
        ok(server, "TaskService", "CreateTask", task_pb2.CreateTaskRequest(project_id=project.id, title=f"t{i}"),
           task_pb2.CreateTaskResponse, c=c)
    # An error answer keeps the connection too.
    assert call(server, "TaskService", "GetTask", task_pb2.GetTaskRequest(task_id=999), c=c)[0] == 404
    listed = ok(server, "TaskService", "ListTasks", task_pb2.ListTasksRequest(project_id=project.id),
                task_pb2.ListTasksResponse, c=c)
    assert len(listed.tasks) == 5
    assert c.sock is sock  # never reconnected
    c.close()
    peers = {json.loads(raw)["peer"] for raw in server.log().splitlines()
             if '"logger":"http"' in raw and '"peer"' in raw}
    assert len(peers) == 1, peers


def test_slow_clients_hold_no_worker(server):
    """More slow clients than workers (headers half sent, or a body half sent)
    while normal calls go on: each still answers at once."""
    slow = []
    try:
        for i in range(12):
            s = socket.create_connection(("127.0.0.1", server.http_port), timeout=10)
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            slow.append(s)
        for i in range(12):
            s = socket.create_connection(("127.0.0.1", server.http_port), timeout=10)
            s.sendall(b"POST /beebeebrain.v1.HealthService/Check HTTP/1.1\r\nHost: x\r\n"
                      b"Content-Type: application/proto\r\nContent-Length: 100\r\n\r\nabc")
            slow.append(s)
        for _ in range(10):
            ok(server, "HealthService", "Check", health_pb2.CheckRequest(), health_pb2.CheckResponse)
            assert get(server, "/readyz")[0] == 200
        # The slow ones still finish when they send the rest.
        slow[0].sendall(b"1\r\n\r\n")
        assert slow[0].recv(64).startswith(b"HTTP/1.1 200")
    finally:
        for s in slow:
            s.close()


def _keep_alive_healthz(s):
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(4096)
        if not chunk:
            return None
        head += chunk
    return int(head.split(b" ", 2)[1])


def test_a_connection_past_the_limit_waits_until_one_closes(server):
    """1024 open connections per listener (each proven accepted by a call it
    keeps alive): the next one is not taken (it waits in the listen backlog,
    nothing is dropped) while the open ones keep working; once one closes, it
    is served."""
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 1200:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4096), hard))
    conns = []
    extra = None
    try:
        for _ in range(1024):
            s = socket.create_connection(("127.0.0.1", server.http_port), timeout=10)
            conns.append(s)
            assert _keep_alive_healthz(s) == 200
        extra = socket.create_connection(("127.0.0.1", server.http_port), timeout=1)
        with pytest.raises(TimeoutError):
            _keep_alive_healthz(extra)
        assert _keep_alive_healthz(conns[0]) == 200  # the open ones still work
        conns.pop().close()
        extra.settimeout(10)
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = extra.recv(4096)
            assert chunk, "the waiting connection was closed"
            head += chunk
        assert head.startswith(b"HTTP/1.1 200")
    finally:
        for s in conns:
            s.close()
        if extra is not None:
            extra.close()


# ---- configuration

def test_http_none_turns_the_listener_off(db_path, rpc_url):
    srv = Server(db_path, rpc_url, http=False).start()
    try:
        assert "serving HTTP" not in srv.log()
    finally:
        assert srv.stop() == 0


def test_the_http_url_variable_sets_the_listener(db_path, rpc_url):
    port = free_port()
    subprocess.run([BIN, "migrate", "up", "--db", str(db_path)], check=True, capture_output=True, env=child_env())
    # No --http flag: the variable decides.
    p = subprocess.Popen([BIN, "serve", "--db", str(db_path), "--rpc", rpc_url,
                          "--events", f"tcp://127.0.0.1:{free_port()}"], stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, env={**child_env(), "BEEBEEBRAIN_HTTP_URL": f"http://127.0.0.1:{port}"})
    try:
        wait_until(lambda: p.poll() is not None or _healthz_ok(port), START_TIMEOUT_S, "/healthz on the variable's URL")
        assert p.poll() is None
    finally:
        p.terminate()
        assert p.wait(timeout=10) == 0


def _healthz_ok(port):
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        c.request("GET", "/healthz")
        return c.getresponse().status == 200
    except OSError:
        return False


@pytest.mark.parametrize("value", ["ftp://127.0.0.1:1", "http://127.0.0.1", "tcp://127.0.0.1:5", "http://:80"])
def test_an_invalid_http_url_stops_serve_at_start(db_path, value):
    p = subprocess.run([BIN, "serve", "--db", str(db_path), "--rpc", f"tcp://127.0.0.1:{free_port()}",
                        "--http", value], capture_output=True, text=True, timeout=30, env=child_env())
    assert p.returncode == 2 and "--http" in p.stderr, p.stderr


def test_http_none_with_a_url_is_refused(db_path):
    p = subprocess.run([BIN, "serve", "--db", str(db_path), "--rpc", f"tcp://127.0.0.1:{free_port()}",
                        "--http", "none", "--http", "http://127.0.0.1:1"], capture_output=True, text=True,
                       timeout=30, env=child_env())
    assert p.returncode == 2 and "none" in p.stderr, p.stderr


def test_the_readme_run_command_serves_healthz_on_the_default_port(tmp_path):
    """scripts/run.sh runs `serve` with the embedded defaults: /healthz on
    http://127.0.0.1:7422. The RPC and event ports are moved off theirs (only
    the HTTP default is under test), and no BEEBEEBRAIN_HTTP_URL is set."""
    env = {k: v for k, v in child_env().items() if k != "BEEBEEBRAIN_HTTP_URL"}
    assert not _healthz_ok(7422), "something already answers on the default HTTP port 7422"
    p = subprocess.Popen([BIN, "serve", "--rpc", f"tcp://127.0.0.1:{free_port()}",
                          "--events", f"tcp://127.0.0.1:{free_port()}"], cwd=tmp_path,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    try:
        wait_until(lambda: p.poll() is not None or _healthz_ok(7422), START_TIMEOUT_S, "/healthz on port 7422")
        assert p.poll() is None
    finally:
        p.terminate()
        assert p.wait(timeout=10) == 0


# ---- calls that wait (RunTask with wait)

def test_run_task_with_wait_over_http_answers_with_the_final_run(tmp_path, rpc_url):
    srv = Server(tmp_path / "new.db", rpc_url, seeded=True).start()  # project "default", echo agent 1
    try:
        task = ok(srv, "TaskService", "CreateTask", task_pb2.CreateTaskRequest(title="hello", assignee_agent_id=1),
                  task_pb2.CreateTaskResponse).task
        run = ok(srv, "TaskService", "RunTask", task_pb2.RunTaskRequest(task_id=task.id, prompt="hi", wait=True),
                 task_pb2.RunTaskResponse, {"Connect-Timeout-Ms": "60000"}).run
        assert run.output_text == "echo: hi" and common_pb2.RunStatus.Name(run.run_status) == "RUN_STATUS_SUCCEEDED"
    finally:
        assert srv.stop() == 0, srv.log()


def test_waiting_calls_hold_no_http_worker_and_are_answered_at_shutdown(tmp_path, workspace, rpc_url):
    """4 workers, the runtime off: 6 RunTask calls waiting over HTTP still
    leave Connect calls and /healthz answering; stopping the server answers
    them with their runs as they are."""
    srv = Server(tmp_path / "w.db", rpc_url, extra_args=["--workers", "4"],
                 env={"BEEBEEBRAIN_RUNTIME": "off"}).start()
    answers = []
    try:
        ok(srv, "ProjectService", "CreateProject",
           project_pb2.CreateProjectRequest(name="default", root_path=str(workspace)),
           project_pb2.CreateProjectResponse)
        waiters = []
        for i in range(6):
            task = ok(srv, "TaskService", "CreateTask", task_pb2.CreateTaskRequest(title=f"w{i}"),
                      task_pb2.CreateTaskResponse).task
            req = task_pb2.RunTaskRequest(task_id=task.id, prompt="x", provider="echo", wait=True)
            t = threading.Thread(target=lambda r=req: answers.append(call(srv, "TaskService", "RunTask", r)))
            t.start()
            waiters.append(t)
        time.sleep(0.5)
        assert not answers  # all still waiting
        for _ in range(5):
            ok(srv, "HealthService", "Check", health_pb2.CheckRequest(), health_pb2.CheckResponse)
            assert get(srv, "/healthz")[0] == 200
    finally:
        assert srv.stop() == 0, srv.log()
        for t in waiters:
            t.join(timeout=10)
    assert len(answers) == 6
    for status, _, body in answers:
        assert status == 200
        assert common_pb2.RunStatus.Name(task_pb2.RunTaskResponse.FromString(body).run.run_status) == "RUN_STATUS_QUEUED"
