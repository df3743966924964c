"""Subscriber: the server's event stream, every matching event exactly once,
in id order (docs/events.md, "Lossless delivery"), the semantics of the C
library's bbb_subscriber (include/beebeebrain/subscriber.h).

pub/sub drops messages when a subscriber falls behind, so the stream is made
exact from the store: subscribe first, then Replay; keep `covered`, the id up
to which every matching event has been delivered or queued; a pub message
with id <= covered is a duplicate, id == covered + 1 extends the range, a
jump (or a heartbeat whose head id is ahead) is filled with
Replay(after_id=covered), following `more`.

Beyond the C library, it survives a server restart: a Replay that cannot
reach the server (UNAVAILABLE, DEADLINE_EXCEEDED) is retried every
`retry_interval` seconds instead of failing, nng redials the pub socket by
itself, and a stream silent for longer than three heartbeats is checked with a
Replay (the pub connection may be gone without a word), so whatever was
committed while it was down is replayed once the server is back.

The socket is read without receive timeouts (a SUB timeout can race message
delivery in nng 1.5.2): select() on NNG_OPT_RECVFD, then non-blocking reads.
The async iterator waits in a worker thread (loop.run_in_executor), one
wait at a time; a cancelled wait keeps its event for the next one.
"""

import asyncio
import collections
import ctypes
import select
import time

from . import _nng
from .client import Client, env_setting
from .errors import DEADLINE_EXCEEDED, INTERNAL, INVALID_ARGUMENT, UNAVAILABLE, RpcError
from .v1 import event_pb2, events_pb2

HEARTBEAT = "sys.heartbeat"
REPLAY_LIMIT = 1000
_RETRYABLE = (UNAVAILABLE, DEADLINE_EXCEEDED)


