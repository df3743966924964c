"""What the drills share: the integration tests' helpers (conftest.py's
Server, Cli, wait_until; runtime_fixtures.py's fake LLM), and an operator who
types only the command lines docs/runbook.md has.

ctest runs each tests/drills/test_drill_*.py with BEEBEEBRAIN_BIN and
BBB_BUILD_DIR, like the integration tests. By hand:

    BEEBEEBRAIN_BIN=build/beebeebrain BBB_BUILD_DIR=build \\
        /usr/bin/python3 -m pytest -q -s -p no:cacheprovider tests/drills

    Operator(url, cwd)     op.type(line, **values) -> (rc, out, err): the
                           runbook's command line `line`, verbatim (the drill
                           fails if the runbook lacks it), placeholders filled
                           from values, run as a process of the real binary
                           against url; op.json(line, rcs=(0,), **values) the
                           same with -o json, the exit status checked, parsed
    scene(op, *args)       a CLI command that sets the scene (not a runbook
                           step), -o json, must succeed
    WriteLoad(url, project) a thread creating tasks over RPC until .stop();
                           .acked holds the ids the server acknowledged
    report(name, text)     prints text outside pytest's capture and keeps it
                           in <build>/drills/<name>.txt (evidence of a drill)
"""

import json
import os
import pathlib
import subprocess
import sys
import threading

_HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(_HERE.parent / "integration"))

import runbook_text  # noqa: E402
from conftest import BIN, CLI_TIMEOUT_S, Server, child_env, free_port, wait_until  # noqa: E402,F401
from runtime_fixtures import RUNTIME_ENV, FakeLlm, queue_runs  # noqa: E402,F401

from beebeebrain.v1 import task_pb2  # noqa: E402
from beebeebrain import Client, RpcError  # noqa: E402

if not BIN or not os.access(BIN, os.X_OK):
    raise RuntimeError("set BEEBEEBRAIN_BIN to the beebeebrain binary (ctest does this)")

REPO = _HERE.parents[1]


class Operator:
    """Types the runbook's commands, as an operator would, at the server on url."""

    def __init__(self, url, cwd):
        self.url = url
        self.cwd = str(cwd)
        self.typed = []

    def argv(self, line, extra=(), **values):
        """(env, argv) of the runbook's command line, ready to run."""
        env, argv = runbook_text.require(line)
        argv = runbook_text.fill(argv, values)
        if argv[0].startswith("./"):
            argv[0] = argv[0][2:]
        if argv[0] == "beebeebrain" and argv[1] == "serve":
            argv = [BIN, *argv[1:]]  # listens where extra says
        elif argv[0] == "beebeebrain":
            argv = [BIN, "--rpc", self.url, *argv[1:]]
        else:
            argv[0] = str(REPO / argv[0])
            env = {**env, "BEEBEEBRAIN_BIN": BIN}
        argv += [str(a) for a in extra]
        self.typed.append(" ".join(argv))
        return {**child_env(), **env}, argv

    def type(self, line, timeout_s=CLI_TIMEOUT_S, extra=(), **values):
        env, argv = self.argv(line, extra, **values)
        p = subprocess.run(argv, cwd=self.cwd, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                           timeout=timeout_s, env=env)
        return p.returncode, p.stdout, p.stderr

    def spawn(self, line, log_path, extra=(), **values):
        """Starts the runbook's command line (a `serve`) without waiting; its
        output goes to log_path. Returns the Popen."""
        env, argv = self.argv(line, extra, **values)
        with open(log_path, "wb") as log:
            return subprocess.Popen(argv, cwd=self.cwd, stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env)

    def json(self, line, rcs=(0,), **values):
        rc, out, err = self.type(line, extra=("-o", "json"), **values)
        assert rc in rcs, f"`{line}` exited {rc} (expected {rcs}): {err}"
        return json.loads(out)


class WriteLoad:
    """A thread creating tasks over one RPC connection until stopped (a pause
    of pause_s between two); keeps the id of every task the server
    acknowledged, and the reason of every refusal."""

    def __init__(self, url, project_id, pause_s=0.0):
        self.url = url
        self.pause_s = pause_s
        self.project_id = project_id
        self.acked = []
        self.refused = []
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        with Client(self.url, timeout=10) as c:
            n = 0
            while not self.stopping.is_set():
                n += 1
                try:
                    t = c.call("TaskService", "CreateTask",
                               task_pb2.CreateTaskRequest(project_id=self.project_id, title=f"load {n}"),
                               task_pb2.CreateTaskResponse).task
                    self.acked.append(t.id)
                except RpcError as e:
                    self.refused.append(e.reason)
                self.stopping.wait(self.pause_s)

    def stop(self):
        self.stopping.set()
        self.thread.join(timeout=30)
        assert not self.thread.is_alive(), "the write load did not stop"


def scene(op, *args):
    """A CLI command that sets the scene (not a step of the runbook), -o json;
    it must succeed. Returns the parsed output."""
    p = subprocess.run([BIN, "--rpc", op.url, "-o", "json", *[str(a) for a in args]], cwd=op.cwd,
                       stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=CLI_TIMEOUT_S,
                       env=child_env())
    assert p.returncode == 0, f"beebeebrain {' '.join(map(str, args))} exited {p.returncode}: {p.stderr}"
    return json.loads(p.stdout)


def report(name, text):
    """Shows text in the test's output even under capture, and keeps it."""
    out_dir = pathlib.Path(os.environ.get("BBB_BUILD_DIR") or ".") / "drills"
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / f"{name}.txt").write_text(text)
    sys.__stdout__.write(f"\n----- {name} -----\n{text}----- end of {name} -----\n")
    sys.__stdout__.flush()


def open_alerts(op, code=None):
    """The open alerts (of one code), newest first, through the runbook's command."""
    if code is None:
        return op.json("beebeebrain alerts list --status open").get("alerts", [])
    lines = {"DB_LOCKED": "beebeebrain alerts list --code DB_LOCKED",
             "LLM_PROVIDER_UNAVAILABLE": "beebeebrain alerts list --status open --code LLM_PROVIDER_UNAVAILABLE",
             "WORKSPACE_PERMISSION_DENIED": "beebeebrain alerts list --status open --code WORKSPACE_PERMISSION_DENIED"}
    alerts = op.json(lines[code]).get("alerts", [])
    return [a for a in alerts if a.get("status") == "ALERT_STATUS_OPEN"]
