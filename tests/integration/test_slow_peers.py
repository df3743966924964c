"""Peers that send requests and never read their replies (docs/decisions.md,
RPC: garbage on the socket never stalls the server). Such a peer fills its socket
buffers; the server must not let its replies hold a worker or the thread that
answers waiting RunTask calls: the peer's connection is closed (too many
replies waiting for it, or one waiting too long) and everybody else is served
on time all along.

The misbehaving peer is a raw SP/TCP req0 peer written here with a small
receive buffer: it speaks the protocol correctly, it just never reads."""

import socket
import struct
import threading
import time

import pytest

from beebeebrain.v1 import event_pb2, health_pb2, project_pb2, rpc_pb2, task_pb2
from beebeebrain import Client, RpcError
from conftest import Server, wait_until

SP_REQ0_HELLO = b"\x00SP\x00" + struct.pack(">HH", 0x30, 0)  # SP/TCP header of a req0 peer
HEALTH_TIMEOUT_MS = 3000  # a healthy server answers health in milliseconds


def envelope(method, request=None, timeout_ms=5000):
    payload = request.SerializeToString() if request is not None else b""
    return rpc_pb2.RpcRequest(method=method, payload=payload, timeout_ms=timeout_ms).SerializeToString()


class DeafPeer:
    """A raw req0 peer over TCP that sends requests and reads nothing until
    told to. `send` returns False once the server has closed the connection."""

    def __init__(self, url):
        host, port = url[len("tcp://"):].rsplit(":", 1)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.sock.settimeout(10)
        self.sock.connect((host, int(port)))
        self.sock.sendall(SP_REQ0_HELLO)
        self.name = "%s:%d" % self.sock.getsockname()
        self.next_id = 1
        self.sent = 0

    def send(self, body):
        frame = struct.pack(">QI", 4 + len(body), 0x80000000 | self.next_id) + body
        self.next_id += 1
        try:
            self.sock.sendall(frame)
        except OSError:
            return False
        self.sent += 1
        return True

    def closed_by_server(self, timeout_s=10):
        """Reads everything the server sent; True when the connection then ends."""
        self.sock.settimeout(timeout_s)
        try:
            while self.sock.recv(1 << 20):
                pass
        except socket.timeout:
            return False
        except OSError:
            pass  # reset: closed with our requests unread
        return True

    def close(self):
        self.sock.close()


def health_ok(url):
    with Client(url, timeout=HEALTH_TIMEOUT_MS / 1000) as c:
        return c.call("HealthService", "Check", health_pb2.CheckRequest(), health_pb2.CheckResponse).status == "ok"


def serve_while(url, busy, limit_s):
    """Calls health again and again while busy() holds (at most limit_s);
    every call must be answered. Returns how many were."""
    deadline = time.monotonic() + limit_s
    answered = 0
    while busy():
        assert time.monotonic() < deadline, f"the misbehaving peer was not dropped within {limit_s} s"
        try:
            assert health_ok(url)
        except RpcError as e:
            pytest.fail(f"health was not answered while a peer did not read its replies: {e}")
        answered += 1
        time.sleep(0.05)
    return answered


def dropped_in_log(srv, peer):
    return f"closing the connection of {peer.name}" in srv.log()


@pytest.fixture
def small_server(tmp_path, rpc_url):
    """Two workers: two stuck replies were enough to stop the old server."""
    srv = Server(tmp_path / "slow.db", rpc_url, extra_args=["--workers", "2"],
                 env={"BEEBEEBRAIN_RUNTIME": "off"}).start()
    yield srv
    if srv.running():
        assert srv.stop() == 0, srv.log()


def publish_big_events(url, n=100, size=60000):
    """n events of about `size` bytes each, so that one Replay reply is
    larger than what the socket buffers on both sides hold."""
    with Client(url, timeout=30) as c:
        for i in range(n):
            c.call("EventService", "Publish",
                   event_pb2.PublishRequest(event_type="operator.fill", message=f"event {i}",
                                            data_json='"' + "x" * size + '"'),
                   event_pb2.PublishResponse)


