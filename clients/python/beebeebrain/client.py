"""Client and AsyncClient: the RPC API (docs/protocol.md) over nng req/rep.

A client is one nng req0 socket with one dialer. Each call
  1. builds the method's request message (given, or from keyword arguments),
  2. wraps it in an RpcRequest envelope (rpc.proto): the method's full name
     (/beebeebrain.v1.TaskService/GetTask), timeout_ms, api_key, trace_id and
     request_id (the caller's, else a fresh random one), refusing an envelope
     over REQUEST_MAX_BYTES before sending (the server would drop the
     connection without a word),
  3. sends it on an nng context of its own and waits for the reply, and
  4. raises RpcError for a non-zero code, else decodes the payload as the
     method's declared response type.
The typed methods (`client.task.get_task(...)`) are generated from the .proto
files (beebeebrain/_services.py); they all end in `_call` / `_call_async`.

Decisions, as in the C library (src/client/client.c):
  - REQ resend is off (NNG_OPT_REQ_RESENDTIME infinite): nng would send a request
    again after 60 s and when its connection drops, so a call could run twice.
    A dropped connection fails the call with UNAVAILABLE; retrying is the
    caller's choice (with the same request_id it is safe).
  - One nng context per call: calls on one client run concurrently, from
    threads (Client) or coroutines (AsyncClient); nothing is serialised.
  - One deadline per call, the timeout plus 0.5 s, shared by the send and the
    receive, so the server's own DEADLINE_EXCEEDED reply arrives first. A send
    that times out sent nothing (SERVER_UNREACHABLE); a receive that times out
    is DEADLINE_EXCEEDED.
  - The first dial is synchronous: a server that is not there is reported by
    the constructor (UNAVAILABLE SERVER_UNREACHABLE). Later nng redials by itself.
  - close() does not hang where nng 1.5.2's nng_close can (after a connection
    was cut while a message was in transfer): it waits at most 5 s for it, then
    leaves the socket's memory to nng (_nng.close_socket).
  - AsyncClient uses nng's asynchronous I/O: the aio's completion callback
    (on an nng thread) wakes the coroutine through loop.call_soon_threadsafe.
    No thread pool, no thread per call.
Settings: url None -> $BEEBEEBRAIN_RPC_URL, else tcp://127.0.0.1:7420;
api_key None -> $BEEBEEBRAIN_API_KEY (empty values count as unset).
"""

import asyncio
import ctypes
import itertools
import os
import time
import uuid

from . import _nng
from .errors import DEADLINE_EXCEEDED, INTERNAL, RESOURCE_EXHAUSTED, UNAVAILABLE, RpcError
from ._services import _AsyncServices, _Services
from .v1 import event_pb2, rpc_pb2

DEFAULT_URL = "tcp://127.0.0.1:7420"
DEFAULT_TIMEOUT = 30.0
# The largest RpcRequest envelope a server accepts (4 MiB).
REQUEST_MAX_BYTES = 4 << 20
# Waited past the timeout, so that the server's own DEADLINE_EXCEEDED arrives.
DEADLINE_MARGIN = 0.5
# Replies (task lists, logs) can be big; the server bounds requests itself.
_RECV_MAX = 64 << 20


def env_setting(name):
    """An environment variable, None when unset or empty (as the C library reads it)."""
    value = os.environ.get(name)
    return value if value else None


