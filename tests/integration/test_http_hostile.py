"""The HTTP listener against a hostile client or a buggy script
(docs/protocol.md, "HTTP" and "Limits of the HTTP listener"): malformed
requests, ambiguous body framing, %00 and non-UTF-8 bytes in the path, the
query and the headers, ids out of range, JSON bodies that are no message.
Every answer the server writes itself is a documented JSON envelope and no
5xx; the server keeps serving and stops with exit status 0. Answers that
libmicrohttpd writes before our code sees the request (a malformed request
line or Content-Length, a chunk size out of range, a URL over its memory)
are its own HTML and are only checked to be 4xx."""

import json
import socket

import pytest

from conftest import Server, free_port

CLOSE = [b"Host: x", b"Connection: close"]


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("hostile")
    s = Server(str(tmp / "h.db"), f"tcp://127.0.0.1:{free_port()}").start()
    yield s
    if s.running():
        assert s.stop() == 0, s.log()


def req(line, headers=CLOSE, body=b""):
    return line + b"\r\n" + b"".join(h + b"\r\n" for h in headers) + b"\r\n" + body


def post(path, body, headers=()):
    """A POST with its Content-Length, on a connection closed after it."""
    return req(b"POST " + path + b" HTTP/1.1", CLOSE + list(headers) + [b"Content-Length: %d" % len(body)], body)


def send(srv, data, timeout=10):
    """Sends raw bytes; returns what came back until the server closed."""
    with socket.create_connection(("127.0.0.1", srv.http_port), timeout=timeout) as s:
        s.sendall(data)
        out = b""
        while True:
            try:
                chunk = s.recv(65536)
            except (ConnectionResetError, socket.timeout):
                break
            if not chunk:
                break
            out += chunk
        return out


def parse(out):
    """The responses in out: [(status, headers, body)]."""
    res = []
    while out.startswith(b"HTTP/1."):
        head, _, rest = out.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        headers = {}
        for line in lines[1:]:
            k, _, v = line.partition(b":")
            headers[k.strip().lower().decode()] = v.strip().decode("latin1")
        n = int(headers.get("content-length", "0"))
        res.append((int(lines[0].split()[1]), headers, rest[:n]))
        out = rest[n:]
    return res


def envelope_ok(status, headers, body):
    """One of the documented error bodies: {"detail"}, Connect's, the REST one."""
    if status < 400:
        return True
    if not headers.get("content-type", "").startswith("application/json"):
        return False
    j = json.loads(body)
    if "detail" in j:
        return True
    if "error" in j:
        return {"code", "message", "issues"} <= set(j["error"])
    return "code" in j and j["details"][0]["type"] == "beebeebrain.v1.RpcResponse"


def one(srv, data):
    (res,) = parse(send(srv, data))
    status, headers, body = res
    assert status < 500 or status in (503, 504), (data[:80], res)
    assert envelope_ok(*res), (data[:80], res)
    return status, headers, body


def detail(body):
    e = json.loads(body)["error"]
    return e["code"], [(i["field"], i["message"]) for i in e["issues"]]


