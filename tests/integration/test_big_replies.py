"""Replies are capped by size (about 4 MiB, as requests are): Replay and the
List methods stop a page early when its rows are big and say where to go on
(`more`, next_page_token); following that yields every row exactly once. The
CLI and the Python client follow it themselves, so they still print or return
everything that was asked for.

Big rows: operator events of ~68 KiB (the largest Publish takes), tasks with
1 MiB descriptions. Reply sizes are measured on the wire: the RpcResponse
bytes as they arrive."""

import json
import uuid

import pytest

from beebeebrain.v1 import common_pb2 as pb, event_pb2, project_pb2, rpc_pb2, task_pb2

REPLY_MAX = 4 * 1024 * 1024
BIG_DATA = json.dumps("d" * (64 * 1024 - 16))  # a JSON string just under Publish's 64 KiB
BIG_MESSAGE = "m" * 4000
# Each Publish also commits its security.audit.allowed event: the replays that
# are compared with the published ids follow the operator events only.
OPERATOR = "operator."


def wire_call(client, service, method, request, response_cls):
    """A call whose reply size is measured: (RpcResponse bytes, parsed payload)."""
    env = rpc_pb2.RpcRequest(method=f"/beebeebrain.v1.{service}/{method}", payload=request.SerializeToString(),
                             timeout_ms=int(client.timeout * 1000), request_id=uuid.uuid4().hex)
    raw = client.raw(env.SerializeToString())
    reply = rpc_pb2.RpcResponse.FromString(raw)
    assert reply.code == 0, f"{method}: {reply.code} {reply.reason}: {reply.message}"
    return len(raw), response_cls.FromString(reply.payload)


def publish_big(client, n):
    ids = []
    for _ in range(n):
        r = client.call("EventService", "Publish",
                        event_pb2.PublishRequest(event_type="operator.big", actor="pytest", message=BIG_MESSAGE,
                                                 data_json=BIG_DATA),
                        event_pb2.PublishResponse)
        ids.append(r.event.id)
    return ids


@pytest.fixture
def big_events(client):
    """300 events of ~68 KiB: 20 MB if Replay{last_n: 1000} answered in one reply."""
    return publish_big(client, 300)


@pytest.fixture
def client(server):
    from beebeebrain import Client
    with Client(server.url, timeout=60) as c:
        yield c


def test_replay_last_1000_of_big_events_is_capped_and_continues_exactly_once(client, big_events):
    size, r = wire_call(client, "EventService", "Replay", event_pb2.ReplayRequest(last_n=1000, type_prefix=OPERATOR),
                        event_pb2.ReplayResponse)
    assert size <= REPLY_MAX
    assert r.more, "a reply cut short must say so"
    assert 0 < len(r.events) < len(big_events)
    assert r.head_id == big_events[-1] + 1  # the last Publish's security.audit.allowed
    got = [e.id for e in r.events]
    calls = 1
    while r.more:
        size, r = wire_call(client, "EventService", "Replay",
                            event_pb2.ReplayRequest(after_id=got[-1], limit=1000 - len(got), type_prefix=OPERATOR),
                            event_pb2.ReplayResponse)
        assert size <= REPLY_MAX
        assert r.events, "`more` with nothing to continue after"
        got.extend(e.id for e in r.events)
        calls += 1
        assert calls <= 1000
    assert got == big_events  # every event, once, in order
    assert all(e.custom.data_json == BIG_DATA for e in r.events)


def test_replay_after_id_follows_more_to_the_head(client, big_events):
    got, after = [], big_events[99]
    while True:
        size, r = wire_call(client, "EventService", "Replay",
                            event_pb2.ReplayRequest(after_id=after, type_prefix=OPERATOR), event_pb2.ReplayResponse)
        assert size <= REPLY_MAX
        got.extend(e.id for e in r.events)
        if not r.more:
            break
        after = r.events[-1].id
    assert got == big_events[100:]


def test_cli_replay_last_prints_every_event_asked_for(cli, big_events):
    out = cli.json("events", "--replay-last", "1000", "--type", OPERATOR)
    assert [int(e["id"]) for e in out["events"]] == big_events
    out = cli.json("events", "--replay-last", "123", "--type", "operator.")
    assert [int(e["id"]) for e in out["events"]] == big_events[-123:]
    out = cli.json("events", "--after", str(big_events[150]), "--type", OPERATOR)
    assert [int(e["id"]) for e in out["events"]] == big_events[151:]