class _Transport:
    """The req0 socket and its dialer; exchange() / exchange_async() send one
    message on a context of their own and return the reply's bytes."""

    def __init__(self, url):
        self.url = url
        self.sock = _nng.Handle()
        self._open = False
        nng = _nng.lib()
        self._check(nng.nng_req0_open(ctypes.byref(self.sock)), INTERNAL, "INTERNAL_ERROR", "nng_req0_open")
        self._open = True
        try:
            # Before any context is opened: contexts copy the resend time.
            self._check(nng.nng_socket_set_ms(self.sock, _nng.OPT_REQ_RESENDTIME, _nng.DURATION_INFINITE),
                        INTERNAL, "INTERNAL_ERROR", "turning REQ resend off")
            dialer = _nng.Handle()
            self._check(nng.nng_dialer_create(ctypes.byref(dialer), self.sock, url.encode()),
                        UNAVAILABLE, "SERVER_UNREACHABLE", f"cannot reach {url}")
            self._check(nng.nng_dialer_set_size(dialer, _nng.OPT_RECVMAXSZ, _RECV_MAX),
                        INTERNAL, "INTERNAL_ERROR", "setting the reply size limit")
            self._check(nng.nng_dialer_start(dialer, 0), UNAVAILABLE, "SERVER_UNREACHABLE", f"cannot reach {url}")
        except BaseException:
            self.close()
            raise

    @staticmethod
    def _check(rv, code, reason, what):
        if rv != 0:
            raise RpcError(code, reason, f"{what}: {_nng.strerror(rv)}")

    def close(self):
        if self._open:
            self._open = False
            _nng.close_socket(self.sock, f"the client of {self.url}")

    def _fail(self, rv, sent, wait_s):
        if rv == _nng.ETIMEDOUT and sent:
            return RpcError(DEADLINE_EXCEEDED, "DEADLINE_EXCEEDED", f"call to {self.url}: no reply within {wait_s:g} s")
        if rv == _nng.ETIMEDOUT:
            return RpcError(UNAVAILABLE, "SERVER_UNREACHABLE",
                            f"call to {self.url}: no connection within {wait_s:g} s (the request was not sent)")
        if rv == _nng.ECLOSED and not self._open:
            return RpcError(UNAVAILABLE, "SERVER_UNREACHABLE", f"call to {self.url}: the client is closed")
        return RpcError(UNAVAILABLE, "SERVER_UNREACHABLE", f"call to {self.url}: {_nng.strerror(rv)}")

    def _start(self, aio_cb, cb_arg):
        """A context and an aio for one call: (aio, ctx)."""
        nng = _nng.lib()
        if not self._open:
            raise RpcError(UNAVAILABLE, "SERVER_UNREACHABLE", f"call to {self.url}: the client is closed")
        aio = ctypes.c_void_p()
        self._check(nng.nng_aio_alloc(ctypes.byref(aio), aio_cb, cb_arg), INTERNAL, "INTERNAL_ERROR", "nng_aio_alloc")
        ctx = _nng.Handle()
        rv = nng.nng_ctx_open(ctypes.byref(ctx), self.sock)
        if rv != 0:
            nng.nng_aio_free(aio)
            raise self._fail(rv, False, 0)
        return aio, ctx

    @staticmethod
    def _finish(aio, ctx):
        nng = _nng.lib()
        nng.nng_aio_stop(aio)  # idle or cancelled; nng 1.5 wants it stopped before the close
        nng.nng_ctx_close(ctx)
        nng.nng_aio_free(aio)

    @staticmethod
    def _left_ms(deadline, clock):
        return max(1, min(int((deadline - clock()) * 1000), 2**31 - 1))

    def exchange(self, data, wait_s):
        """Blocking: send, wait, receive, wait (never both pending on one context)."""
        nng, clock = _nng.lib(), time.monotonic
        deadline = clock() + wait_s
        aio, ctx = self._start(None, None)
        sent = False
        try:
            rv, msg = _nng.msg_from_bytes(data)
            if rv != 0:
                raise RpcError(INTERNAL, "INTERNAL_ERROR", f"nng_msg_alloc({len(data)}): {_nng.strerror(rv)}")
            nng.nng_aio_set_timeout(aio, self._left_ms(deadline, clock))
            nng.nng_aio_set_msg(aio, msg)
            nng.nng_ctx_send(ctx, aio)
            nng.nng_aio_wait(aio)
            rv = nng.nng_aio_result(aio)
            if rv != 0:
                nng.nng_msg_free(nng.nng_aio_get_msg(aio))  # a failed send leaves the message with us
                raise self._fail(rv, sent, wait_s)
            sent = True
            nng.nng_aio_set_timeout(aio, self._left_ms(deadline, clock))
            nng.nng_ctx_recv(ctx, aio)
            nng.nng_aio_wait(aio)
            rv = nng.nng_aio_result(aio)
            if rv != 0:
                raise self._fail(rv, sent, wait_s)
            return _nng.msg_take_bytes(nng.nng_aio_get_msg(aio))
        finally:
            self._finish(aio, ctx)

    async def exchange_async(self, data, wait_s):
        """The same on the running loop: the aio's callback resolves a future."""
        nng, loop = _nng.lib(), asyncio.get_running_loop()
        clock = loop.time
        deadline = clock() + wait_s
        key = next(_keys)
        aio, ctx = self._start(_aio_done, key)
        sending = False
        try:
            rv, msg = _nng.msg_from_bytes(data)
            if rv != 0:
                raise RpcError(INTERNAL, "INTERNAL_ERROR", f"nng_msg_alloc({len(data)}): {_nng.strerror(rv)}")
            nng.nng_aio_set_timeout(aio, self._left_ms(deadline, clock))
            nng.nng_aio_set_msg(aio, msg)
            sending = True
            rv = await _aio_step(loop, key, lambda: nng.nng_ctx_send(ctx, aio), aio)
            if rv != 0:
                raise self._fail(rv, False, wait_s)
            sending = False
            nng.nng_aio_set_timeout(aio, self._left_ms(deadline, clock))
            rv = await _aio_step(loop, key, lambda: nng.nng_ctx_recv(ctx, aio), aio)
            if rv != 0:
                raise self._fail(rv, True, wait_s)
            return _nng.msg_take_bytes(nng.nng_aio_get_msg(aio))
        finally:
            # On cancellation this cancels the operation in flight and waits
            # for its callback, which then finds no waiter.
            _waiters.pop(key, None)
            nng.nng_aio_stop(aio)
            if sending and nng.nng_aio_result(aio) != 0:
                nng.nng_msg_free(nng.nng_aio_get_msg(aio))  # a send that failed or was cancelled: still ours
            self._finish(aio, ctx)


