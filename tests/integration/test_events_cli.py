"""`beebeebrain events` from the outside: the exact CLI of docs/cli.md,
following a real server's event stream while events are produced."""

import json
import subprocess
import threading
import time

from beebeebrain.v1 import event_pb2

from conftest import BIN, child_env


def publish(client, n, kind="operator.test"):
    ids = []
    for i in range(n):
        r = client.call("EventService", "Publish",
                        event_pb2.PublishRequest(event_type=kind, actor="pytest", message=f"m{i}"),
                        event_pb2.PublishResponse)
        ids.append(r.event.id)
    return ids


def read_json_lines(proc, want, timeout_s=20.0):
    """Reads `want` JSON lines from a following `events` process (bounded)."""
    got = []
    deadline = time.monotonic() + timeout_s
    while len(got) < want:
        assert time.monotonic() < deadline, f"only {len(got)} of {want} events within {timeout_s} s"
        line = proc.stdout.readline()
        assert line, f"events --follow ended early (exit {proc.poll()}): {proc.stderr.read()}"
        got.append(json.loads(line))
    return got


def follow(server, *args):
    return subprocess.Popen([BIN, "--rpc", server.url, "events", "--follow", "-o", "json", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=child_env())


def stop(proc):
    proc.terminate()
    rc = proc.wait(timeout=10)
    assert rc == 0, f"events --follow exited {rc} on SIGTERM: {proc.stderr.read()}"


# Every Publish also commits its security.audit.allowed event (docs/security.md):
# the tests that compare ids with the published ones follow "operator." only.


def test_replay_last_50_then_follow_prints_each_event_once_in_id_order(server, client):
    before = publish(client, 70)
    proc = follow(server, "--replay-last", "50", "--type", "operator.")
    try:
        first = read_json_lines(proc, 50)
        assert [int(e["id"]) for e in first] == before[-50:]
        produced = []
        producer = threading.Thread(target=lambda: produced.extend(publish(client, 120)))
        producer.start()
        later = read_json_lines(proc, 120)
        producer.join()
        ids = [int(e["id"]) for e in later]
        assert ids == produced
        assert all(e["event_type"] == "operator.test" and e["custom"]["actor"] == "pytest" for e in later)
    finally:
        stop(proc)


def test_follow_without_a_type_sees_every_event_including_the_audit(server, client):
    ids = publish(client, 3)
    proc = follow(server, "--after", str(ids[0]))
    try:
        got = read_json_lines(proc, 5)
        assert [int(e["id"]) for e in got] == list(range(ids[0] + 1, ids[0] + 6))
        assert [e["event_type"] for e in got] == ["security.audit.allowed", "operator.test"] * 2 + [
            "security.audit.allowed"]
    finally:
        stop(proc)


def test_follow_resumes_after_a_saved_id_without_loss(server, client):
    ids = publish(client, 30)
    proc = follow(server, "--after", str(ids[9]), "--type", "operator.")
    try:
        got = read_json_lines(proc, 20)
        assert [int(e["id"]) for e in got] == ids[10:]
    finally:
        stop(proc)


def test_type_prefix_filters_the_stream(server, client):
    proc = follow(server, "--type", "agent.")
    try:
        time.sleep(0.3)  # let the subscriber connect; anything missed is replayed anyway
        publish(client, 10, "operator.noise")
        wanted = publish(client, 5, "agent.note")
        got = read_json_lines(proc, 5)
        assert [int(e["id"]) for e in got] == wanted
        assert {e["event_type"] for e in got} == {"agent.note"}
    finally:
        stop(proc)


def test_replay_without_follow_is_one_json_document(server, client, cli):
    ids = publish(client, 5)
    doc = cli.json("events", "--after", str(ids[1]), "--type", "operator.")
    assert [int(e["id"]) for e in doc["events"]] == ids[2:]
    assert int(doc["head_id"]) == ids[-1] + 1  # the last Publish's security.audit.allowed


def test_bad_event_arguments_are_usage_errors(server, cli):
    for args in (["--replay-last", "0"], ["--replay-last", "1001"], ["--after", "-3"],
                 ["--replay-last", "5", "--after", "2"], ["--bogus"]):
        rc, _, err = cli("events", *args)
        assert rc == 2, (args, err)
        assert err.startswith("error: INVALID_ARGUMENT USAGE:"), err


def test_publish_refuses_types_outside_operator_and_agent(client):
    import pytest
    from beebeebrain import RpcError
    with pytest.raises(RpcError) as e:
        client.call("EventService", "Publish", event_pb2.PublishRequest(event_type="task.status.changed"),
                    event_pb2.PublishResponse)
    assert e.value.code == 3 and e.value.reason == "VALIDATION_ERROR"
