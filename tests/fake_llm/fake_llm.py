#!/usr/bin/python3
"""A scriptable fake LLM provider on loopback, for tests and benchmarks.

Speaks both APIs the runtime uses:
    POST /v1/messages                            Anthropic Messages
    POST /v1/chat/completions, /chat/completions OpenAI Chat Completions

What it answers is scripted per test through a control API (JSON bodies):
    POST /_script   steps to answer with, consumed in order. A JSON list is
                    shared by both endpoints; an object {"anthropic": [...],
                    "openai": [...], "*": [...]} scripts each endpoint (its
                    own steps first, then the shared ones). Steps are
                    appended; /_reset clears them. With no step left, a
                    default success is answered.
    POST /_mode     a time-window rule that wins over scripts, e.g.
                    {"status": 503, "duration_ms": 20000} answers 503 to every
                    call for 20 s. Takes the fields of a step plus
                    "duration_ms" (0 or absent: until reset) and "endpoint"
                    ("anthropic", "openai" or "*", the default).
                    {"status": 0} clears it.
    GET  /_stats    {"counts": {"anthropic": n, "openai": n}, "requests":
                    [{"endpoint", "path", "t_ms", "headers", "body"}]}
                    (body parsed as JSON when it is JSON).
    POST /_reset    forgets scripts, mode and stats.

A step (every field optional):
    status      HTTP status (200)
    delay_ms    sleep before answering
    headers     extra response headers, e.g. {"Retry-After": "7"}
    body        the raw body: a string as is, anything else as JSON
    text        reply text, rendered in the endpoint's format
    tool_calls  [{"id"?, "name", "arguments": {...}}], rendered likewise
    tokens      {"in": n, "out": n} usage (default 10 / 3), plus optional
                "cache_read" and "cache_write": prompt-cache tokens, rendered
                in each API's shape. "in" is the uncached input: Anthropic's
                input_tokens, with cache_read_input_tokens and
                cache_creation_input_tokens beside it; OpenAI's prompt_tokens
                is in + cache_read with prompt_tokens_details.cached_tokens =
                cache_read (OpenAI reports no cache writes)
    usage       the raw "usage" object to answer with, instead of tokens
    stop_reason why the answer ended, in the endpoint's own words
                (Anthropic stop_reason "max_tokens", OpenAI finish_reason
                "length" for a cut answer); default end_turn / stop, or
                tool_use / tool_calls with tool_calls
    error       message of the error body for a status >= 400 (rendered as
                the API's error shape unless body is given)
    malformed   true: a truncated JSON body
    close       true: drop the connection without answering

Strict: before any step is consumed, every request is checked against the
documented request contract of its API (strict_rules.py: headers, required
fields, roles and their order, tool call / tool result pairing, argument
encoding, the token-limit parameter per model family). A request that breaks
a rule is answered as the real API answers it (400 or 401, in the API's own
error shape), consumes no step, and is marked in /_stats with
"refused": {"rule", "message"} (null for an accepted request). The refusal is
also printed on stderr, so a test log shows which rule a request broke.

Prints the port on stdout (one line, the number) once it is listening.
    fake_llm.py [--port N] [--host 127.0.0.1] [--verbose]
Port 0 (the default) picks a free one.
"""

import argparse
import json
import resource
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import strict_rules

DEFAULT_TOKENS = {"in": 10, "out": 3}
DEFAULT_TEXT = "fake reply"
ENDPOINTS = {
    "/v1/messages": "anthropic",
    "/v1/chat/completions": "openai",
    "/chat/completions": "openai",
}