# Async completion: aio callback (nng thread) -> the waiting coroutine's future.
_keys = itertools.count(1)
_waiters = {}  # key -> (loop, future) of the operation in flight


def _resolve(fut):
    if not fut.done():
        fut.set_result(None)


@_nng.AIO_CALLBACK
def _aio_done(arg):
    waiter = _waiters.get(arg)
    if waiter is None:
        return
    loop, fut = waiter
    try:
        loop.call_soon_threadsafe(_resolve, fut)
    except RuntimeError:  # the loop is closed: nobody waits any more
        pass


async def _aio_step(loop, key, start, aio):
    fut = loop.create_future()
    _waiters[key] = (loop, fut)
    start()
    await fut
    return _nng.lib().nng_aio_result(aio)


class _Base:
    def __init__(self, url=None, api_key=None, timeout=DEFAULT_TIMEOUT):
        self.url = url or env_setting("BEEBEEBRAIN_RPC_URL") or DEFAULT_URL
        self.api_key = api_key if api_key is not None else (env_setting("BEEBEEBRAIN_API_KEY") or "")
        self.timeout = float(timeout)
        self._transport = _Transport(self.url)
        self._bind_services()

    def close(self):
        """Closes the socket; calls in flight fail with UNAVAILABLE. Returns
        within 5 s even where nng 1.5.2's own close hangs (see _nng.CLOSE_WAIT_S)."""
        self._transport.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    # -- the envelope ---------------------------------------------------

    def _envelope(self, path, request, request_id, timeout, trace_id):
        """(bytes of the RpcRequest, seconds to wait) for one call."""
        timeout = self.timeout if timeout is None else float(timeout)
        env = rpc_pb2.RpcRequest(method=path, payload=request.SerializeToString(), timeout_ms=int(timeout * 1000),
                                 api_key=self.api_key, trace_id=trace_id or "",
                                 request_id=request_id or uuid.uuid4().hex)
        data = env.SerializeToString()
        if len(data) > REQUEST_MAX_BYTES:
            raise RpcError(RESOURCE_EXHAUSTED, "MESSAGE_TOO_LARGE",
                           f"the request to {path} is {len(data)} bytes, over the {REQUEST_MAX_BYTES} bytes a "
                           "server accepts")
        return data, timeout + DEADLINE_MARGIN

    @staticmethod
    def _request(path, request_cls, request, fields, trace_id):
        """The request message: `request` itself, or one built from keyword fields."""
        if request is not None:
            if fields:
                raise TypeError(f"{path}: give a {request_cls.__name__} or keyword fields, not both")
            if not isinstance(request, request_cls):
                raise TypeError(f"{path} takes a {request_cls.DESCRIPTOR.full_name}, not a {type(request).__name__}")
            return request
        if trace_id and "trace_id" in request_cls.DESCRIPTOR.fields_by_name:
            fields = {"trace_id": trace_id, **fields}
        try:
            return request_cls(**fields)
        except (ValueError, TypeError) as e:
            raise TypeError(f"{path}: {e}") from None

    def _decode(self, path, reply_bytes, response_cls):
        reply = rpc_pb2.RpcResponse()
        try:
            reply.ParseFromString(reply_bytes)
        except Exception:
            raise RpcError(INTERNAL, "MALFORMED_RESPONSE",
                           f"the reply from {self.url} to {path} is not an RpcResponse ({len(reply_bytes)} bytes)") from None
        if reply.code != 0:
            raise RpcError(reply.code, reply.reason, reply.message,
                           [(v.field, v.description) for v in reply.violations], reply.trace_id)
        resp = response_cls()
        try:
            resp.ParseFromString(reply.payload)
        except Exception:
            raise RpcError(INTERNAL, "MALFORMED_RESPONSE",
                           f"the payload from {self.url} for {path} is not a {response_cls.DESCRIPTOR.full_name}",
                           trace_id=reply.trace_id) from None
        return resp

    @staticmethod
    def _path(service, method):
        if "." not in service:
            service = "beebeebrain.v1." + service
        return f"/{service}/{method}"


