"""The server's configuration, read once at start (server/config.h): an invalid
value stops `serve` at once, before it touches the database, naming the
variable and the accepted values (exit status 2, like a usage error); valid
values take effect where they are used; `serve --help` and
docs/configuration.md list every variable."""

import os
import pathlib
import re
import subprocess

import pytest

from conftest import BIN, START_TIMEOUT_S, Cli, Server, child_env, free_port
from runtime_fixtures import fake_llm, start_runtime  # noqa: F401  (fixtures)

_REPO = pathlib.Path(__file__).resolve().parents[2]
_DOC = _REPO / "docs" / "configuration.md"


def serve(db_path, env, *args):
    """`beebeebrain serve` on db_path with env added, in db_path's directory;
    returns the finished process. A server that starts instead of refusing is
    stopped and the test fails."""
    argv = [BIN, "serve", "--db", str(db_path), "--rpc", f"tcp://127.0.0.1:{free_port()}",
            "--events", f"tcp://127.0.0.1:{free_port()}", *args]
    try:
        return subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              timeout=START_TIMEOUT_S, env={**child_env(), **env}, cwd=pathlib.Path(db_path).parent)
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"serve with {env} {args} did not refuse to start: still running after {START_TIMEOUT_S} s\n"
                    f"{e.stderr}")


# Each value was taken before, silently or with another meaning: the runtime
# used 700 s where runs got 90 s, "10s" gave runs 10 s and the runtime 90 s,
# 0 ms and "verbose" became the defaults, "paused" left the runtime on, "ten"
# dollars turned the cost alert off, a base URL without a scheme failed at
# every call, a missing price table failed after the database was migrated.
INVALID = [
    ("BEEBEEBRAIN_LLM_TIMEOUT_S", "700", "'700' is out of range: accepted 1..600 seconds"),
    ("BEEBEEBRAIN_LLM_TIMEOUT_S", "10s", "'10s' is not a whole number: accepted 1..600 seconds"),
    ("BEEBEEBRAIN_BUSY_TIMEOUT_MS", "0", "accepted 1..600000 ms"),
    ("BEEBEEBRAIN_MAX_IN_FLIGHT", "0", "accepted 1..10000"),
    ("BEEBEEBRAIN_RETRY_BASE_MS", "fast", "not a whole number"),
    ("BEEBEEBRAIN_LOG_LEVEL", "verbose", "'verbose' is unknown: accepted debug|info|warning|error"),
    ("BEEBEEBRAIN_LOG_FORMAT", "xml", "accepted json|text"),
    ("BEEBEEBRAIN_RUNTIME", "paused", "accepted on|off"),
    ("BEEBEEBRAIN_COST_ALERT_THRESHOLD_USD", "ten", "not an amount"),
    ("BEEBEEBRAIN_ENV", "prod env", "outside the set"),
    ("OPENAI_BASE_URL", "localhost:11434/v1", "not a URL"),
    ("BEEBEEBRAIN_PRICING", "/nonexistent/pricing.json", "cannot be used"),
    # The CLI runs in the project's root, where a relative path names another file.
    ("BEEBEEBRAIN_CLAUDE_CLI", "bin/claude", "'bin/claude' is a relative path"),
    ("BEEBEEBRAIN_CLAUDE_SETTINGS", "claude.json", "'claude.json' is not an absolute path"),
    ("BEEBEEBRAIN_CLAUDE_SETTINGS", "/nonexistent/claude.json", "cannot be used: /nonexistent/claude.json"),
]


@pytest.mark.parametrize("name,value,message", INVALID, ids=[f"{n}={v}" for n, v, _ in INVALID])
def test_an_invalid_value_stops_serve_at_once_naming_the_variable(tmp_path, name, value, message):
    db = tmp_path / "bbb.db"
    p = serve(db, {name: value})

    assert p.returncode == 2, p.stderr
    assert p.stderr.startswith("error: INVALID_ARGUMENT VALIDATION_ERROR: invalid configuration"), p.stderr
    named = [line for line in p.stderr.splitlines() if line.startswith(f"  {name}: ")]
    assert len(named) == 1 and message in named[0], p.stderr
    # Refused before the lock file, the database, a backup or a log line.
    assert sorted(os.listdir(tmp_path)) == [], os.listdir(tmp_path)
    assert '"level"' not in p.stderr


def test_an_invalid_value_leaves_an_existing_database_untouched(tmp_path):
    db = tmp_path / "bbb.db"
    subprocess.run([BIN, "migrate", "up", "--db", str(db)], check=True, capture_output=True, env=child_env())
    before = {f: (tmp_path / f).read_bytes() for f in os.listdir(tmp_path)}

    p = serve(db, {"BEEBEEBRAIN_LLM_TIMEOUT_S": "700"})
    assert p.returncode == 2, p.stderr
    assert {f: (tmp_path / f).read_bytes() for f in os.listdir(tmp_path)} == before


def test_every_invalid_setting_is_named_in_one_go(tmp_path):
    p = serve(tmp_path / "bbb.db", {"BEEBEEBRAIN_LLM_TIMEOUT_S": "0", "BEEBEEBRAIN_LOG_LEVEL": "loud",
                                    "ANTHROPIC_BASE_URL": "api.anthropic.com"}, "--workers", "0")

    assert p.returncode == 2, p.stderr
    assert "invalid configuration: 4 setting(s)" in p.stderr
    for field in ("--workers", "BEEBEEBRAIN_LLM_TIMEOUT_S", "BEEBEEBRAIN_LOG_LEVEL", "ANTHROPIC_BASE_URL"):
        assert f"\n  {field}: " in p.stderr, p.stderr