class State:
    def __init__(self):
        self.lock = threading.Lock()
        self.reset()

    def reset(self):
        self.scripts = {"anthropic": [], "openai": [], "*": []}
        self.mode = None
        self.mode_until = None
        self.mode_endpoint = "*"
        self.counts = {"anthropic": 0, "openai": 0}
        self.requests = []
        self.seq = 0

    def next_step(self, endpoint):
        """The step for one call of endpoint (called with the lock held)."""
        now = time.monotonic()
        if self.mode is not None:
            if self.mode_until is not None and now >= self.mode_until:
                self.mode = None
            elif self.mode_endpoint in ("*", endpoint):
                return dict(self.mode)
        for queue in (self.scripts[endpoint], self.scripts["*"]):
            if queue:
                return queue.pop(0)
        return {}


STATE = State()


def last_user_text(endpoint, req):
    msgs = req.get("messages") if isinstance(req, dict) else None
    if not isinstance(msgs, list):
        return ""
    for m in reversed(msgs):
        if isinstance(m, dict) and m.get("role") == "user":
            c = m.get("content")
            if isinstance(c, str):
                return c
            if isinstance(c, list):
                return " ".join(b.get("text", "") for b in c if isinstance(b, dict))
    return ""


def anthropic_usage(tokens):
    usage = {"input_tokens": tokens.get("in", 0), "output_tokens": tokens.get("out", 0)}
    if "cache_read" in tokens or "cache_write" in tokens:
        usage["cache_creation_input_tokens"] = tokens.get("cache_write", 0)
        usage["cache_read_input_tokens"] = tokens.get("cache_read", 0)
    return usage


def openai_usage(tokens):
    prompt = tokens.get("in", 0) + tokens.get("cache_read", 0)
    usage = {
        "prompt_tokens": prompt,
        "completion_tokens": tokens.get("out", 0),
        "total_tokens": prompt + tokens.get("out", 0),
    }
    if "cache_read" in tokens:
        usage["prompt_tokens_details"] = {"cached_tokens": tokens["cache_read"]}
    return usage


def render_anthropic(step, seq, model):
    content = []
    text = step.get("text", DEFAULT_TEXT if "tool_calls" not in step else None)
    if text:
        content.append({"type": "text", "text": text})
    for i, call in enumerate(step.get("tool_calls", [])):
        content.append({
            "type": "tool_use",
            "id": call.get("id", "toolu_%d_%d" % (seq, i + 1)),
            "name": call["name"],
            "input": call.get("arguments", {}),
        })
    return {
        "id": "msg_fake_%d" % seq,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": step.get("stop_reason", "tool_use" if step.get("tool_calls") else "end_turn"),
        "stop_sequence": None,
        "usage": step["usage"] if "usage" in step else anthropic_usage(step.get("tokens", DEFAULT_TOKENS)),
    }


def render_openai(step, seq, model):
    msg = {"role": "assistant", "content": step.get("text", DEFAULT_TEXT if "tool_calls" not in step else None)}
    calls = step.get("tool_calls", [])
    if calls:
        msg["tool_calls"] = [{
            "id": call.get("id", "call_%d_%d" % (seq, i + 1)),
            "type": "function",
            "function": {"name": call["name"], "arguments": json.dumps(call.get("arguments", {}))},
        } for i, call in enumerate(calls)]
    return {
        "id": "chatcmpl-fake-%d" % seq,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": msg,
                     "finish_reason": step.get("stop_reason", "tool_calls" if calls else "stop")}],
        "usage": step["usage"] if "usage" in step else openai_usage(step.get("tokens", DEFAULT_TOKENS)),
    }


