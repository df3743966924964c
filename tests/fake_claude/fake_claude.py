#!/usr/bin/python3
"""A stand-in for the Claude Code CLI (`claude`) in headless mode, for the
claude_code provider's tests (BEEBEEBRAIN_CLAUDE_CLI points here).

It takes the command line the way the real CLI does and refuses what the real
one refuses: -p is required, --output-format stream-json needs --verbose in
print mode, an unknown option or an option without its value is an error
(exit 1, a message on stderr), and the prompt is the one positional argument.
Then it prints stream-json lines of the documented shapes, one JSON object a
line (Claude Code's headless mode and the Agent SDK's message types):

    {"type":"system","subtype":"init","session_id":..,"model":..,"tools":[..],"cwd":..,"permissionMode":..}
    {"type":"assistant","message":{"id":..,"type":"message","role":"assistant","model":..,
                                   "content":[text / tool_use blocks],"stop_reason":..,"usage":{..}},
     "parent_tool_use_id":null,"session_id":..}
    {"type":"user","message":{"role":"user","content":[{"type":"tool_result","tool_use_id":..,"content":..}]},
     "parent_tool_use_id":null,"session_id":..}
    {"type":"result","subtype":"success"|"error_max_turns"|"error_during_execution","is_error":..,
     "duration_ms":..,"duration_api_ms":..,"num_turns":..,"result":..,"session_id":..,
     "total_cost_usd":..,"usage":{"input_tokens":..,"cache_creation_input_tokens":..,
     "cache_read_input_tokens":..,"output_tokens":..},"permission_denials":[]}

What it does is chosen by the prompt's first line, "#fake <case> [argument]",
or, when the prompt has none, by the variable FAKE_CLAUDE_CASE (the server
passes the CLI no variable of its own, so tests that go through the server use
the prompt):

    (none)                  success: one assistant text, result "fake claude: <prompt>"
    tools                   writes fake_claude_out.txt in its working directory with Write,
                            reads it back with Read, then succeeds (3 turns)
    max_turns               result error_max_turns
    is_error TEXT           result subtype success with is_error true and TEXT as the result
    during_execution TEXT   result error_during_execution, is_error true, errors [TEXT]
    crash                   the init line, "boom: <reason>" on stderr, exit status 3
    signal                  the init line, then killed by SIGKILL (by itself)
    exit0                   the init line, exit status 0 without a result
    notjson                 the init line, a line that is not JSON, then a result
    longline N              N bytes of output without a newline, then it sleeps
    sleep S                 the init line, sleeps S seconds, then succeeds
    grandchild S            starts `sleep S`, which stays in its process group (its pid is
                            recorded in grandchild.pid next to calls.jsonl),
                            then sleeps S seconds itself
    ignore_term S           ignores SIGTERM, then sleeps S seconds
    stderr TEXT             TEXT on stderr, exit status 1

Every start is recorded, before anything is printed, as one JSON line appended
to $HOME/.fake_claude/calls.jsonl (or FAKE_CLAUDE_RECORD when set): argv, the
working directory, the whole environment, the pid and process group, what
stdin is, and the open file descriptors; a test checks these.
"""

import json
import os
import signal
import subprocess
import sys
import time
import uuid

KNOWN_WITH_VALUE = {"--output-format", "--input-format", "--model", "--max-turns", "--append-system-prompt",
                    "--system-prompt", "--allowedTools", "--allowed-tools", "--disallowedTools",
                    "--disallowed-tools", "--settings", "--permission-mode", "--resume", "-r"}
KNOWN_FLAGS = {"-p", "--print", "--verbose", "--dangerously-skip-permissions", "-c", "--continue"}


def fail(message, status=1):
    sys.stderr.write(f"error: {message}\n")
    sys.stderr.flush()
    sys.exit(status)


def parse(argv):
    """The options and the prompt, as the real CLI reads them."""
    opts, positional, i = {}, [], 0
    while i < len(argv):
        a = argv[i]
        if a == "--":
            positional.extend(argv[i + 1:])
            break
        if a in KNOWN_FLAGS:
            opts[a] = True
        elif a in KNOWN_WITH_VALUE:
            if i + 1 >= len(argv):
                fail(f"option '{a}' argument missing")
            opts[a] = argv[i + 1]
            i += 1
        elif a.startswith("-"):
            fail(f"unknown option '{a}'")
        else:
            positional.append(a)
        i += 1
    if not (opts.get("-p") or opts.get("--print")):
        fail("this fake only runs in print mode (-p)")
    if opts.get("--output-format") != "stream-json":
        fail("this fake only prints --output-format stream-json")
    if not opts.get("--verbose"):
        fail("When using --print, --output-format=stream-json requires --verbose")
    if len(positional) != 1:
        fail(f"expected one prompt argument, got {len(positional)}")
    return opts, positional[0]


def record(argv):
    path = os.environ.get("FAKE_CLAUDE_RECORD") or os.path.join(os.environ.get("HOME", "/nonexistent"),
                                                                  ".fake_claude", "calls.jsonl")
    try:
        stdin = os.readlink("/proc/self/fd/0")
    except OSError:
        stdin = None
    fds = sorted(int(f) for f in os.listdir("/proc/self/fd"))
    entry = {"argv": argv, "cwd": os.getcwd(), "env": dict(os.environ), "pid": os.getpid(),
             "pgid": os.getpgrp(), "stdin": stdin, "fds": fds}
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "a") as f:
        f.write(json.dumps(entry) + "\n")
    return os.path.dirname(path)


