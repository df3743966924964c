"""The request size limit (docs/protocol.md, Limits): an RpcRequest envelope of exactly
4 MiB is served, over tcp:// and ws:// alike; one byte more closes that
connection without an answer, and the server keeps serving everybody else.
The clients refuse such a request themselves, before sending anything, with
RESOURCE_EXHAUSTED MESSAGE_TOO_LARGE."""

import ctypes
import socket
import struct
import threading

import pytest

from beebeebrain.v1 import health_pb2, rpc_pb2, task_pb2
from beebeebrain import REQUEST_MAX_BYTES, Client, RpcError, _nng
from conftest import Server, free_port, raw_in_child

MIB = 1024 * 1024
RESOURCE_EXHAUSTED, UNAVAILABLE, DEADLINE_EXCEEDED = 8, 14, 4


def create_task_request(size):
    return task_pb2.CreateTaskRequest(title="sized", description="d" * size)


TIMEOUT_MS = 10000


def envelope_of(request):
    """As Client.call builds it: a 32-hex-digit request_id, no key or trace id."""
    return rpc_pb2.RpcRequest(method="/beebeebrain.v1.TaskService/CreateTask",
                              payload=request.SerializeToString(), timeout_ms=TIMEOUT_MS,
                              request_id="0123456789abcdef0123456789abcdef").SerializeToString()


def sized_description(n):
    """The description length that makes a CreateTask envelope n bytes long."""
    size = n
    for _ in range(10):
        got = len(envelope_of(create_task_request(size)))
        if got == n:
            return size
        size += n - got
    raise AssertionError(f"no description makes an envelope of {n} bytes")


def sized_envelope(n):
    data = envelope_of(create_task_request(sized_description(n)))
    assert len(data) == n
    return data


def answered(data):
    r = rpc_pb2.RpcResponse.FromString(data)
    assert r.trace_id.startswith("trace-"), r  # a real answer of the server
    return r


def assert_still_serving(url):
    with Client(url, timeout=5) as c:
        assert c.call("HealthService", "Check", health_pb2.CheckRequest(), health_pb2.CheckResponse).status == "ok"


def test_the_limit_is_4_mib():
    assert REQUEST_MAX_BYTES == 4 * MIB


def test_envelope_of_exactly_4_mib_is_answered(server):
    with Client(server.url, timeout=TIMEOUT_MS / 1000) as c:
        # Any answer will do (a validation error for a huge string is one).
        answered(c.raw(sized_envelope(4 * MIB)))
    assert_still_serving(server.url)


def test_envelope_of_4_mib_and_1_byte_closes_the_connection_and_the_server_keeps_serving(server):
    with Client(server.url, timeout=TIMEOUT_MS / 1000) as bystander:
        with pytest.raises(RpcError) as e:
            raw_in_child(server.url, sized_envelope(4 * MIB + 1), TIMEOUT_MS / 1000)
        assert e.value.code == UNAVAILABLE  # the connection was closed, nothing answered
        assert len(bystander.call("TaskService", "ListTasks", task_pb2.ListTasksRequest(),
                                  task_pb2.ListTasksResponse).tasks) == 0
    assert_still_serving(server.url)


def test_client_call_of_exactly_4_mib_is_sent_and_answered(server):
    request = create_task_request(sized_description(4 * MIB))
    with Client(server.url, timeout=TIMEOUT_MS / 1000) as c:
        try:
            c.call("TaskService", "CreateTask", request, task_pb2.CreateTaskResponse)
        except RpcError as e:
            assert e.reason not in ("MESSAGE_TOO_LARGE", "SERVER_UNREACHABLE", "DEADLINE_EXCEEDED"), e
            assert e.trace_id.startswith("trace-")


class FakeRep:
    """A minimal SP rep0 peer on a loopback port that counts the requests it
    receives and answers none."""

    def __init__(self):
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = "tcp://127.0.0.1:%d" % self.listener.getsockname()[1]
        self.frames = 0
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        conn, _ = self.listener.accept()
        conn.sendall(b"\x00SP\x00" + struct.pack(">HH", 0x31, 0))
        try:
            self._read(conn, 8)  # the req0 peer's SP header
            while True:
                (n,) = struct.unpack(">Q", self._read(conn, 8))
                self._read(conn, n)
                self.frames += 1
        except (EOFError, OSError):
            pass

    @staticmethod
    def _read(conn, n):
        data = b""
        while len(data) < n:
            chunk = conn.recv(min(n - len(data), 1 << 20))
            if not chunk:
                raise EOFError
            data += chunk
        return data

    def close(self):
        self.listener.close()


def test_client_refuses_an_envelope_over_4_mib_without_sending_it():
    fake = FakeRep()
    try:
        with Client(fake.url, timeout=TIMEOUT_MS / 1000) as c:
            with pytest.raises(RpcError) as e:
                c.call("TaskService", "CreateTask", create_task_request(sized_description(4 * MIB + 1)),
                       task_pb2.CreateTaskResponse)
            assert (e.value.code, e.value.reason) == (RESOURCE_EXHAUSTED, "MESSAGE_TOO_LARGE")
            assert fake.frames == 0
            # The same client still sends (the fake never answers).
            with pytest.raises(RpcError) as e:
                c.raw(b"small", timeout=0.3)
            assert e.value.code == DEADLINE_EXCEEDED
            assert fake.frames == 1
    finally:
        fake.close()


