"""Where a call runs (src/rpc/transport.h): a read that never waits is answered
on the nng thread that received it, with that thread's own read connection;
writes and calls that may wait go to the worker threads. So a read never
waits for a worker: not behind writes that wait for the database, not behind
a client's pipeline. A client with many calls in flight on one connection
that reads its replies is served, however many replies wait for it at once."""

import http.client
import socket
import struct
import threading

from beebeebrain.v1 import admin_pb2, project_pb2, rpc_pb2, task_pb2
from beebeebrain import Client
from conftest import Server, wait_until

SP_REQ0_HELLO = b"\x00SP\x00" + struct.pack(">HH", 0x30, 0)  # SP/TCP header of a req0 peer


def connect_call(srv, service, method, msg):
    """A Connect unary call on the HTTP listener: each listener runs at most
    --workers calls at once on the shared pool of --workers + 1 threads, so
    one is left for HTTP while every RPC call waits."""
    c = http.client.HTTPConnection("127.0.0.1", srv.http_port, timeout=30)
    try:
        c.request("POST", f"/beebeebrain.v1.{service}/{method}", body=msg.SerializeToString(),
                  headers={"Content-Type": "application/proto", "Connect-Protocol-Version": "1"})
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


def writer_queue_depth(srv):
    """beebeebrain_store_writer_queue_depth from /metrics: writes waiting
    while the writer thread is busy with (or stuck on) an earlier one."""
    c = http.client.HTTPConnection("127.0.0.1", srv.http_port, timeout=10)
    try:
        c.request("GET", "/metrics")
        body = c.getresponse().read().decode()
    finally:
        c.close()
    for line in body.splitlines():
        if line.startswith("beebeebrain_store_writer_queue_depth "):
            return float(line.split()[1])
    return 0.0


def server_with_held_lock(db_path, rpc_url, workspace, workers, busy_timeout_ms=120000):
    """A server with a project and one task ("read me") whose database write
    lock is then held for 120 s (AdminService/InjectFault db_lock): writes
    wait for it up to busy_timeout_ms, reads do not. Returns (server, the
    task's id); the caller stops the server."""
    srv = Server(db_path, rpc_url, extra_args=["--workers", str(workers), "--enable-fault-injection"],
                 env={"BEEBEEBRAIN_RUNTIME": "off", "BEEBEEBRAIN_BUSY_TIMEOUT_MS": str(busy_timeout_ms)}).start()
    try:
        with Client(rpc_url, timeout=10) as c:
            c.call("ProjectService", "CreateProject",
                   project_pb2.CreateProjectRequest(name="default", root_path=str(workspace)),
                   project_pb2.CreateProjectResponse)
            task_id = c.call("TaskService", "CreateTask", task_pb2.CreateTaskRequest(title="read me"),
                             task_pb2.CreateTaskResponse).task.id
            c.call("AdminService", "InjectFault", admin_pb2.InjectFaultRequest(mode="db_lock", duration_ms=120000),
                   admin_pb2.InjectFaultResponse)
    except BaseException:
        srv.stop()
        raise
    return srv, task_id


def test_a_read_is_answered_while_every_worker_waits_for_a_held_database_lock(tmp_path, workspace, rpc_url):
    # Two workers; writes wait for SQLite's write lock as long as it is held
    # (the busy timeout is longer than the test), and the test lets it go.
    srv, task_id = server_with_held_lock(tmp_path / "read.db", rpc_url, workspace, workers=2)
    writes, results = [], []
    try:
        def write(i):
            with Client(rpc_url, timeout=60) as w:
                results.append(w.call("TaskService", "CreateTask", task_pb2.CreateTaskRequest(title=f"w{i}"),
                                      task_pb2.CreateTaskResponse).task.title)

        # Three writes for two workers: the writer holds the first (stuck on
        # the lock), the second waits for the writer, the third for a worker.
        for i in range(3):
            writes.append(threading.Thread(target=write, args=(i,), daemon=True))
            writes[-1].start()
        wait_until(lambda: writer_queue_depth(srv) >= 1, 30, "both workers to wait in the writer's queue")

        with Client(rpc_url, timeout=10) as c:
            got = c.call("TaskService", "GetTask", task_pb2.GetTaskRequest(task_id=task_id),
                         task_pb2.GetTaskResponse).task
            assert got.title == "read me"
            assert c.call("TaskService", "ListTasks", task_pb2.ListTasksRequest(),
                          task_pb2.ListTasksResponse).tasks[0].id == task_id
        assert results == [] and all(t.is_alive() for t in writes)  # the lock is still held

        # ClearFaults is a write of sorts: over HTTP, on the pool's spare worker.
        status, _ = connect_call(srv, "AdminService", "ClearFaults", admin_pb2.ClearFaultsRequest())
        assert status == 200
        for t in writes:
            t.join(timeout=60)
        assert sorted(results) == ["w0", "w1", "w2"]
    finally:
        assert srv.stop() == 0, srv.log()