class Subscriber:
    """Lossless events from one server.

        with beebeebrain.Subscriber(after_id=0, type_prefix="task.") as sub:
            for ev in sub:                   # beebeebrain.v1.events_pb2.Event
                print(ev.id, ev.event_type)

    url          the pub URL: None -> $BEEBEEBRAIN_EVENTS_URL, else the server's
                 first (EventService/StreamInfo)
    after_id     None: only events committed from now on; 0: from the oldest kept;
                 N: resume after event N (last_id of an earlier subscriber)
    replay_last  > 0: start with the last N matching events (1..1000) instead
    type_prefix  "" every type, "alert." alerts only, ...; project_id 0: every project
    client       a Client for StreamInfo and Replay (else one is opened from
                 rpc_url / api_key, or their environment variables)
    Replays run with `replay_timeout` seconds each. Raises RpcError: OUT_OF_RANGE
    EVENTS_PRUNED when after_id is older than what retention kept.
    """

    def __init__(self, url=None, after_id=None, type_prefix="", project_id=0, replay_last=0, client=None,
                 rpc_url=None, api_key=None, recv_buffer=0, retry_interval=0.5, replay_timeout=5.0):
        if (after_id is not None and after_id < 0) or not 0 <= replay_last <= 1000:
            raise RpcError(INVALID_ARGUMENT, "VALIDATION_ERROR", "after_id must be >= 0 and replay_last 0..1000")
        self._own_client = client is None
        self._client = client if client is not None else Client(rpc_url, api_key=api_key)
        self._prefix = type_prefix or ""
        self._project_id = project_id
        self._retry_interval = retry_interval
        self._replay_timeout = replay_timeout
        self._queue = collections.deque()
        self._covered = 0
        self._fill_due = None  # monotonic time of the next Replay attempt, None: none pending
        self.last_id = 0  # id of the last event returned (for resuming)
        self.gap_replays = 0
        self.duplicates = 0
        self._pending = None  # the async iterator's wait in flight
        self._sock = _nng.Handle()
        self._open = False
        try:
            info = None
            self.url = url or env_setting("BEEBEEBRAIN_EVENTS_URL")
            if self.url is None or after_id is None:
                info = self._client.event.stream_info()
            if self.url is None:
                if not info.pub_urls:
                    raise RpcError(UNAVAILABLE, "NO_EVENT_URL", "the server publishes no events")
                self.url = info.pub_urls[0]
            heartbeat_s = (info.heartbeat_interval_ms if info and info.heartbeat_interval_ms else 1000) / 1000
            self._silence_s = max(3 * heartbeat_s, 1.0)
            self._subscribe(recv_buffer)
            self._last_msg = time.monotonic()
            self._start(after_id, replay_last, info)
        except BaseException:
            self.close()
            raise

    # -- setup ------------------------------------------------------------

    def _subscribe(self, recv_buffer):
        """Subscribe first, then replay: nothing committed after the replay's
        head can be missed, only received twice (and dropped)."""
        nng = _nng.lib()
        rv = nng.nng_sub0_open(ctypes.byref(self._sock))
        if rv != 0:
            raise RpcError(INTERNAL, "INTERNAL_ERROR", f"cannot open a sub socket: {_nng.strerror(rv)}")
        self._open = True
        if recv_buffer > 0:
            nng.nng_socket_set_int(self._sock, _nng.OPT_RECVBUF, recv_buffer)
        topics = [self._prefix] + ([HEARTBEAT] if self._prefix else [])
        fd = ctypes.c_int()
        for topic in topics:
            t = topic.encode()
            rv = nng.nng_socket_set(self._sock, _nng.OPT_SUB_SUBSCRIBE, t, len(t))  # no NUL: a byte prefix
            if rv != 0:
                break
        if rv == 0:
            rv = nng.nng_socket_get_int(self._sock, _nng.OPT_RECVFD, ctypes.byref(fd))
        if rv == 0:
            rv = nng.nng_dial(self._sock, self.url.encode(), None, _nng.FLAG_NONBLOCK)
        if rv != 0:
            raise RpcError(UNAVAILABLE, "SERVER_UNREACHABLE", f"cannot subscribe to {self.url}: {_nng.strerror(rv)}")
        self._fd = fd.value

    def _start(self, after_id, replay_last, info):
        if replay_last > 0:
            resp = self._replay(event_pb2.ReplayRequest(last_n=replay_last, type_prefix=self._prefix,
                                                        project_id=self._project_id))
            self._take(resp)
            if resp.more:  # a window too big for one reply: the rest after the last event taken
                self._fill()
            return
        if after_id is None:
            self._covered = info.head_id
            return
        self._covered = after_id
        self._fill()

    # -- the replay side --------------------------------------------------

    def _replay(self, req):
        resp = self._client.event.replay(req, timeout=self._replay_timeout)
        if resp.more and not resp.events:
            raise RpcError(INTERNAL, "INTERNAL_ERROR", "Replay answered `more` without an event")
        return resp

    def _take(self, resp):
        for ev in resp.events:
            if ev.id > self._covered:
                self._covered = ev.id
                self._queue.append(ev)
        if resp.head_id > self._covered and not resp.more:
            self._covered = resp.head_id

    def _fill(self):
        """Replays everything matching after `covered` up to the server's head."""
        while True:
            resp = self._replay(event_pb2.ReplayRequest(after_id=self._covered, type_prefix=self._prefix,
                                                        project_id=self._project_id, limit=REPLAY_LIMIT))
            self._take(resp)
            if not resp.more:
                return

    def _fill_or_defer(self):
        """A fill now; when the server cannot be reached, again later."""
        self.gap_replays += 1
        try:
            self._fill()
            self._fill_due = None
        except RpcError as e:
            if e.code not in _RETRYABLE or not self._open:
                raise
            self._fill_due = time.monotonic() + self._retry_interval

    # -- the pub side -----------------------------------------------------

    def _matches(self, ev):
        return ev.event_type.startswith(self._prefix) and (self._project_id == 0 or ev.project_id == self._project_id)

    def _handle(self, body):
        nul = body.find(b"\0")
        if nul < 0:
            return  # not ours
        ev = events_pb2.Event()
        try:
            ev.ParseFromString(body[nul + 1:])
        except Exception:
            return
        if ev.WhichOneof("payload") == "heartbeat":
            if ev.heartbeat.head_id > self._covered:
                self._fill_or_defer()
            return
        if ev.id <= self._covered:
            self.duplicates += 1
            return
        if ev.id == self._covered + 1:
            self._covered = ev.id
            if self._matches(ev):
                self._queue.append(ev)
            return
        self._fill_or_defer()  # a gap: what is missing (and this event) comes from the store

    def _drain(self):
        nng = _nng.lib()
        while self._open:
            msg = ctypes.c_void_p()
            if nng.nng_recvmsg(self._sock, ctypes.byref(msg), _nng.FLAG_NONBLOCK) != 0:
                return
            self._last_msg = time.monotonic()
            self._handle(_nng.msg_take_bytes(msg))

    def next_event(self, timeout=None):
        """The next matching event, or None when none came within `timeout`
        seconds (None: wait as long as it takes) or the subscriber was closed."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self._open:
            if self._queue:
                ev = self._queue.popleft()
                self.last_id = ev.id
                return ev
            now = time.monotonic()
            if self._fill_due is not None and now >= self._fill_due:
                self._fill_or_defer()
                continue
            if self._fill_due is None and now - self._last_msg > self._silence_s:
                self._last_msg = now  # a silent stream: check the store
                self._fill_or_defer()
                continue
            wake = min(t for t in (deadline, self._fill_due, self._last_msg + self._silence_s) if t is not None)
            if deadline is not None and now >= deadline:
                return None
            try:
                select.select([self._fd], [], [], max(0.0, wake - now))
            except (OSError, ValueError):  # closed under us
                return None
            self._drain()
        return None

    def __iter__(self):
        return self

    def __next__(self):
        ev = self.next_event()
        if ev is None:
            raise StopIteration
        return ev

    def __aiter__(self):
        return self

    async def __anext__(self):
        if self._pending is None:
            self._pending = asyncio.get_running_loop().run_in_executor(None, self.next_event)
        try:
            ev = await asyncio.shield(self._pending)
        except asyncio.CancelledError:
            raise  # the wait goes on; the next __anext__ takes its event
        self._pending = None
        if ev is None:
            raise StopAsyncIteration
        return ev

    def close(self):
        """Stops the subscription; a waiting next_event returns None."""
        if self._open:
            self._open = False
            _nng.close_socket(self._sock, f"the subscriber of {self.url}")
        if self._own_client and getattr(self, "_client", None) is not None:
            self._client.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        self.close()