class Stream:
    def __init__(self, model, cwd):
        self.session = str(uuid.uuid4())
        self.model = model
        self.cwd = cwd
        self.turns = 0
        self.started = time.monotonic()

    def emit(self, obj):
        sys.stdout.write(json.dumps(obj) + "\n")
        sys.stdout.flush()

    def init(self, tools):
        self.emit({"type": "system", "subtype": "init", "session_id": self.session, "model": self.model,
                   "tools": tools, "mcp_servers": [], "cwd": self.cwd, "permissionMode": "default",
                   "apiKeySource": "ANTHROPIC_API_KEY" if os.environ.get("ANTHROPIC_API_KEY") else "none"})

    def assistant(self, content, stop_reason):
        self.turns += 1
        self.emit({"type": "assistant", "parent_tool_use_id": None, "session_id": self.session,
                   "message": {"id": f"msg_{self.turns:04d}", "type": "message", "role": "assistant",
                               "model": self.model, "content": content, "stop_reason": stop_reason,
                               "stop_sequence": None, "usage": {"input_tokens": 30, "output_tokens": 6}}})

    def tool_result(self, tool_use_id, text):
        self.emit({"type": "user", "parent_tool_use_id": None, "session_id": self.session,
                   "message": {"role": "user", "content": [{"type": "tool_result", "tool_use_id": tool_use_id,
                                                            "content": text}]}})

    def result(self, subtype="success", is_error=False, text=None, errors=None):
        line = {"type": "result", "subtype": subtype, "is_error": is_error,
                "duration_ms": int((time.monotonic() - self.started) * 1000), "duration_api_ms": 12,
                "num_turns": self.turns, "session_id": self.session, "total_cost_usd": 0.012345,
                "usage": {"input_tokens": 100, "cache_creation_input_tokens": 5, "cache_read_input_tokens": 7,
                          "output_tokens": 20, "server_tool_use": {"web_search_requests": 0}},
                "permission_denials": []}
        if text is not None:
            line["result"] = text
        if errors is not None:
            line["errors"] = errors
        self.emit(line)


def tools_case(s):
    path = os.path.join(s.cwd, "fake_claude_out.txt")
    s.assistant([{"type": "text", "text": "I will write the file."},
                 {"type": "tool_use", "id": "toolu_01", "name": "Write",
                  "input": {"file_path": path, "content": "written by fake claude\n"}}], "tool_use")
    with open(path, "w") as f:
        f.write("written by fake claude\n")
    s.tool_result("toolu_01", f"File created successfully at: {path}")
    s.assistant([{"type": "tool_use", "id": "toolu_02", "name": "Read", "input": {"file_path": path}}], "tool_use")
    with open(path) as f:
        s.tool_result("toolu_02", f.read())
    s.assistant([{"type": "text", "text": "Done: the file says hello."}], "end_turn")
    s.result(text="Done: the file says hello.")



def _write_atomically(path, text):
    """Writes a file a test polls for: it appears whole or not at all."""
    with open(path + ".tmp", "w") as f:
        f.write(text)
    os.replace(path + ".tmp", path)

def main():
    argv = sys.argv[:]
    home = record(argv)
    opts, prompt = parse(argv[1:])
    first = prompt.splitlines()[0] if prompt else ""
    words = (first[len("#fake "):] if first.startswith("#fake ") else os.environ.get("FAKE_CLAUDE_CASE", "")).split(
        " ", 1)
    case, arg = words[0], (words[1] if len(words) > 1 else "")
    s = Stream(opts.get("--model", "default"), os.getcwd())
    allowed = [t for t in opts.get("--allowedTools", "").split(",") if t]

    if case == "longline":
        sys.stdout.write("x" * int(arg))
        sys.stdout.flush()
        time.sleep(60)
        return 0
    if case == "stderr":
        sys.stderr.write(arg + "\n")
        return 1
    s.init(allowed)
    if case == "":
        s.assistant([{"type": "text", "text": f"fake claude: {prompt}"}], "end_turn")
        s.result(text=f"fake claude: {prompt}")
    elif case == "tools":
        tools_case(s)
    elif case == "max_turns":
        s.assistant([{"type": "tool_use", "id": "toolu_09", "name": "Read", "input": {"file_path": "x"}}],
                    "tool_use")
        s.result(subtype="error_max_turns", is_error=False)
    elif case == "is_error":
        s.result(is_error=True, text=arg)
    elif case == "during_execution":
        s.result(subtype="error_during_execution", is_error=True, errors=[arg])
    elif case == "crash":
        sys.stderr.write("boom: the fake crashed on purpose\n")
        return 3
    elif case == "signal":
        os.kill(os.getpid(), signal.SIGKILL)
    elif case == "exit0":
        return 0
    elif case == "notjson":
        sys.stdout.write("this line is not JSON\n")
        sys.stdout.flush()
        s.result(text="should not count")
    elif case == "sleep":
        time.sleep(float(arg))
        s.result(text="slept")
    elif case == "grandchild":
        child = subprocess.Popen(["sleep", arg], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
        _write_atomically(os.path.join(home, "grandchild.pid"), str(child.pid))
        time.sleep(float(arg))
    elif case == "ignore_term":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        _write_atomically(os.path.join(home, "ignore_term.pid"), str(os.getpid()))
        time.sleep(float(arg))
    else:
        fail(f"unknown fake case '{case}'", 2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
