"""A small Python client for the BeeBeeBrain RPC API (docs/protocol.md).

One Client is one nng req0 socket, driven through ctypes over libnng.so.1
(Debian's libnng1), with the message stubs that protoc generates from
proto/beebeebrain/v1/*.proto (the `python_stubs` build target writes them to
<build>/python). Set BBB_PYTHON_STUBS to that directory, or put it on sys.path.

    from beebeebrain_client import Client, RpcError
    from beebeebrain.v1 import task_pb2

    with Client("tcp://127.0.0.1:7420") as c:
        resp = c.call("TaskService", "CreateTask",
                      task_pb2.CreateTaskRequest(title="write the docs"),
                      task_pb2.CreateTaskResponse)

Decisions, as in the C client (src/client/client.c):
  - REQ resend is off (NNG_OPT_REQ_RESENDTIME infinite): nng 1.5 would send a
    request again after 60 s and when its connection drops, so a call could run
    twice. A dropped connection fails the call with UNAVAILABLE instead.
  - Every call carries a fresh random request_id (or the one given), so the
    server answers a repeat of a mutating call from its reply cache.
  - The local deadline is timeout_ms plus a small margin, so that the server's
    own DEADLINE_EXCEEDED reply arrives before the client gives up.
  - The first dial is synchronous: a server that is not there is reported by
    the constructor (UNAVAILABLE SERVER_UNREACHABLE), not by a call's timeout.
    Later, nng redials by itself.
  - A req socket carries one request at a time: calls on one Client are
    serialised by a lock. Use one Client per thread for parallel calls.
  - An envelope over REQUEST_MAX_BYTES (4 MiB) is refused before it is sent,
    with RESOURCE_EXHAUSTED MESSAGE_TOO_LARGE: the server would close the
    connection without an answer.
"""

import ctypes
import ctypes.util
import os
import sys
import threading
import uuid

_stubs = os.environ.get("BBB_PYTHON_STUBS")
if _stubs and _stubs not in sys.path:
    sys.path.insert(0, _stubs)

from beebeebrain.v1 import rpc_pb2  # noqa: E402  (generated; needs the path above)

__all__ = ["Client", "RpcError", "CODE_NAMES", "REQUEST_MAX_BYTES"]

# gRPC canonical codes (docs/protocol.md, Errors).
CODE_NAMES = {
    0: "OK", 1: "CANCELLED", 2: "UNKNOWN", 3: "INVALID_ARGUMENT", 4: "DEADLINE_EXCEEDED", 5: "NOT_FOUND",
    6: "ALREADY_EXISTS", 7: "PERMISSION_DENIED", 8: "RESOURCE_EXHAUSTED", 9: "FAILED_PRECONDITION",
    10: "ABORTED", 11: "OUT_OF_RANGE", 12: "UNIMPLEMENTED", 13: "INTERNAL", 14: "UNAVAILABLE",
    15: "DATA_LOSS", 16: "UNAUTHENTICATED",
}

_DEADLINE_EXCEEDED = 4
_RESOURCE_EXHAUSTED = 8
_UNAVAILABLE = 14
_INTERNAL = 13

# nng.h / protocol/reqrep0/req.h (nng 1.5.2)
_NNG_FLAG_ALLOC = 1
_NNG_DURATION_INFINITE = -1
_NNG_ETIMEDOUT = 5
_NNG_OPT_RECVTIMEO = b"recv-timeout"
_NNG_OPT_SENDTIMEO = b"send-timeout"
_NNG_OPT_RECVMAXSZ = b"recv-size-max"
_NNG_OPT_REQ_RESENDTIME = b"req:resend-time"

# The largest RpcRequest envelope a server accepts (BBB_REQUEST_MAX_BYTES).
REQUEST_MAX_BYTES = 4 << 20

# Wait this long past timeout_ms for the server's own DEADLINE_EXCEEDED reply.
_DEADLINE_MARGIN_MS = 500
# Replies (task lists, logs) can be big; the server bounds requests itself.
_RECV_MAX = 64 << 20


class _NngSocket(ctypes.Structure):
    _fields_ = [("id", ctypes.c_uint32)]