# ws:// -----------------------------------------------------------------------

_NNG_FLAG_ALLOC = 1
_NNG_ETIMEDOUT = 5


def ws_nng(url, data, timeout_ms=20000):
    """Sends data on an nng req0 ws:// socket (nng 1.5.2 sends it in frames
    of at most 1 MiB) and returns the reply; RpcError UNAVAILABLE when the
    connection is closed instead."""
    nng = _nng.lib()
    sock = _nng.Handle()
    assert nng.nng_req0_open(ctypes.byref(sock)) == 0
    try:
        assert nng.nng_socket_set_ms(sock, b"req:resend-time", -1) == 0
        assert nng.nng_socket_set_size(sock, b"recv-size-max", 64 * MIB) == 0
        for opt in (b"recv-timeout", b"send-timeout"):
            assert nng.nng_socket_set_ms(sock, opt, timeout_ms) == 0
        assert nng.nng_dial(sock, url.encode(), None, 0) == 0
        buf = ctypes.create_string_buffer(bytes(data), len(data))
        rv = nng.nng_send(sock, buf, len(data), 0)
        if rv == 0:
            ptr, size = ctypes.c_void_p(), ctypes.c_size_t()
            rv = nng.nng_recv(sock, ctypes.byref(ptr), ctypes.byref(size), _NNG_FLAG_ALLOC)
            if rv == 0:
                try:
                    return ctypes.string_at(ptr, size.value)
                finally:
                    nng.nng_free(ptr, size.value)
        if rv == _NNG_ETIMEDOUT:
            raise RpcError(DEADLINE_EXCEEDED, "DEADLINE_EXCEEDED", "no answer")
        raise RpcError(UNAVAILABLE, "SERVER_UNREACHABLE", nng.nng_strerror(rv).decode())
    finally:
        nng.nng_close(sock)


def ws_one_frame(url, data, timeout_s=20):
    """Sends data as one WebSocket frame, as browser and Node clients do
    (subprotocol rep.sp.nanomsg.org, the listener's; a 4-byte request id with
    the top bit set, then the body), and returns the reply body; RpcError UNAVAILABLE when the
    server closes the connection instead."""
    host_port, path = url[len("ws://"):].split("/", 1)
    host, port = host_port.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=timeout_s) as s:
        s.sendall((f"GET /{path} HTTP/1.1\r\nHost: {host_port}\r\nUpgrade: websocket\r\n"
                   "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                   "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: rep.sp.nanomsg.org\r\n\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = s.recv(4096)
            assert chunk, "no WebSocket handshake"
            head += chunk
        assert head.startswith(b"HTTP/1.1 101"), head
        rest = head.split(b"\r\n\r\n", 1)[1]
        body = struct.pack(">I", 0x80000001) + data
        # Binary, final; masked (a client must) with the all-zero key.
        try:
            s.sendall(struct.pack(">BBQ", 0x82, 0x80 | 127, len(body)) + b"\0\0\0\0" + body)
        except OSError as e:  # closed while we were still sending
            raise RpcError(UNAVAILABLE, "SERVER_UNREACHABLE", str(e)) from None

        def read(n):
            nonlocal rest
            while len(rest) < n:
                try:
                    chunk = s.recv(1 << 20)
                except ConnectionResetError:
                    chunk = b""
                if not chunk:
                    raise RpcError(UNAVAILABLE, "SERVER_UNREACHABLE", "connection closed")
                rest += chunk
            out, rest = rest[:n], rest[n:]
            return out

        b0, b1 = read(2)
        n = b1 & 0x7F
        if n == 126:
            (n,) = struct.unpack(">H", read(2))
        elif n == 127:
            (n,) = struct.unpack(">Q", read(8))
        payload = read(n)
        if b0 & 0x0F == 0x8:
            raise RpcError(UNAVAILABLE, "SERVER_UNREACHABLE", f"closed by the server: {payload!r}")
        assert b0 == 0x82 and payload[:4] == body[:4], (b0, payload[:4])
        return payload[4:]


@pytest.fixture
def ws_server(tmp_path, rpc_url):
    ws_url = f"ws://127.0.0.1:{free_port()}/rpc"
    srv = Server(tmp_path / "ws.db", rpc_url, extra_args=["--rpc", ws_url]).start()
    srv.ws_url = ws_url
    yield srv
    assert srv.stop() == 0, srv.log()


@pytest.mark.parametrize("send", [ws_nng, ws_one_frame], ids=["nng", "one-frame"])
def test_ws_envelope_of_exactly_4_mib_is_answered(ws_server, send):
    answered(send(ws_server.ws_url, sized_envelope(4 * MIB)))
    assert_still_serving(ws_server.url)


def ws_nng_in_child(url, data):
    """As ws_nng, through the package's Client (nng's ws transport too) in a
    process of its own: the connection is cut while nng is still sending."""
    return raw_in_child(url, data, 20)


@pytest.mark.parametrize("send", [ws_nng_in_child, ws_one_frame], ids=["nng", "one-frame"])
def test_ws_envelope_of_4_mib_and_1_byte_closes_the_connection(ws_server, send):
    with pytest.raises(RpcError) as e:
        send(ws_server.ws_url, sized_envelope(4 * MIB + 1))
    assert e.value.code == UNAVAILABLE
    assert_still_serving(ws_server.url)