def test_an_invalid_key_is_named_but_not_repeated(tmp_path):
    p = serve(tmp_path / "bbb.db", {"ANTHROPIC_API_KEY": "sk-ant-secret\r\nX-Injected: 1"})

    assert p.returncode == 2, p.stderr
    assert "  ANTHROPIC_API_KEY: holds a space or a control character" in p.stderr
    assert "sk-ant-secret" not in p.stderr


# ---- valid values take effect


def test_the_call_timeout_is_the_one_default_of_the_runs_and_the_runtime(start_runtime):
    rt = start_runtime(BEEBEEBRAIN_LLM_TIMEOUT_S="2")
    rt.fake.script([{"delay_ms": 6000}])  # outlives the 2 s limit; the retry is answered at once
    _, run_id = rt.task_and_run("configured timeout")  # no --timeout: the server's default

    assert int(rt.cli.json("run", "get", run_id)["run"]["timeout_seconds"]) == 2
    run = rt.wait_run(run_id)
    assert run["timeout_seconds"] == 2
    first = rt.attempts(run_id)[0]
    assert first["error_code"] == "LLM_TIMEOUT"
    assert first["ended_at"] - first["started_at"] >= 2000
    assert run["run_status"] == "succeeded"


def test_the_environment_name_and_the_log_settings_take_effect(tmp_path, rpc_url):
    srv = Server(tmp_path / "bbb.db", rpc_url, env={"BEEBEEBRAIN_ENV": "staging-2", "BEEBEEBRAIN_LOG_FORMAT": "text",
                                                      "BEEBEEBRAIN_LOG_LEVEL": "warning",
                                                      "BEEBEEBRAIN_LLM_TIMEOUT": "5"}).start()
    try:
        assert Cli(rpc_url, tmp_path).json("health")["env"] == "staging-2"
    finally:
        assert srv.stop() == 0
    # "<ts> <level> <logger>: <msg>" lines, none below warning.
    lines = [line.split(maxsplit=2) for line in srv.log().splitlines() if line.strip()]
    assert lines, "no log line at all"
    assert all(len(w) == 3 and w[1] in ("warning", "error") for w in lines), lines
    # A BEEBEEBRAIN_* variable that is no setting (here a typo) is named, once.
    typo = [w for w in lines if w[2].startswith("config: BEEBEEBRAIN_LLM_TIMEOUT is not a setting")]
    assert len(typo) == 1, lines


def test_the_db_flag_overrides_the_variable(tmp_path, rpc_url):
    other = tmp_path / "from-env.db"
    srv = Server(tmp_path / "from-flag.db", rpc_url, env={"BEEBEEBRAIN_DB": str(other)}).start()
    try:
        assert Cli(rpc_url, tmp_path).json("health")["status"] == "ok"
    finally:
        assert srv.stop() == 0
    assert (tmp_path / "from-flag.db").exists()
    assert not other.exists()


# ---- the documentation


def serve_help():
    p = subprocess.run([BIN, "serve", "--help"], capture_output=True, text=True, timeout=30, env=child_env())
    assert p.returncode == 0, p.stderr
    return p.stdout


def help_variables():
    """(name, accepted values, default) of every variable `serve --help` lists."""
    return re.findall(r"^  ([A-Z][A-Z0-9_]+) \((.*); default (.*)\)$", serve_help(), re.M)


def test_serve_help_lists_the_variables_that_were_undocumented():
    names = {name for name, _, _ in help_variables()}
    assert len(names) >= 20, serve_help()
    for name in ("BEEBEEBRAIN_API_KEY", "BEEBEEBRAIN_LOG_LEVEL", "BEEBEEBRAIN_LOG_FORMAT", "BEEBEEBRAIN_ENV",
                 "BEEBEEBRAIN_DB", "BEEBEEBRAIN_LLM_TIMEOUT_S", "BEEBEEBRAIN_BUSY_TIMEOUT_MS", "ANTHROPIC_API_KEY",
                 "ANTHROPIC_BASE_URL", "OPENAI_API_KEY", "OPENAI_BASE_URL"):
        assert name in names, name


@pytest.mark.parametrize("name,accepted,default", help_variables() if BIN else [])
def test_docs_configuration_gives_each_variable_its_values_and_default(name, accepted, default):
    doc = _DOC.read_text()
    rows = [line for line in doc.splitlines() if line.startswith(f"| `{name}` |")]
    assert len(rows) == 1, f"docs/configuration.md has {len(rows)} table rows for {name}"
    cells = [c.strip() for c in re.split(r"(?<!\\)\|", rows[0].strip().strip("|"))]
    assert cells[1] == accepted.replace("|", "\\|"), (name, cells[1], accepted)
    assert cells[2] == default, (name, cells[2], default)


def test_docs_configuration_lists_the_client_variables_too():
    doc = _DOC.read_text()
    for name in ("BEEBEEBRAIN_RPC_URL", "BEEBEEBRAIN_EVENTS_URL"):
        assert f"| `{name}` |" in doc, name