class PipelinedPeer:
    """A raw req0 peer over TCP: sends many requests at once, then reads every
    reply (matched by the 4-byte request id nng puts in front of it)."""

    def __init__(self, url):
        host, port = url[len("tcp://"):].rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout=30)
        self.sock.sendall(SP_REQ0_HELLO)
        assert self.recv_exact(8)[:4] == b"\x00SP\x00"

    def recv_exact(self, n):
        buf = b""
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            assert chunk, "the server closed the connection"
            buf += chunk
        return buf

    def send_all(self, bodies):
        self.sock.sendall(b"".join(struct.pack(">QI", 4 + len(b), 0x80000000 | (i + 1)) + b
                                   for i, b in enumerate(bodies)))

    def read_replies(self, n):
        replies = {}
        for _ in range(n):
            (size,) = struct.unpack(">Q", self.recv_exact(8))
            body = self.recv_exact(size)
            replies[struct.unpack(">I", body[:4])[0] & 0x7FFFFFFF] = rpc_pb2.RpcResponse.FromString(body[4:])
        return replies

    def close(self):
        self.sock.close()


def test_a_client_with_512_calls_in_flight_on_one_connection_gets_every_reply(server, client, workspace):
    client.call("ProjectService", "CreateProject",
                project_pb2.CreateProjectRequest(name="default", root_path=str(workspace)),
                project_pb2.CreateProjectResponse)
    task_id = client.call("TaskService", "CreateTask", task_pb2.CreateTaskRequest(title="piped"),
                          task_pb2.CreateTaskResponse).task.id
    body = rpc_pb2.RpcRequest(method="/beebeebrain.v1.TaskService/GetTask",
                              payload=task_pb2.GetTaskRequest(task_id=task_id).SerializeToString(),
                              timeout_ms=30000).SerializeToString()
    peer = PipelinedPeer(server.url)
    try:
        for _ in range(3):
            peer.send_all([body] * 512)
            replies = peer.read_replies(512)
            assert sorted(replies) == list(range(1, 513))
            for r in replies.values():
                assert r.code == 0, r
                assert task_pb2.GetTaskResponse.FromString(r.payload).task.title == "piped"
    finally:
        peer.close()
    assert "closing the connection" not in server.log()


def test_past_64_mib_of_requests_waiting_for_a_worker_a_request_is_refused_overloaded(tmp_path, workspace, rpc_url):
    """The requests waiting for a worker hold at most 64 MiB: one worker stuck
    on a held database lock, then 20 writes of 4,000,000 bytes each on one
    connection. 16 fit and wait; the other 4 are answered at once with
    RESOURCE_EXHAUSTED OVERLOADED (nothing ran: a retry is safe), while the
    lock is still held. Once it is let go every waiting call is answered."""
    srv, _ = server_with_held_lock(tmp_path / "queue.db", rpc_url, workspace, workers=1)
    peer = None
    try:
        create = "/beebeebrain.v1.TaskService/CreateTask"
        first = rpc_pb2.RpcRequest(method=create, payload=task_pb2.CreateTaskRequest(title="held").SerializeToString(),
                                   timeout_ms=120000).SerializeToString()
        # 4,000,000 bytes: an api_key the server, which has none, ignores.
        def envelope(key_len):
            return rpc_pb2.RpcRequest(method=create, timeout_ms=120000, trace_id="big",
                                      api_key="k" * key_len).SerializeToString()
        big = envelope(4_000_000 - (len(envelope(3_900_000)) - 3_900_000))
        assert len(big) == 4_000_000, len(big)

        peer = PipelinedPeer(rpc_url)
        peer.send_all([first] + [big] * 20)
        early = peer.read_replies(4)  # while the lock is held
        assert len(early) == 4 and 1 not in early  # (nng's threads may queue the big ones in any order)
        for r in early.values():
            assert (r.code, r.reason, r.trace_id) == (8, "OVERLOADED", "big"), r

        status, _ = connect_call(srv, "AdminService", "ClearFaults", admin_pb2.ClearFaultsRequest())
        assert status == 200
        rest = peer.read_replies(17)
        assert sorted(list(rest) + list(early)) == list(range(1, 22))
        assert rest[1].code == 0 and task_pb2.CreateTaskResponse.FromString(rest[1].payload).task.title == "held"
        assert all(r.reason != "OVERLOADED" for r in rest.values())
    finally:
        if peer is not None:
            peer.close()
        assert srv.stop() == 0, srv.log()