def _load_nng():
    lib = ctypes.CDLL(ctypes.util.find_library("nng") or "libnng.so.1")
    sock, sockp = _NngSocket, ctypes.POINTER(_NngSocket)
    protos = {
        "nng_req0_open": (ctypes.c_int, [sockp]),
        "nng_close": (ctypes.c_int, [sock]),
        "nng_dial": (ctypes.c_int, [sock, ctypes.c_char_p, ctypes.c_void_p, ctypes.c_int]),
        "nng_socket_set_ms": (ctypes.c_int, [sock, ctypes.c_char_p, ctypes.c_int32]),
        "nng_socket_set_size": (ctypes.c_int, [sock, ctypes.c_char_p, ctypes.c_size_t]),
        "nng_send": (ctypes.c_int, [sock, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]),
        "nng_recv": (ctypes.c_int, [sock, ctypes.c_void_p, ctypes.POINTER(ctypes.c_size_t), ctypes.c_int]),
        "nng_free": (None, [ctypes.c_void_p, ctypes.c_size_t]),
        "nng_strerror": (ctypes.c_char_p, [ctypes.c_int]),
    }
    for name, (restype, argtypes) in protos.items():
        fn = getattr(lib, name)
        fn.restype, fn.argtypes = restype, argtypes
    return lib


_nng = None
_nng_lock = threading.Lock()


def _lib():
    global _nng
    with _nng_lock:
        if _nng is None:
            _nng = _load_nng()
    return _nng


class RpcError(Exception):
    """A call that did not succeed: the server's RpcResponse, or a local failure
    (UNAVAILABLE SERVER_UNREACHABLE, DEADLINE_EXCEEDED) shaped the same way.
    Branch on `code` and `reason`, never on `message`."""

    def __init__(self, code, reason, message, violations=(), trace_id=""):
        self.code = code
        self.reason = reason
        self.message = message
        self.violations = list(violations)  # [(field, description)]
        self.trace_id = trace_id
        super().__init__(f"{CODE_NAMES.get(code, code)} {reason}: {message}")

    @property
    def code_name(self):
        return CODE_NAMES.get(self.code, str(self.code))


