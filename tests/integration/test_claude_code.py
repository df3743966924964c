"""The claude_code provider through the real server: runs whose agent is on
claude_code start the fake Claude Code CLI (tests/fake_claude/fake_claude.py,
named by BEEBEEBRAIN_CLAUDE_CLI) in the project's root, and the fake records
each start (argv, working directory, environment, process group, stdin) in
$HOME/.fake_claude/calls.jsonl; the server's HOME points into the test's
temp dir. What the fake does is chosen by the prompt ("#fake crash" ...).

Covered: a run succeeds with the text, usage and cost of the CLI's result
line, with the documented arguments, in the project's root, with a clean
environment; the agent's tools map to Claude Code's; each error case ends the
run cleanly with its code and the right number of attempts; pause, cancel,
timeout and shutdown kill the CLI's whole process group; no zombie is left.
"""

import json
import os
import pathlib
import signal
import subprocess
import time

import pytest

from beebeebrain import Client
from conftest import BIN, Cli, Server, child_env, wait_until
from runtime_fixtures import (RESTART_ENV, RUNTIME_ENV, Runtime, fake_llm, queue_runs, rt, start_after_kill,  # noqa: F401 (fixtures)
                              start_runtime)

FAKE_CLAUDE = pathlib.Path(__file__).resolve().parents[1] / "fake_claude" / "fake_claude.py"

# What the CLI may find in its environment (config.c, config_claude_variables).
CLAUDE_ENV = {"PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR", "HTTPS_PROXY",
              "HTTP_PROXY", "NO_PROXY", "https_proxy", "http_proxy", "no_proxy", "CLAUDE_CONFIG_DIR",
              "ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL", "DISABLE_AUTOUPDATER"}


def add_claude_agent(rt, home, tools=None, name="cc"):
    args = ["agent", "create", "--project", rt.project_id, "--name", name, "--role", "coder",
            "--provider", "claude_code", "--model", "sonnet", "--max-concurrency", 64]
    if tools is not None:
        args += ["--tools", tools]
    agent = rt.cli.json(*args)["agent"]
    rt.agent_ids[name] = int(agent["id"])
    rt.home = home
    return int(agent["id"])


@pytest.fixture
def start_claude(start_runtime, tmp_path):
    """start_claude(tools=None, **env) -> Runtime with agent "cc" on claude_code."""

    def start(tools=None, **env):
        home = tmp_path / "home"
        home.mkdir()
        rt = start_runtime(BEEBEEBRAIN_CLAUDE_CLI=str(FAKE_CLAUDE), HOME=str(home), **env)
        add_claude_agent(rt, home, tools)
        return rt

    return start


@pytest.fixture
def cc(start_claude):
    return start_claude()


def calls(rt):
    """Every start of the fake CLI, in order."""
    path = rt.home / ".fake_claude" / "calls.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


def claude_run(rt, prompt, *args, agent="cc"):
    return rt.task_and_run(prompt, agent, *args)


def proc_state(pid):
    """The state letter of a process, or None when it is gone."""
    try:
        stat = pathlib.Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat[stat.rindex(")") + 2:].split()[0]


def gone(pid):
    """Dead: no such process, or a zombie of a parent that is not ours to watch
    (an orphan waits for init to reap it)."""
    return proc_state(pid) in (None, "Z", "X")