def test_python_client_replay_returns_every_event_asked_for(client, big_events):
    events, head, _ = client.replay(event_pb2.ReplayRequest(last_n=1000, type_prefix=OPERATOR))
    assert [e.id for e in events] == big_events
    assert head == big_events[-1] + 1
    events, _, _ = client.replay(event_pb2.ReplayRequest(after_id=big_events[199], limit=80, type_prefix=OPERATOR))
    assert [e.id for e in events] == big_events[200:280]


# ---- lists over big rows

BIG_DESCRIPTION = "x" * (1024 * 1024)


@pytest.fixture
def big_tasks(client, tmp_path):
    """12 todo tasks with 1 MiB descriptions (12 MiB if listed in one reply)."""
    p = client.call("ProjectService", "CreateProject",
                    project_pb2.CreateProjectRequest(name="big", root_path=str(tmp_path / "ws")),
                    project_pb2.CreateProjectResponse).project
    ids = []
    for i in range(12):
        t = client.call("TaskService", "CreateTask",
                        task_pb2.CreateTaskRequest(project_id=p.id, title=f"big {i}", description=BIG_DESCRIPTION),
                        task_pb2.CreateTaskResponse).task
        ids.append(t.id)
    return p.id, ids


def test_list_tasks_over_big_rows_pages_by_size(client, big_tasks):
    project, ids = big_tasks
    got, token, pages = [], "", 0
    while True:
        size, r = wire_call(client, "TaskService", "ListTasks",
                            task_pb2.ListTasksRequest(project_id=project, limit=100, page_token=token),
                            task_pb2.ListTasksResponse)
        assert size <= REPLY_MAX
        assert r.tasks
        got.extend(t.id for t in r.tasks)
        assert all(t.description == BIG_DESCRIPTION for t in r.tasks)
        pages += 1
        token = r.next_page_token
        if not token:
            break
    assert got == ids
    assert pages >= 3


def test_ready_tasks_page_by_size_with_a_token(client, big_tasks):
    project, ids = big_tasks
    got, token = [], ""
    while True:
        size, r = wire_call(client, "TaskService", "ListReadyTasks",
                            task_pb2.ListReadyTasksRequest(project_id=project, limit=100, page_token=token),
                            task_pb2.ListReadyTasksResponse)
        assert size <= REPLY_MAX
        assert r.tasks
        got.extend(t.id for t in r.tasks)
        token = r.next_page_token
        if not token:
            break
    assert got == ids  # same priority: oldest first


def test_ready_tasks_refuse_a_foreign_page_token(client, big_tasks):
    from beebeebrain import RpcError
    project, _ = big_tasks
    with pytest.raises(RpcError) as e:
        client.call("TaskService", "ListReadyTasks",
                    task_pb2.ListReadyTasksRequest(project_id=project, page_token="c12"),
                    task_pb2.ListReadyTasksResponse)
    assert (e.value.code, e.value.reason) == (3, "INVALID_PAGE_TOKEN")


def test_cli_lists_print_every_row_asked_for(cli, big_tasks):
    project, ids = big_tasks
    out = cli.json("task", "list", "--project", project, "--limit", "10")
    assert [int(t["id"]) for t in out["tasks"]] == ids[:10]
    assert out["next_page_token"]
    rest = cli.json("task", "list", "--project", project, "--page-token", out["next_page_token"])
    assert [int(t["id"]) for t in rest["tasks"]] == ids[10:]
    assert "next_page_token" not in rest
    out = cli.json("task", "ready", "--project", project, "--limit", "12")
    assert [int(t["id"]) for t in out["tasks"]] == ids
    rc, text, err = cli("task", "list", "--project", project, "--limit", "5")
    assert rc == 0, err
    assert len([line for line in text.splitlines() if line.split()[:1] and line.split()[0].isdigit()]) == 5
    assert "next page: --page-token" in text


def test_python_client_list_rows_returns_every_row_asked_for(client, big_tasks):
    project, ids = big_tasks
    rows, token = client.list_rows("TaskService", "ListTasks", task_pb2.ListTasksRequest(project_id=project),
                                   task_pb2.ListTasksResponse, limit=7)
    assert [t.id for t in rows] == ids[:7]
    assert token
    rows, token = client.list_rows("TaskService", "ListTasks",
                                   task_pb2.ListTasksRequest(project_id=project, page_token=token),
                                   task_pb2.ListTasksResponse)
    assert [t.id for t in rows] == ids[7:]
    assert token == ""
    assert all(t.status == pb.TASK_STATUS_TODO for t in rows)