# Requests our code answers: each gets a documented envelope and no 5xx.
CORPUS = [
    req(b"OPTIONS /api/v1/tasks HTTP/1.1"),
    req(b"FOO /api/v1/tasks HTTP/1.1"),
    req(b"A" * 200 + b" /api/v1/tasks HTTP/1.1"),
    req(b"TRACE /healthz HTTP/1.1"),
    req(b"GET /api/v1/tasks/../../../etc/passwd HTTP/1.1"),
    req(b"GET /" + b"a" * 15000 + b" HTTP/1.1"),
    req(b"GET /api/v1/tasks?limit=abc&limit=1 HTTP/1.1"),
    req(b"GET /api/v1/tasks?limit=&offset= HTTP/1.1"),
    req(b"GET /api/v1/tasks/\xff HTTP/1.1"),
    req(b"GET /api/v1/tasks/%ff%c0 HTTP/1.1"),
    req(b"GET /api/v1/tasks/99999999999999999999 HTTP/1.1"),
    req(b"GET /api/v1/tasks/-9223372036854775808 HTTP/1.1"),
    req(b"GET /api/v1/tasks/0 HTTP/1.1"),
    req(b"GET /api/v1/tasks/1.5 HTTP/1.1"),
    req(b"GET /api/v1/tasks/" + b"1" * 200 + b" HTTP/1.1"),
    req(b"GET /api/v1/tasks?limit=4294967297 HTTP/1.1"),
    req(b"GET /api/v1/tasks?offset=1000000001 HTTP/1.1"),
    req(b"GET /api/v1/metrics/runs-summary?started_from=9999-12-31T23:59:60%2B23:59&started_to=0000-01-01 HTTP/1.1"),
    req(b"GET /api/v1/metrics/usage-daily?date_from=xx&date_to=9999999 HTTP/1.1"),
    req(b"POST /api/v1/tasks/broadcast/%ff HTTP/1.1", CLOSE + [b"Content-Length: 16"], b'{"project_id":1}'),
    req(b"GET /api/v1/tasks HTTP/1.1", CLOSE + [b"X-Trace-ID: \xff\xfe", b"X-Request-ID: \xff"]),
    req(b"GET /healthz HTTP/1.1", CLOSE + [b"X-A: " + b"b" * 20000]),
    req(b"POST /beebeebrain.v1.HealthService/Check HTTP/1.1",
        CLOSE + [b"Content-Type: application/json", b"X-API-Key: \xff", b"Content-Length: 0"]),
    req(b"POST /beebeebrain.v1.HealthService/Check HTTP/1.1",
        CLOSE + [b"Content-Type: application/json", b"X-Trace-ID: " + b"a" * 5000, b"Content-Length: 0"]),
    req(b"POST /beebeebrain.v1.HealthService/Check HTTP/1.1",
        CLOSE + [b"Content-Type: application/json", b"Connect-Timeout-Ms: 99999999999", b"Content-Length: 0"]),
    req(b"POST /beebeebrain.v1.HealthService/Check HTTP/1.1",
        CLOSE + [b"Content-Type: application/json", b"Connect-Timeout-Ms: -1", b"Content-Length: 0"]),
    req(b"POST /beebeebrain.v1." + b"A" * 10000 + b" HTTP/1.1",
        CLOSE + [b"Content-Type: application/json", b"Content-Length: 2"], b"{}"),
    req(b"POST /beebeebrain.v1.TaskService/GetTask HTTP/1.1",
        CLOSE + [b"Content-Type: application/connect+json", b"Content-Length: 2"], b"{}"),
    req(b"POST /beebeebrain.v1.TaskService/GetTask HTTP/1.1",
        CLOSE + [b"Content-Type: application/proto", b"Content-Length: 8"], b"\xff" * 8),
    req(b"POST /beebeebrain.v1.TaskService/GetTask HTTP/1.1",
        CLOSE + [b"Content-Type: application/json", b"Content-Length: 20000"], b"[" * 20000),
    req(b"POST /beebeebrain.v1.TaskService/GetTask HTTP/1.1",
        CLOSE + [b"Content-Type: application/json", b"Content-Length: 33"], b'{"task_id":"9223372036854775808"}'),
    post(b"/api/v1/tasks", b"[" * 20000 + b"]" * 20000),
    post(b"/api/v1/tasks", b'{"project_id":1,"title":"\\ud800x"}'),
    post(b"/api/v1/tasks", b'{"project_id":1e400,"title":"x"}'),
    post(b"/api/v1/tasks", b'{"\xff":1}'),
    post(b"/api/v1/tasks/1/run", b'{"prompt":"hi","timeout_seconds":99999999999,"max_turns":-1}'),
    post(b"/api/v1/tasks/broadcast/pause", b'{"project_id":1,"task_ids":[' + b",".join([b"1"] * 201) + b']}'),
    post(b"/api/v1/tools/finish_task", b'{"task_id":1,"idempotency_key":"' + b"x" * 10000 + b'"}'),
    req(b"PATCH /api/v1/tasks/1 HTTP/1.1", CLOSE + [b"Content-Length: 2"], b"{}"),
    req(b"DELETE /api/v1/tasks/1 HTTP/1.1"),
    req(b"DELETE /api/v1/tasks/1 HTTP/1.1"),
    req(b"POST /api/v1/projects HTTP/1.1", CLOSE + [b"Content-Length: 5000000"], b"{}"),
]


def test_corpus_gets_documented_errors_and_the_server_keeps_serving(srv):
    for data in CORPUS:
        one(srv, data)
    status, _, body = one(srv, req(b"GET /healthz HTTP/1.1"))
    assert status == 200 and json.loads(body)["status"] == "ok"