def children_of(pid):
    """(pid, state) of every process whose parent is pid, zombies included."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            stat = pathlib.Path(f"/proc/{d}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[1]) == pid:
            out.append((int(d), fields[0]))
    return out


def wait_no_children(server):
    wait_until(lambda: children_of(server.pid) == [], 10, f"the server to have no child process "
                                                          f"(has {children_of(server.pid)})")


def last_log(rt, run_id):
    return rt.value("SELECT message FROM run_logs WHERE run_id = ? ORDER BY id DESC LIMIT 1", run_id)


# ---- a run that succeeds --------------------------------------------------------------


def test_a_run_succeeds_with_the_text_usage_and_cost_of_the_result(cc):
    task_id, run_id = claude_run(cc, "hello there")
    row = cc.wait_run(run_id)

    assert row["run_status"] == "succeeded", row
    assert row["output_text"] == "fake claude: hello there"
    # input 100 + cache creation 5 + cache read 7; output 20; total_cost_usd 0.012345
    assert (row["token_in"], row["token_out"], row["cost_usd_micros"]) == (112, 20, 12345)
    attempts = cc.attempts(run_id)
    assert len(attempts) == 1
    assert (attempts[0]["token_in"], attempts[0]["token_out"], attempts[0]["error_code"]) == (112, 20, "")
    assert (attempts[0]["cache_write_tokens"], attempts[0]["cache_read_tokens"]) == (5, 7)
    assert (row["cache_write_tokens"], row["cache_read_tokens"], row["unpriced_calls"]) == (5, 7, 0)
    usage = cc.rows("SELECT * FROM api_usage_daily WHERE provider = 'claude_code'")
    assert [(u["model_name"], u["request_count"], u["cost_usd_micros"]) for u in usage] == [("sonnet", 1, 12345)]
    assert cc.task_status(task_id) == "review"
    assert "claude_code session" in last_log(cc, run_id) and "success, 1 turn(s)" in last_log(cc, run_id)
    wait_no_children(cc.server)


def test_the_cli_gets_the_documented_arguments_in_the_project_root_with_a_clean_environment(cc):
    _, run_id = claude_run(cc, "-starts like an option", "--system", "be brief", "--max-turns", "3")
    assert cc.wait_run(run_id)["run_status"] == "succeeded"

    [call] = calls(cc)
    argv = call["argv"]
    assert argv[0] == str(FAKE_CLAUDE)
    assert argv[1:7] == ["-p", "--output-format", "stream-json", "--verbose", "--model", "sonnet"]
    assert argv[argv.index("--max-turns") + 1] == "3"
    assert argv[argv.index("--append-system-prompt") + 1] == "be brief"
    assert argv[-2:] == ["--", "-starts like an option"]
    assert "--settings" not in argv and "--dangerously-skip-permissions" not in argv
    allowed = argv[argv.index("--allowedTools") + 1].split(",")
    denied = argv[argv.index("--disallowedTools") + 1].split(",")
    assert {"Read", "Glob", "Grep", "LS", "Write", "Edit"} <= set(allowed)
    assert "Bash" not in allowed and {"Bash", "WebFetch", "WebSearch"} <= set(denied)
    # Where it runs, and what it is given.
    assert call["cwd"] == str(cc.root)
    assert call["pgid"] == call["pid"], "the CLI leads a process group of its own"
    assert call["stdin"] == "/dev/null"
    assert set(call["fds"]) - {0, 1, 2} <= {3}, call["fds"]  # 3: the fake's own listing of /proc/self/fd
    env = call["env"]
    assert set(env) <= CLAUDE_ENV, set(env) - CLAUDE_ENV
    assert env["ANTHROPIC_API_KEY"] == RUNTIME_ENV["ANTHROPIC_API_KEY"]
    assert env["HOME"] == str(cc.home) and env["DISABLE_AUTOUPDATER"] == "1"
    assert "OPENAI_API_KEY" not in env
    assert not [k for k in env if k.startswith("BEEBEEBRAIN_")]


def test_the_server_api_key_never_reaches_the_cli(tmp_path, rpc_url, fake_llm):  # noqa: F811
    key = "bbb-test-key-7f3a9c2e1d"

    class KeyCli(Cli):
        def __call__(self, *args, timeout_s=60):
            p = subprocess.run([BIN, "--rpc", self.url, *[str(a) for a in args]], cwd=self.cwd,
                               stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout_s,
                               env={**child_env(), "BEEBEEBRAIN_API_KEY": key})
            return p.returncode, p.stdout, p.stderr

    home = tmp_path / "home"
    home.mkdir()
    root = tmp_path / "workspace"
    root.mkdir()
    fake_llm.reset()
    env = {**RUNTIME_ENV, "BEEBEEBRAIN_API_KEY": key, "BEEBEEBRAIN_CLAUDE_CLI": str(FAKE_CLAUDE),
           "HOME": str(home), "ANTHROPIC_BASE_URL": fake_llm.url}
    srv = Server(tmp_path / "rt.db", rpc_url, env=env).start()
    try:
        rt = Runtime(srv, KeyCli(rpc_url, tmp_path), fake_llm, root)
        add_claude_agent(rt, home)
        _, run_id = claude_run(rt, "hello")
        assert rt.wait_run(run_id)["run_status"] == "succeeded"
        [call] = calls(rt)
        assert key not in json.dumps(call), "the server's API key reached the CLI"
    finally:
        assert srv.stop() == 0, srv.log()


def test_the_cli_works_in_the_project_root(cc):
    _, run_id = claude_run(cc, "#fake tools")
    row = cc.wait_run(run_id)

    assert row["run_status"] == "succeeded", row
    assert (cc.root / "fake_claude_out.txt").read_text() == "written by fake claude\n"
    assert row["output_text"] == "Done: the file says hello."
    assert "3 turn(s), 2 tool use(s): Write 1, Read 1" in last_log(cc, run_id)


@pytest.mark.parametrize("tools,allowed,denied_too", [
    ("read_file,finish_task", ["Read", "NotebookRead"], ["Write", "Grep", "Bash"]),
    ("write_file,shell", ["Write", "Edit", "MultiEdit", "NotebookEdit", "Bash", "BashOutput", "KillShell"],
     ["Read", "WebFetch"]),
])
def test_the_agents_tools_map_to_claude_codes_and_a_shell_only_when_listed(start_claude, tools, allowed, denied_too):
    rt = start_claude(tools=tools)
    _, run_id = claude_run(rt, "hello")
    assert rt.wait_run(run_id)["run_status"] == "succeeded"

    argv = calls(rt)[0]["argv"]
    assert argv[argv.index("--allowedTools") + 1].split(",") == allowed
    denied = argv[argv.index("--disallowedTools") + 1].split(",")
    assert set(denied_too) <= set(denied) and not set(allowed) & set(denied)


def test_a_shell_tool_on_an_http_agent_is_not_offered_to_its_model(rt):
    """`shell` is an agent tool only claude_code has: an anthropic agent that
    lists it still runs, and its model is offered only the tools we run."""
    agent = rt.cli.json("agent", "create", "--project", rt.project_id, "--name", "a2", "--role", "coder",
                        "--provider", "anthropic", "--model", "claude-sonnet-4-5",
                        "--tools", "read_file,shell,block_task,finish_task")["agent"]
    rt.agent_ids["a2"] = int(agent["id"])
    _, run_id = rt.task_and_run("hello http", "a2")
    assert rt.wait_run(run_id)["run_status"] == "succeeded"
    [req] = rt.fake.requests_for("hello http")
    assert sorted(t["name"] for t in req["body"]["tools"]) == ["finish_task", "read_file"]


def test_the_settings_file_is_passed_and_checked_at_start(start_claude, tmp_path):
    settings = tmp_path / "claude-settings.json"
    settings.write_text('{"permissions": {"deny": ["Bash"]}}')
    rt = start_claude(BEEBEEBRAIN_CLAUDE_SETTINGS=str(settings))
    _, run_id = claude_run(rt, "hello")
    assert rt.wait_run(run_id)["run_status"] == "succeeded"
    argv = calls(rt)[0]["argv"]
    assert argv[argv.index("--settings") + 1] == str(settings)


# ---- runs that fail -------------------------------------------------------------------


def test_a_missing_cli_fails_the_run_at_once_without_a_retry(start_runtime, tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    rt = start_runtime(BEEBEEBRAIN_CLAUDE_CLI=str(tmp_path / "no-such-claude"), HOME=str(home))
    add_claude_agent(rt, home)
    task_id, run_id = claude_run(rt, "hello")
    row = rt.wait_run(run_id)

    assert (row["run_status"], row["error_code"], row["retry_count"]) == ("failed", "LLM_PROVIDER_NOT_FOUND", 0)
    assert "no-such-claude" in row["error_message"] and "BEEBEEBRAIN_CLAUDE_CLI" in row["error_message"]
    assert [a["error_code"] for a in rt.ended_attempts(run_id)] == ["LLM_PROVIDER_NOT_FOUND"]
    assert rt.task_status(task_id) == "failed"
    # Nothing reached a provider: no breaker news, no call-error alert.
    assert rt.rows("SELECT * FROM alerts WHERE code LIKE 'LLM_%'") == []


def test_a_cli_not_on_path_is_not_found_either(start_runtime, tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    rt = start_runtime(BEEBEEBRAIN_CLAUDE_CLI="no-such-claude-bbb", HOME=str(home))
    add_claude_agent(rt, home)
    _, run_id = claude_run(rt, "hello")
    row = rt.wait_run(run_id)
    assert (row["run_status"], row["error_code"]) == ("failed", "LLM_PROVIDER_NOT_FOUND")
    assert "not found in the search path" in row["error_message"]


RETRIED = [
    # prompt, code, attempts (4 for a retryable error, 2 for a protocol error: once per run), message part
    ("#fake crash", "LLM_PROVIDER_UNAVAILABLE", 4, "exited with status 3 without a result line: boom: the fake"),
    ("#fake signal", "LLM_PROVIDER_UNAVAILABLE", 4, "killed by signal 9"),
    ("#fake notjson", "LLM_PROTOCOL_ERROR", 2, "line 2 starts \"this line is not JSON\""),
    ("#fake exit0", "LLM_PROTOCOL_ERROR", 2, "exited with status 0 without a result line"),
    ("#fake longline 6000000", "LLM_PROTOCOL_ERROR", 2, "longer than 4194304 bytes"),
]


@pytest.mark.parametrize("prompt,code,attempts,message", RETRIED, ids=[p for p, *_ in RETRIED])
def test_a_cli_that_fails_without_a_result_is_retried_then_fails(cc, prompt, code, attempts, message):
    _, run_id = claude_run(cc, prompt)
    row = cc.wait_run(run_id)

    assert (row["run_status"], row["error_code"]) == ("failed", code), row
    assert message in row["error_message"], row["error_message"]
    ended = cc.ended_attempts(run_id)
    assert [a["error_code"] for a in ended] == [code] * attempts
    assert len(calls(cc)) == attempts
    assert row["token_in"] == 0 and row["cost_usd_micros"] == 0
    wait_no_children(cc.server)


FINAL = [
    ("#fake max_turns", "MAX_TURNS_EXCEEDED", "used all its turns"),
    ("#fake is_error API Error: 401 {\"error\":{\"message\":\"invalid x-api-key\"}}", "LLM_AUTHENTICATION_FAILED",
     "invalid x-api-key"),
    ("#fake is_error Credit balance is too low", "LLM_PROVIDER_ERROR", "Credit balance is too low"),
    ("#fake during_execution the tool runner broke", "LLM_PROVIDER_ERROR",
     "(error_during_execution): the tool runner broke"),
]


@pytest.mark.parametrize("prompt,code,message", FINAL, ids=[p[:30] for p, *_ in FINAL])
def test_an_error_result_fails_the_run_with_the_clis_words(cc, prompt, code, message):
    task_id, run_id = claude_run(cc, prompt)
    row = cc.wait_run(run_id)

    assert (row["run_status"], row["error_code"], row["retry_count"]) == ("failed", code, 0), row
    assert message in row["error_message"]
    assert len(cc.ended_attempts(run_id)) == 1
    # The session was paid for even though it failed.
    assert row["token_in"] == 0 or row["cost_usd_micros"] >= 0
    assert cc.task_status(task_id) == "failed"


def test_a_prompt_too_long_for_the_command_line_fails_before_anything_starts(cc):
    """A prompt may be 200000 bytes; one argument of a command line at most
    131071: such a run fails with a reason, and no process is started."""
    with Client(cc.server.url, timeout=10) as client:
        [run_id] = queue_runs(client, cc.project_id, cc.agent_ids["cc"], ["x" * 140000])
    row = cc.wait_run(run_id)

    assert (row["run_status"], row["error_code"]) == ("failed", "LLM_INVALID_REQUEST"), row
    assert "longer than the 131071 bytes one command-line argument may hold" in row["error_message"]
    assert calls(cc) == []


def test_the_clis_error_words_are_redacted(cc):
    secret = "sk-ant-api03-" + "q" * 40
    _, run_id = claude_run(cc, f"#fake is_error API Error: 400 bad key {secret} in the request")
    row = cc.wait_run(run_id)

    assert (row["run_status"], row["error_code"]) == ("failed", "LLM_INVALID_REQUEST")
    assert secret not in row["error_message"] and "[REDACTED]" in row["error_message"]


# ---- the process group is killed --------------------------------------------------


def started_grandchild(rt):
    pid_file = rt.home / ".fake_claude" / "grandchild.pid"
    wait_until(pid_file.exists, 15, "the fake CLI to start its grandchild")
    return calls(rt)[-1]["pid"], int(pid_file.read_text())


def test_pause_kills_the_cli_and_everything_it_started(cc):
    task_id, run_id = claude_run(cc, "#fake grandchild 120")
    cli_pid, grandchild = started_grandchild(cc)
    assert proc_state(grandchild) not in (None, "Z")

    cc.cli.json("task", "pause", task_id)
    row = cc.wait_run(run_id, "interrupted")
    assert row["error_code"] == "TASK_PAUSED"
    wait_until(lambda: gone(cli_pid) and gone(grandchild), 10, "the CLI and its grandchild to be killed")
    wait_no_children(cc.server)
    # Resumed: a new attempt, a new process.
    cc.cli.json("task", "resume", task_id)
    wait_until(lambda: len(calls(cc)) == 2, 15, "the resumed run to start the CLI again")


def test_cancel_kills_the_cli_and_everything_it_started(cc):
    task_id, run_id = claude_run(cc, "#fake grandchild 120")
    cli_pid, grandchild = started_grandchild(cc)

    cc.cli.json("task", "cancel", task_id)
    assert cc.wait_run(run_id)["run_status"] == "cancelled"
    wait_until(lambda: gone(cli_pid) and gone(grandchild), 10, "the CLI and its grandchild to be killed")
    wait_no_children(cc.server)


def test_a_timeout_kills_the_cli_and_everything_it_started(start_claude):
    rt = start_claude(BEEBEEBRAIN_RETRY_MAX_ATTEMPTS="1")
    _, run_id = claude_run(rt, "#fake grandchild 120", "--timeout", "5")
    cli_pid, grandchild = started_grandchild(rt)

    row = rt.wait_run(run_id)
    assert (row["run_status"], row["error_code"]) == ("failed", "LLM_TIMEOUT")
    assert "timed out after 5000 ms" in row["error_message"]
    wait_until(lambda: gone(cli_pid) and gone(grandchild), 10, "the CLI and its grandchild to be killed")
    wait_no_children(rt.server)


def test_a_cli_that_ignores_sigterm_is_killed_all_the_same(cc):
    task_id, run_id = claude_run(cc, "#fake ignore_term 120")
    pid_file = cc.home / ".fake_claude" / "ignore_term.pid"
    wait_until(pid_file.exists, 15, "the fake CLI to ignore SIGTERM")

    cc.cli.json("task", "pause", task_id)
    assert cc.wait_run(run_id, "interrupted")["error_code"] == "TASK_PAUSED"
    assert gone(int(pid_file.read_text()))
    wait_no_children(cc.server)


def test_shutdown_kills_the_cli_and_the_run_resumes_at_the_next_start(cc):
    _, run_id = claude_run(cc, "#fake grandchild 120")
    cli_pid, grandchild = started_grandchild(cc)

    t0 = time.monotonic()
    assert cc.server.stop() == 0, cc.server.log()
    assert time.monotonic() - t0 < 10
    assert gone(cli_pid) and gone(grandchild)
    row = cc.run_row(run_id)
    assert (row["run_status"], row["error_code"]) == ("interrupted", "SHUTTING_DOWN")


def test_a_server_killed_with_9_takes_its_cli_along_and_the_run_resumes(start_claude):
    """No timer is left to stop a CLI whose server crashed, and the recovered
    run starts a new one in the same workspace: the old one must not go on."""
    cc = start_claude(**RESTART_ENV)
    _, run_id = claude_run(cc, "#fake grandchild 120")
    cli_pid, grandchild = started_grandchild(cc)

    os.kill(cc.server.pid, signal.SIGKILL)
    cc.server.proc.wait()
    try:
        wait_until(lambda: gone(cli_pid), 10, "the CLI of the killed server to die")
    finally:
        os.kill(grandchild, signal.SIGKILL)  # what the CLI started outlives it (security.md)
    start_after_kill(cc.server)
    wait_until(lambda: len(calls(cc)) == 2, 15, "the recovered run to start the CLI again")
    assert cc.rows("SELECT error_code FROM run_attempts WHERE run_id = ? AND n = 1", run_id) == [
        {"error_code": "PROCESS_RESTARTED"}]


def test_runs_on_claude_code_run_side_by_side(cc):
    runs = [claude_run(cc, f"parallel {i}")[1] for i in range(6)]
    for run_id in runs:
        assert cc.wait_run(run_id)["run_status"] == "succeeded"
    assert len(calls(cc)) == 6
    wait_no_children(cc.server)