def test_peer_flooding_health_without_reading_is_dropped_and_others_are_served(small_server):
    peer = DeafPeer(small_server.url)
    body = envelope("/beebeebrain.v1.HealthService/Check")
    open_ = threading.Event()
    open_.set()

    def flood():
        while open_.is_set() and peer.send(body):
            pass
        open_.clear()

    flooder = threading.Thread(target=flood, daemon=True)
    flooder.start()
    try:
        serve_while(small_server.url, open_.is_set, limit_s=120)
        assert not open_.is_set()
        assert peer.sent > 0
        # The flood stops when the peer can send no more; the server closes the
        # connection once a reply has waited its bound (5 s), maybe just after.
        wait_until(lambda: dropped_in_log(small_server, peer), 30, "the server closing the deaf peer's connection")
        assert health_ok(small_server.url)
    finally:
        open_.clear()
        flooder.join(timeout=10)
        peer.close()


@pytest.mark.parametrize("requests", [8, 500])
def test_peer_asking_for_big_replays_without_reading_is_dropped_and_others_are_served(small_server, requests):
    """8 requests: a few replies wait until the time bound drops them; 500:
    the peer runs out of room for waiting replies first."""
    publish_big_events(small_server.url)
    peer = DeafPeer(small_server.url)
    body = envelope("/beebeebrain.v1.EventService/Replay", event_pb2.ReplayRequest(limit=1000))
    try:
        for _ in range(requests):
            if not peer.send(body):
                break
        serve_while(small_server.url, lambda: not dropped_in_log(small_server, peer), limit_s=60)
        assert peer.closed_by_server()
        assert health_ok(small_server.url)
    finally:
        peer.close()


def test_waiting_run_calls_of_a_peer_that_does_not_read_do_not_delay_other_waiting_calls(tmp_path, workspace,
                                                                                          rpc_url):
    """RunTask with wait is answered by one waiter thread. A deaf peer's 20
    such calls, due first, must not hold that thread while their replies
    cannot be sent: another client's waiting call is answered when its own
    deadline passes (1 s), not after the peer's replies (1 s each in the old
    server) nor after the peer is dropped (5 s)."""
    srv = Server(tmp_path / "wait.db", rpc_url, extra_args=["--workers", "8"],
                 env={"BEEBEEBRAIN_RUNTIME": "off"}).start()
    peer = None
    try:
        with Client(rpc_url, timeout=10) as c:
            c.call("ProjectService", "CreateProject",
                   project_pb2.CreateProjectRequest(name="default", root_path=str(workspace)),
                   project_pb2.CreateProjectResponse)
            tasks = [c.call("TaskService", "CreateTask", task_pb2.CreateTaskRequest(title=f"t{i}"),
                            task_pb2.CreateTaskResponse).task.id for i in range(21)]
        publish_big_events(rpc_url)
        replay = envelope("/beebeebrain.v1.EventService/Replay", event_pb2.ReplayRequest(limit=1000))
        with Client(rpc_url, timeout=10) as c:
            reply_size = len(c.raw(replay))
        # Enough big replies to fill the socket buffers (a few MiB on
        # loopback), so that the peer's connection stays busy, yet few enough
        # that the peer still has room for replies waiting.
        replays = min(10, (8 << 20) // reply_size + 2)

        peer = DeafPeer(rpc_url)
        for _ in range(replays):
            assert peer.send(replay)
        for task_id in tasks[:20]:
            run = task_pb2.RunTaskRequest(task_id=task_id, prompt="x", provider="echo", wait=True)
            assert peer.send(envelope("/beebeebrain.v1.TaskService/RunTask", run, timeout_ms=300))
        time.sleep(0.2)

        with Client(rpc_url, timeout=1) as c:
            run = task_pb2.RunTaskRequest(task_id=tasks[20], prompt="x", provider="echo", wait=True)
            started = time.monotonic()
            reply = rpc_pb2.RpcResponse.FromString(
                c.raw(envelope("/beebeebrain.v1.TaskService/RunTask", run, timeout_ms=1000), timeout=3))
        assert reply.code == 0, reply
        assert time.monotonic() - started >= 0.9  # it did wait for its deadline
        assert task_pb2.RunTaskResponse.FromString(reply.payload).run.task_id == tasks[20]
        wait_until(lambda: dropped_in_log(srv, peer), 30, "the deaf peer's connection to be closed")
        assert health_ok(rpc_url)
    finally:
        if peer is not None:
            peer.close()
        assert srv.stop() == 0, srv.log()