@pytest.mark.parametrize("headers, why", [
    ([b"Content-Length: 2", b"Content-Length: 40"], "more than one Content-Length"),
    ([b"Content-Length: 3", b"Transfer-Encoding: chunked"], "both Content-Length and Transfer-Encoding"),
    ([b"Transfer-Encoding: gzip"], "a Transfer-Encoding other than chunked"),
])
def test_ambiguous_body_framing_is_refused_and_the_connection_closed(srv, headers, why):
    # Behind a proxy that frames the body by the other header, the bytes after
    # the first length would be another request (request smuggling): the
    # server refuses and closes instead of reading "GET /healthz" next.
    smuggled = b'{}GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n'
    out = send(srv, req(b"POST /api/v1/projects HTTP/1.1", [b"Host: x"] + headers, smuggled))
    (res,) = parse(out)
    status, h, body = res
    assert status == 400 and h["connection"] == "close"
    assert json.loads(body)["error"]["message"] == f"the request has {why}"
    # A Connect call gets Connect's envelope.
    out = send(srv, req(b"POST /beebeebrain.v1.HealthService/Check HTTP/1.1",
                        [b"Host: x", b"Content-Type: application/json"] + headers, smuggled))
    (res,) = parse(out)
    assert res[0] == 400 and envelope_ok(*res) and json.loads(res[2])["code"] == "invalid_argument"


def test_chunked_body_alone_is_still_read(srv):
    status, _, body = one(srv, req(b"POST /api/v1/projects HTTP/1.1", CLOSE + [b"Transfer-Encoding: chunked"],
                                   b"2\r\n{}\r\n0\r\n\r\n"))
    assert status == 422 and detail(body)[1][0] == ("body.name", "Field required")


def test_percent_00_does_not_cut_the_path(srv):
    # Decoded, %00 would end the path: /healthz%00 answered as /healthz and
    # /api/v1/tasks/1%00/anything as task 1.
    status, _, _ = one(srv, req(b"GET /healthz%00 HTTP/1.1"))
    assert status == 404
    status, _, body = one(srv, req(b"GET /api/v1/tasks/1%00 HTTP/1.1"))
    assert status == 422 and detail(body) == ("VALIDATION_ERROR", [("path.task_id", "Input should be a valid integer")])
    status, _, body = one(srv, req(b"GET /api/v1/tasks?status=running%00 HTTP/1.1"))
    assert status == 422 and detail(body)[1][0][0] == "query.status"


def test_a_query_filter_that_is_not_utf8_is_refused_not_dropped(srv):
    # Dropped, the filter would widen the list to every task.
    for q in (b"status=%ff%fe", b"status=\xff", b"project_id=%c0"):
        status, _, body = one(srv, req(b"GET /api/v1/tasks?" + q + b" HTTP/1.1"))
        field = "query." + q.split(b"=")[0].decode()
        assert status == 422 and detail(body) == ("VALIDATION_ERROR", [(field, "Input should be a valid string")])
    # An unknown parameter is ignored, as the original did, UTF-8 or not.
    status, _, body = one(srv, req(b"GET /api/v1/tasks?%ff=1&x=%fe HTTP/1.1"))
    assert status == 200 and json.loads(body) == []


def test_pipelined_requests_are_answered_in_order(srv):
    out = send(srv, req(b"GET /healthz HTTP/1.1", [b"Host: x"]) + req(b"GET /api/v1/tasks/999 HTTP/1.1", [b"Host: x"])
               + req(b"POST /api/v1/projects HTTP/1.1", [b"Host: x", b"Content-Length: 2"], b"{}")
               + req(b"GET /nope HTTP/1.1"))
    assert [r[0] for r in parse(out)] == [200, 404, 422, 404]


def test_libmicrohttpd_own_refusals_are_4xx(srv):
    # Written by libmicrohttpd before our code runs: HTML bodies, 4xx statuses.
    for data in (req(b"POST /api/v1/tasks HTTP/1.1", CLOSE + [b"Content-Length: -1"]),
                 req(b"POST /api/v1/tasks HTTP/1.1", CLOSE + [b"Content-Length: 99999999999999999999999"]),
                 req(b"POST /api/v1/projects HTTP/1.1", CLOSE + [b"Transfer-Encoding: chunked"], b"zz\r\n{}\r\n0\r\n\r\n"),
                 req(b"GET /healthz HTTP/1.1", CLOSE + [b"garbage"]),
                 req(b"GET /" + b"a" * 40000 + b" HTTP/1.1")):
        (res,) = parse(send(srv, data))
        assert 400 <= res[0] < 500, (data[:60], res)
    status, _, _ = one(srv, req(b"GET /healthz HTTP/1.1"))
    assert status == 200