class Client(_Base, _Services):
    """A connection to one server; safe to share between threads (every call
    has its own nng context, so calls run concurrently).

        with beebeebrain.Client() as c:          # $BEEBEEBRAIN_RPC_URL or tcp://127.0.0.1:7420
            task = c.task.create_task(title="write the docs").task

    url, api_key: see the module's docstring; timeout: seconds per call (sent to
    the server as the call's deadline). Every method also takes request_id=,
    timeout= and trace_id=. Raises RpcError (also from the constructor when no
    server listens at url).
    """

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _call(self, path, request_cls, response_cls, request, fields, request_id, timeout, trace_id):
        req = self._request(path, request_cls, request, fields, trace_id)
        data, wait_s = self._envelope(path, req, request_id, timeout, trace_id)
        return self._decode(path, self._transport.exchange(data, wait_s), response_cls)

    def call(self, service, method, request, response_cls, request_id=None, trace_id=None, timeout=None):
        """Any method by name: `call("TaskService", "GetTask", GetTaskRequest(task_id=1),
        GetTaskResponse)`; `service` may be given in full (beebeebrain.v1.TaskService)."""
        path = self._path(service, method)
        data, wait_s = self._envelope(path, request, request_id, timeout, trace_id)
        return self._decode(path, self._transport.exchange(data, wait_s), response_cls)

    def raw(self, data, timeout=None):
        """Sends `data` as one message and returns the reply's bytes, nothing
        wrapped or checked (for tests of the envelope). Waits timeout (default:
        the client's) plus the margin."""
        wait_s = (self.timeout if timeout is None else float(timeout)) + DEADLINE_MARGIN
        return self._transport.exchange(bytes(data), wait_s)

    # A reply is capped at about 4 MiB: a page of big rows stops before
    # `limit` and says where to go on. These two follow that.

    def list_rows(self, service, method, request, response_cls, limit=None):
        """Calls a List method page after page: (rows, next_page_token), at most
        `limit` rows (None: all), going on from next_page_token also when a page
        stopped early for its size."""
        rows_field = next(f.name for f in response_cls.DESCRIPTOR.fields
                          if f.label == f.LABEL_REPEATED and f.type == f.TYPE_MESSAGE)
        req = type(request)()
        req.CopyFrom(request)
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

    def replay(self, request):
        """EventService/Replay as asked for, however big the events: the last
        `last_n`, or up to `limit` (default 1000) after `after_id`, following
        `more`. Returns (events, head_id, more) of the whole answer."""
        req = event_pb2.ReplayRequest()
        req.CopyFrom(request)
        want = req.last_n or req.limit or 1000
        events, head, more = [], 0, False
        while len(events) < want:
            resp = self.event.replay(req)
            events.extend(resp.events)
            head, more = resp.head_id, resp.more
            if not more or not resp.events:
                break
            req.last_n = 0
            req.after_id = resp.events[-1].id
            req.limit = want - len(events)
        return events, head, more


class AsyncClient(_Base, _AsyncServices):
    """Client's asyncio twin: the same constructor and attributes, coroutine
    methods (`await c.task.get_task(task_id=1)`), any number of calls in flight
    on one loop (asyncio.gather). The constructor dials synchronously."""

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        self.close()

    async def _call_async(self, path, request_cls, response_cls, request, fields, request_id, timeout, trace_id):
        req = self._request(path, request_cls, request, fields, trace_id)
        data, wait_s = self._envelope(path, req, request_id, timeout, trace_id)
        return self._decode(path, await self._transport.exchange_async(data, wait_s), response_cls)

    async def call(self, service, method, request, response_cls, request_id=None, trace_id=None, timeout=None):
        """Any method by name, as Client.call."""
        path = self._path(service, method)
        data, wait_s = self._envelope(path, request, request_id, timeout, trace_id)
        return self._decode(path, await self._transport.exchange_async(data, wait_s), response_cls)