def render_error(endpoint, status, message):
    if endpoint == "anthropic":
        return strict_rules.anthropic_error(status, message)
    return {"error": {"message": message, "type": "fake_error", "param": None, "code": None}}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake_llm/1"
    verbose = False

    def log_message(self, fmt, *args):
        if self.verbose:
            sys.stderr.write("fake_llm: " + (fmt % args) + "\n")

    def read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n > 0 else b""

    def send(self, status, body, headers=None, content_type="application/json"):
        if not isinstance(body, bytes):
            body = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, str(v))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path == "/_stats":
            with STATE.lock:
                snap = {"counts": dict(STATE.counts), "requests": list(STATE.requests)}
            self.send(200, snap)
            return
        self.send(404, {"error": "no such path"})

    def do_POST(self):
        raw = self.read_body()
        if self.path.startswith("/_"):
            self.control(raw)
            return
        endpoint = ENDPOINTS.get(self.path.split("?")[0])
        if endpoint is None:
            self.send(404, {"error": {"message": "no such path: " + self.path}})
            return
        try:
            req = json.loads(raw) if raw else None
        except ValueError:
            req = raw.decode(errors="replace")
        headers = {k.lower(): v for k, v in self.headers.items()}
        refusal = strict_rules.check(endpoint, headers, raw)
        with STATE.lock:
            STATE.seq += 1
            seq = STATE.seq
            STATE.counts[endpoint] += 1
            STATE.requests.append({
                "endpoint": endpoint,
                "path": self.path,
                "t_ms": int(time.time() * 1000),
                "headers": headers,
                "body": req,
                "refused": refusal.summary() if refusal is not None else None,
            })
            step = STATE.next_step(endpoint) if refusal is None else None
        if refusal is not None:
            sys.stderr.write("fake_llm: refused %s request #%d: [%s] %s\n" %
                             (endpoint, seq, refusal.rule, refusal.message))
            self.send(refusal.status, refusal.body(endpoint, seq))
            return
        self.answer(endpoint, step, seq, req)

    def answer(self, endpoint, step, seq, req):
        if step.get("delay_ms"):
            time.sleep(step["delay_ms"] / 1000.0)
        if step.get("close"):
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        status = step.get("status", 200)
        headers = step.get("headers", {})
        if step.get("malformed"):
            self.send(status, '{"id": "broken", "content": [{"type": "text", "te', headers)
            return
        if "body" in step:
            self.send(status, step["body"], headers)
            return
        if status >= 400:
            self.send(status, render_error(endpoint, status, step.get("error", "fake error %d" % status)), headers)
            return
        model = req.get("model", "fake-model") if isinstance(req, dict) else "fake-model"
        if "text" not in step and "tool_calls" not in step:
            step = dict(step, text="%s: %s" % (DEFAULT_TEXT, last_user_text(endpoint, req)))
        render = render_anthropic if endpoint == "anthropic" else render_openai
        self.send(status, render(step, seq, model), headers)

    def control(self, raw):
        try:
            arg = json.loads(raw) if raw else {}
        except ValueError as e:
            self.send(400, {"error": "bad JSON: %s" % e})
            return
        path = self.path.split("?")[0]
        with STATE.lock:
            if path == "/_reset":
                STATE.reset()
            elif path == "/_script":
                if isinstance(arg, list):
                    STATE.scripts["*"].extend(arg)
                elif isinstance(arg, dict):
                    for key, steps in arg.items():
                        if key not in STATE.scripts or not isinstance(steps, list):
                            self.send(400, {"error": "unknown endpoint %r" % key})
                            return
                        STATE.scripts[key].extend(steps)
                else:
                    self.send(400, {"error": "a list or an object of lists"})
                    return
            elif path == "/_mode":
                if not arg.get("status"):
                    STATE.mode = None
                else:
                    duration = arg.get("duration_ms") or 0
                    STATE.mode_endpoint = arg.get("endpoint", "*")
                    STATE.mode = {k: v for k, v in arg.items() if k not in ("duration_ms", "endpoint")}
                    STATE.mode_until = time.monotonic() + duration / 1000.0 if duration else None
            else:
                self.send(404, {"error": "no such control path"})
                return
        self.send(200, {"ok": True})


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # Benchmarks open a thousand connections at once: a short listen backlog
    # would turn into SYN retries of a second or more.
    request_queue_size = 4096

    def handle_error(self, request, client_address):
        # A client that hung up first (a cancelled or timed-out call) is expected.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    Handler.verbose = args.verbose
    srv = Server((args.host, args.port), Handler)
    print(srv.server_address[1], flush=True)
    try:
        srv.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