def test_a_read_is_answered_while_a_pipeline_of_600_writes_waits_for_a_held_database_lock(tmp_path, workspace,
                                                                                           rpc_url):
    """Each request waiting for a worker holds one of the 512 receivers. At
    most 256 wait: past that a write is answered RESOURCE_EXHAUSTED OVERLOADED
    at once (nothing ran), so a pipeline of small writes stuck behind a held
    database lock cannot take every receiver and stop all reads."""
    srv, task_id = server_with_held_lock(tmp_path / "pipe.db", rpc_url, workspace, workers=2)
    peer = None
    try:
        create = rpc_pb2.RpcRequest(method="/beebeebrain.v1.TaskService/CreateTask",
                                    payload=task_pb2.CreateTaskRequest(title="piped").SerializeToString(),
                                    timeout_ms=120000).SerializeToString()
        peer = PipelinedPeer(rpc_url)
        peer.send_all([create] * 600)
        early = peer.read_replies(1)  # while the lock is held: a refusal
        assert [(r.code, r.reason) for r in early.values()] == [(8, "OVERLOADED")]

        with Client(rpc_url, timeout=10) as c:
            assert c.call("TaskService", "GetTask", task_pb2.GetTaskRequest(task_id=task_id),
                          task_pb2.GetTaskResponse).task.title == "read me"

        status, _ = connect_call(srv, "AdminService", "ClearFaults", admin_pb2.ClearFaultsRequest())
        assert status == 200
        replies = peer.read_replies(599)
        replies.update(early)
        assert sorted(replies) == list(range(1, 601))
        done = [r for r in replies.values() if r.code == 0]
        assert all(r.reason == "OVERLOADED" for r in replies.values() if r.code != 0)
        assert len(done) >= 256
        with Client(rpc_url, timeout=10) as c:
            piped, offset = 0, 0
            while True:
                tasks = c.call("TaskService", "ListTasks", task_pb2.ListTasksRequest(limit=100, offset=offset),
                               task_pb2.ListTasksResponse).tasks
                if not tasks:
                    break
                piped += len([t for t in tasks if t.title == "piped"])
                offset += len(tasks)
            assert piped == len(done)  # a refused write did not run
    finally:
        if peer is not None:
            peer.close()
        assert srv.stop() == 0, srv.log()


def test_sigterm_with_200_writes_queued_behind_a_held_lock_refuses_them_shutting_down_and_exits(tmp_path, workspace,
                                                                                              rpc_url):
    """On SIGTERM the workers finish the calls they run but do not run the
    ones still queued: those are answered UNAVAILABLE SHUTTING_DOWN (nothing
    ran, a retry is safe). Running 200 writes one after the other, each
    waiting out the busy timeout on a held lock, would hold the stop for
    minutes; the server exits with status 0 within its usual 10 s."""
    srv, _ = server_with_held_lock(tmp_path / "stop.db", rpc_url, workspace, workers=1, busy_timeout_ms=1000)
    peer = None
    try:
        create = rpc_pb2.RpcRequest(method="/beebeebrain.v1.TaskService/CreateTask",
                                    payload=task_pb2.CreateTaskRequest(title="queued").SerializeToString(),
                                    timeout_ms=120000).SerializeToString()
        peer = PipelinedPeer(rpc_url)
        peer.send_all([create] * 200)
        wait_until(lambda: writer_queue_depth(srv) >= 1, 30, "the worker to wait in the writer's queue")
        assert srv.stop() == 0, srv.log()
        replies = {}
        try:
            while True:
                replies.update(peer.read_replies(1))
        except (AssertionError, OSError):
            pass  # the server closed the connection once it stopped
        refused = [r for r in replies.values() if r.reason == "SHUTTING_DOWN"]
        assert len(refused) >= 100, sorted({(r.code, r.reason) for r in replies.values()})
        assert all(r.code == 14 for r in refused)
    finally:
        if peer is not None:
            peer.close()
        srv.stop()
