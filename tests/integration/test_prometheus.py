"""GET /metrics on the real server (docs/metrics.md): the Prometheus text format
0.0.4 that `promtool check metrics` accepts, counters that move with what
happened (RPC calls by code, runs by status, provider calls by outcome, open
alerts by code, HTTP requests), and no API key needed to scrape while calls
still need one."""

import http.client
import shutil
import socket
import subprocess
import time
import urllib.parse

from conftest import BIN, Server, child_env, wait_until
from runtime_fixtures import fake_llm, start_runtime  # noqa: F401  (fixtures)

UNPRICED = "unpriced-model-for-metrics"  # a successful call on it raises PRICE_UNKNOWN
KEY = "bbbMetricsKey93xQ"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def request(http_url, method, path, body=None, headers=None):
    u = urllib.parse.urlsplit(http_url)
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
    try:
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        c.close()


def promtool_check(text):
    """Fails (never skips) without promtool: scripts/install-deps.sh installs it."""
    promtool = shutil.which("promtool")
    assert promtool, "promtool is missing: run scripts/install-deps.sh (Debian package prometheus)"
    p = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=30)
    assert p.returncode == 0 and p.stdout.strip() == "" and p.stderr.strip() == "", (p.stdout, p.stderr)


def parse_labels(s):
    """'a="x",b="y\\"z"' -> {"a": "x", "b": 'y"z'} (the format's escapes undone)."""
    labels, i = {}, 0
    while i < len(s):
        eq = s.index("=", i)
        name, i, value = s[i:eq], eq + 2, []
        while s[i] != '"':
            if s[i] == "\\":
                i += 1
                value.append({"n": "\n"}.get(s[i], s[i]))
            else:
                value.append(s[i])
            i += 1
        labels[name] = "".join(value)
        i += 2 if i + 1 < len(s) and s[i + 1] == "," else 1
    return labels


def scrape(http_url):
    """The samples of one scrape: {(name, frozenset of label pairs): value}, and the text."""
    status, headers, body = request(http_url, "GET", "/metrics")
    assert status == 200 and headers["content-type"] == CONTENT_TYPE, (status, headers)
    text = body.decode()
    samples = {}
    for line in text.splitlines():
        if line.startswith("#") or not line:
            continue
        series, value = line.rsplit(" ", 1)
        name, _, rest = series.partition("{")
        labels = parse_labels(rest[:-1]) if rest else {}
        samples[(name, frozenset(labels.items()))] = float(value)
    return samples, text


def value(samples, name, **labels):
    return samples.get((name, frozenset(labels.items())), 0.0)


def test_a_scrape_passes_promtool_and_its_counters_follow_calls_runs_provider_calls_and_alerts(start_runtime):
    rt = start_runtime()
    http_url = rt.server.http_url
    fake = rt.fake.url

    rc, _, err = rt.cli("task", "get", 99999)
    assert rc == 1 and "NOT_FOUND" in err
    echo_agent = rt.cli.json("agent", "create", "--project", rt.project_id, "--name", "echo-agent", "--role", "coder",
                             "--provider", "echo", "--model", "echo")["agent"]
    echo_task = rt.cli.json("task", "create", "--project", rt.project_id, "--title", "echo", "--assignee",
                            echo_agent["id"])["task"]
    run = rt.cli.json("task", "run", echo_task["id"], "--prompt", "hi", "--wait")["run"]
    assert run["run_status"] == "RUN_STATUS_SUCCEEDED"
    _, llm_run = rt.task_and_run("metrics turn", "anthropic", "--model", UNPRICED)
    assert rt.wait_run(llm_run)["run_status"] == "succeeded"

    samples, text = scrape(http_url)
    promtool_check(text)
    for family in ("beebeebrain_rpc_requests_total counter", "beebeebrain_rpc_request_duration_seconds histogram",
                   "beebeebrain_http_requests_total counter", "beebeebrain_runs gauge",
                   "beebeebrain_llm_calls_total counter", "beebeebrain_llm_call_duration_seconds histogram",
                   "beebeebrain_llm_breaker_state gauge", "beebeebrain_alerts_open gauge",
                   "beebeebrain_store_writer_queue_depth gauge", "beebeebrain_store_writes_per_commit histogram",
                   "beebeebrain_store_commit_duration_seconds histogram",
                   "beebeebrain_events_published_total counter", "beebeebrain_events_subscribers gauge",
                   "process_resident_memory_bytes gauge", "process_open_fds gauge", "process_threads gauge",
                   "process_start_time_seconds gauge"):
        assert f"\n# TYPE {family}\n" in text, family

    task = "beebeebrain.v1.TaskService"
    assert value(samples, "beebeebrain_rpc_requests_total", service=task, method="GetTask", code="NOT_FOUND") == 1
    assert value(samples, "beebeebrain_rpc_requests_total", service=task, method="GetTask", code="OK") == 0
    assert value(samples, "beebeebrain_rpc_requests_total", service=task, method="CreateTask", code="OK") == 2
    assert value(samples, "beebeebrain_rpc_requests_total", service=task, method="RunTask", code="OK") == 2
    assert value(samples, "beebeebrain_rpc_request_duration_seconds_count", service=task, method="GetTask") == 1
    assert value(samples, "beebeebrain_rpc_request_duration_seconds_bucket", service=task, method="GetTask",
                 le="+Inf") == 1

    assert value(samples, "beebeebrain_runs", status="succeeded") == 2
    assert value(samples, "beebeebrain_runs", status="queued") == 0
    assert ("beebeebrain_runs", frozenset({("status", "failed")})) in samples  # every status has a sample

    assert value(samples, "beebeebrain_llm_calls_total", provider="echo", endpoint="local", outcome="ok") == 1
    assert value(samples, "beebeebrain_llm_calls_total", provider="anthropic", endpoint=fake, outcome="ok") == 1
    assert value(samples, "beebeebrain_llm_call_duration_seconds_count", provider="anthropic", endpoint=fake) == 1
    assert value(samples, "beebeebrain_llm_breaker_state", provider="anthropic", endpoint=fake) == 0
    assert ("beebeebrain_llm_breaker_state", frozenset({("provider", "echo"), ("endpoint", "")})) not in samples

    assert value(samples, "beebeebrain_alerts_open", code="PRICE_UNKNOWN") == 1
    assert value(samples, "beebeebrain_store_writer_queue_depth") == 0
    assert value(samples, "beebeebrain_store_writes_per_commit_count") >= 1
    assert value(samples, "beebeebrain_events_published_total") >= 1
    assert value(samples, "beebeebrain_metrics_series_dropped_total") == 0
    assert value(samples, "process_open_fds") > 0 and value(samples, "process_resident_memory_bytes") > 0
    assert value(samples, "process_threads") > 1
    assert abs(value(samples, "process_start_time_seconds") - time.time()) < 600

    # The scrape itself is counted once it is answered: the next one sees it.
    again, _ = scrape(http_url)
    assert value(again, "beebeebrain_http_requests_total", route="metrics", method="GET", status="200") >= 1
    assert value(again, "beebeebrain_rpc_requests_total", service=task, method="GetTask", code="NOT_FOUND") == 1