class Client:
    """A req0 connection to one server. `timeout_ms` bounds every call (sent to
    the server as RpcRequest.timeout_ms); `api_key` is sent with every call."""

    def __init__(self, url, timeout_ms=30000, api_key=None):
        self.url = url
        self.timeout_ms = int(timeout_ms)
        self.api_key = api_key or ""
        self._lock = threading.Lock()
        self._sock = _NngSocket()
        self._open = False
        nng = _lib()
        self._check(nng.nng_req0_open(ctypes.byref(self._sock)), _INTERNAL, "INTERNAL_ERROR", "nng_req0_open")
        self._open = True
        try:
            self._check(nng.nng_socket_set_ms(self._sock, _NNG_OPT_REQ_RESENDTIME, _NNG_DURATION_INFINITE),
                        _INTERNAL, "INTERNAL_ERROR", "turning REQ resend off")
            self._check(nng.nng_socket_set_size(self._sock, _NNG_OPT_RECVMAXSZ, _RECV_MAX),
                        _INTERNAL, "INTERNAL_ERROR", "setting the reply size limit")
            self._set_timeout(self.timeout_ms + _DEADLINE_MARGIN_MS)
            self._check(nng.nng_dial(self._sock, url.encode(), None, 0),
                        _UNAVAILABLE, "SERVER_UNREACHABLE", f"cannot reach {url}")
        except BaseException:
            self.close()
            raise

    def close(self):
        if self._open:
            self._open = False
            _lib().nng_close(self._sock)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    @staticmethod
    def _check(rv, code, reason, what):
        if rv != 0:
            raise RpcError(code, reason, f"{what}: {_lib().nng_strerror(rv).decode()}")

    def _set_timeout(self, ms):
        nng = _lib()
        for opt in (_NNG_OPT_RECVTIMEO, _NNG_OPT_SENDTIMEO):
            self._check(nng.nng_socket_set_ms(self._sock, opt, int(ms)), _INTERNAL, "INTERNAL_ERROR",
                        "setting a timeout")

    def raw(self, data, timeout_ms=None):
        """Sends `data` as one message and returns the reply's bytes. For tests:
        nothing is wrapped or checked. Raises RpcError DEADLINE_EXCEEDED when no
        reply comes within timeout_ms (default: the client's, plus the margin),
        and UNAVAILABLE SERVER_UNREACHABLE when the connection fails."""
        nng = _lib()
        wait_ms = (self.timeout_ms if timeout_ms is None else int(timeout_ms)) + _DEADLINE_MARGIN_MS
        with self._lock:
            if not self._open:
                raise RpcError(_UNAVAILABLE, "SERVER_UNREACHABLE", "client is closed")
            self._set_timeout(wait_ms)
            buf = ctypes.create_string_buffer(bytes(data), len(data))
            rv = nng.nng_send(self._sock, buf, len(data), 0)
            if rv == 0:
                ptr, size = ctypes.c_void_p(), ctypes.c_size_t()
                rv = nng.nng_recv(self._sock, ctypes.byref(ptr), ctypes.byref(size), _NNG_FLAG_ALLOC)
                if rv == 0:
                    try:
                        return ctypes.string_at(ptr, size.value)
                    finally:
                        nng.nng_free(ptr, size.value)
        if rv == _NNG_ETIMEDOUT:
            raise RpcError(_DEADLINE_EXCEEDED, "DEADLINE_EXCEEDED", f"{self.url}: no answer within {wait_ms} ms")
        raise RpcError(_UNAVAILABLE, "SERVER_UNREACHABLE", f"call to {self.url}: {nng.nng_strerror(rv).decode()}")

    def call(self, service, method, request_msg, response_cls, request_id=None, trace_id=None):
        """Calls `/beebeebrain.v1.<service>/<method>` with request_msg and returns
        the reply payload parsed as response_cls. `service` may also be given in
        full ("beebeebrain.v1.TaskService"). A repeated request_id of a
        mutating call gets the first call's reply. Raises RpcError (also
        RESOURCE_EXHAUSTED MESSAGE_TOO_LARGE, unsent, for an envelope over
        REQUEST_MAX_BYTES)."""
        if "." not in service:
            service = "beebeebrain.v1." + service
        env = rpc_pb2.RpcRequest(
            method=f"/{service}/{method}",
            payload=request_msg.SerializeToString(),
            timeout_ms=self.timeout_ms,
            api_key=self.api_key,
            trace_id=trace_id or "",
            request_id=request_id or uuid.uuid4().hex,
        )
        data = env.SerializeToString()
        if len(data) > REQUEST_MAX_BYTES:
            raise RpcError(_RESOURCE_EXHAUSTED, "MESSAGE_TOO_LARGE",
                           f"the request to {env.method} is {len(data)} bytes, over the {REQUEST_MAX_BYTES} "
                           "bytes a server accepts")
        reply = rpc_pb2.RpcResponse()
        try:
            reply.ParseFromString(self.raw(data))
        except RpcError:
            raise
        except Exception as e:  # a reply that is not an RpcResponse
            raise RpcError(_INTERNAL, "INTERNAL_ERROR", f"undecodable reply from {self.url}: {e}") from None
        if reply.code != 0:
            raise RpcError(reply.code, reply.reason, reply.message,
                           [(v.field, v.description) for v in reply.violations], reply.trace_id)
        resp = response_cls()
        resp.ParseFromString(reply.payload)
        return resp

    # A reply is capped at about 4 MiB: a page of big rows (task descriptions,
    # log lines, event data) stops before `limit` and says where to go on. The
    # two helpers below follow that, so a caller gets every row it asked for.

    def list_rows(self, service, method, request_msg, response_cls, limit=None):
        """Calls a List method (`limit` and `page_token` in the request, rows and
        `next_page_token` in the response) page after page and returns
        (rows, next_page_token): `limit` rows at most (None: every row), asking
        for pages of the request's own `limit` (0: 50) and going on from
        next_page_token, also when a page stopped early for its size. The
        token returned continues after the last row ("" when nothing follows)."""
        # The rows: the response's one repeated message field.
        rows_field = next(f.name for f in response_cls.DESCRIPTOR.fields
                          if f.label == f.LABEL_REPEATED and f.type == f.TYPE_MESSAGE)
        req = type(request_msg)()
        req.CopyFrom(request_msg)
        page_size = req.limit or 50
        rows, token = [], ""
        while limit is None or len(rows) < limit:
            req.limit = page_size if limit is None else min(page_size, limit - len(rows))
            resp = self.call(service, method, req, response_cls)
            page = list(getattr(resp, rows_field))
            rows.extend(page)
            token = resp.next_page_token
            if not token or not page:
                break
            req.page_token = token
        return rows, token

    def replay(self, request_msg):
        """EventService/Replay as asked for, however big the events: the last
        `last_n` events, or up to `limit` (default 1000) after `after_id`.
        A reply that stopped early for its size (`more`) is continued after its
        last event. Returns (events, head_id, more) of the whole answer."""
        from beebeebrain.v1 import event_pb2

        req = event_pb2.ReplayRequest()
        req.CopyFrom(request_msg)
        want = req.last_n or req.limit or 1000
        events, head, more = [], 0, False
        while len(events) < want:
            resp = self.call("EventService", "Replay", req, event_pb2.ReplayResponse)
            events.extend(resp.events)
            head, more = resp.head_id, resp.more
            if not more or not resp.events:
                break
            req.last_n = 0
            req.after_id = resp.events[-1].id
            req.limit = want - len(events)
        return events, head, more