def test_event_subscribers_are_counted_while_connected(start_runtime):
    rt = start_runtime()
    assert value(scrape(rt.server.http_url)[0], "beebeebrain_events_subscribers", transport="nng") == 0
    follower = subprocess.Popen([BIN, "events", "--follow", "--rpc", rt.server.url, "--events", rt.server.events_url],
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                env=child_env())
    try:
        wait_until(lambda: value(scrape(rt.server.http_url)[0], "beebeebrain_events_subscribers",
                                 transport="nng") == 1, 10, "the follower to count as a subscriber")
    finally:
        follower.kill()
        follower.wait()
    wait_until(lambda: value(scrape(rt.server.http_url)[0], "beebeebrain_events_subscribers",
                             transport="nng") == 0, 10, "the subscriber to go when its connection closes")
    # An SSE stream counts under http while it is open.
    assert value(scrape(rt.server.http_url)[0], "beebeebrain_events_subscribers", transport="http") == 0
    sse = socket.create_connection(("127.0.0.1", rt.server.http_port), timeout=10)
    try:
        sse.sendall(b"GET /api/v1/events/stream?heartbeat_seconds=5 HTTP/1.1\r\nHost: x\r\n\r\n")
        assert sse.recv(64).startswith(b"HTTP/1.1 200")
        wait_until(lambda: value(scrape(rt.server.http_url)[0], "beebeebrain_events_subscribers",
                                 transport="http") == 1, 10, "the SSE stream to count")
    finally:
        sse.close()
    # A closed stream is noticed at its next write: the heartbeat, 5 s here.
    wait_until(lambda: value(scrape(rt.server.http_url)[0], "beebeebrain_events_subscribers", transport="http") == 0,
               20, "the SSE stream to go when its connection closes")


def test_metrics_need_no_api_key_while_calls_do(db_path, rpc_url):
    srv = Server(db_path, rpc_url, env={"BEEBEEBRAIN_API_KEY": KEY}).start()
    try:
        status, _, _ = request(srv.http_url, "POST", "/beebeebrain.v1.TaskService/GetTask", body=b"{}",
                               headers={"Content-Type": "application/json"})
        assert status == 401
        samples, text = scrape(srv.http_url)
        promtool_check(text)
        assert value(samples, "beebeebrain_rpc_requests_total", service="beebeebrain.v1.TaskService",
                     method="GetTask", code="UNAUTHENTICATED") == 1
        assert value(samples, "beebeebrain_http_requests_total", route="connect", method="POST", status="401") == 1

        status, headers, body = request(srv.http_url, "HEAD", "/metrics")
        assert status == 200 and headers["content-type"] == CONTENT_TYPE and body == b""
        status, headers, _ = request(srv.http_url, "POST", "/metrics", body=b"")
        assert status == 405 and headers["allow"] == "GET, HEAD"
    finally:
        assert srv.stop() == 0, srv.log()
