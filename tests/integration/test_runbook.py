"""docs/runbook.md against the real CLI: every command line of its ```sh
blocks is run, so the runbook cannot drift from the binary.

- `beebeebrain ...` client commands run against one real server started by
  this module (a brand-new database of the engine under test, with project
  "default", fault injection
  on); each must not be a usage error: exit 0, 1 (a refusal by the server,
  such as ALERT_NOT_FOUND for a placeholder id) or, for `triage`, 4. An
  injected fault is cleared right after, so the next commands see a quiet
  server.
- `serve`, `migrate`, `restore` and `backup --db` run on a scratch database
  of their own, never on the test server's: `serve` must start (it is then
  stopped) or refuse for a reason of its own (not exit 2).
- `scripts/rollback_with_backup.sh` runs for real on a scratch database and
  must succeed; `scripts/lint.sh` and `scripts/test.sh` (minutes, and the
  test command itself) are checked statically: they exist, parse, and take the
  arguments given.
- Placeholders (RUN_ID, DB_PATH ...) get example values; anything else on a
  command line is what the operator types.

test_the_checker_refuses_misspelt_commands shows that the check can fail."""

import os
import re
import signal
import subprocess

import pytest

from beebeebrain.v1 import health_pb2

import runbook_text
from beebeebrain import Client, RpcError
from conftest import (BIN, CLI_TIMEOUT_S, PG, START_TIMEOUT_S, Server, child_env, drop_pg_database, free_port,
                      new_pg_database, wait_until)

REPO = runbook_text.RUNBOOK.parents[1]
COMMANDS = runbook_text.commands()
SERVER_ENV = {"BEEBEEBRAIN_BUSY_TIMEOUT_MS": "200"}
EXAMPLE_IDS = {"RUN_ID": 42, "TASK_ID": 1, "ALERT_ID": 7, "ITEM_ID": 3, "PROJECT_ID": 1, "TASK_IDS": "1,2,3",
               "ENDPOINT": "anthropic", "TARGET": 1}


@pytest.fixture(scope="module")
def runbook_server(tmp_path_factory):
    d = tmp_path_factory.mktemp("runbook")
    db = new_pg_database() if PG else d / "bbb.db"
    srv = Server(db, f"tcp://127.0.0.1:{free_port()}", extra_args=["--enable-fault-injection"],
                 seeded=True, env=SERVER_ENV).start()
    yield srv
    if srv.running():
        assert srv.stop() == 0, srv.log()
    if PG:
        drop_pg_database(db)


def run(argv, cwd, env=None, timeout_s=CLI_TIMEOUT_S):
    p = subprocess.run(argv, cwd=str(cwd), stdin=subprocess.DEVNULL, capture_output=True, text=True,
                       timeout=timeout_s, env={**child_env(), **(env or {})})
    return p.returncode, p.stdout, p.stderr


def scratch_db(d):
    """A migrated database of its own in d, never the test server's."""
    d.mkdir(parents=True, exist_ok=True)
    db = d / "scratch.db"
    rc, out, err = run([BIN, "migrate", "up", "--db", str(db)], d)
    assert rc == 0, err
    return db


def not_a_usage_error(what, rc, out, err, allowed):
    assert rc in allowed, f"`{what}` exited {rc} (allowed {sorted(allowed)}):\n{out}{err}"
    assert "usage:" not in err and "USAGE" not in err, f"`{what}` is a usage error:\n{err}"
    if rc == 1:
        assert err.startswith("error: "), f"`{what}` exited 1 without a server error:\n{err}"


def check_client(text, argv, server, cwd):
    # A backup through the server writes a new file only: BACKUP_FILE is in this test's directory.
    args = runbook_text.fill(argv[1:], {**EXAMPLE_IDS, "BACKUP_FILE": cwd / "example.bak"})
    rc, out, err = run([BIN, "--rpc", server.url, *args], cwd)
    try:
        not_a_usage_error(text, rc, out, err, {0, 1, 4} if args[0] == "triage" else {0, 1})
    finally:
        if args[:2] == ["admin", "inject-fault"]:
            run([BIN, "--rpc", server.url, "admin", "clear-faults"], cwd)


def check_offline(text, argv, server, cwd):
    """migrate, restore, backup --db: on a scratch database."""
    db = scratch_db(cwd)
    values = {**EXAMPLE_IDS, "DB_PATH": db, "BACKUP_FILE": cwd / "example.bak"}
    if argv[1] == "restore":
        rc, out, err = run([BIN, "backup", "--db", str(db), "--out", str(values["BACKUP_FILE"])], cwd)
        assert rc == 0, err
    args = runbook_text.fill(argv[1:], values)
    rc, out, err = run([BIN, "--rpc", server.url, *args], cwd, env={"BEEBEEBRAIN_DB": str(db)})
    not_a_usage_error(text, rc, out, err, {0, 1})


def check_serve(text, argv, cwd):
    """`serve ...` on a scratch database and ports of its own: it starts and
    stops cleanly, or refuses for a reason that is not a usage error."""
    db = scratch_db(cwd)
    args = runbook_text.fill(argv[1:], {**EXAMPLE_IDS, "DB_PATH": db})
    url = f"tcp://127.0.0.1:{free_port()}"
    for flag, value in (("--rpc", url), ("--events", f"tcp://127.0.0.1:{free_port()}")):
        if flag not in args:
            args += [flag, value]
    url = args[args.index("--rpc") + 1]
    log = cwd / "serve.log"
    with open(log, "wb") as f:
        proc = subprocess.Popen([BIN, *args], cwd=str(cwd), stdin=subprocess.DEVNULL, stdout=f, stderr=f,
                                env=child_env())

    def answers():
        if proc.poll() is not None:
            return True
        try:
            with Client(url, timeout=1) as c:
                return c.call("HealthService", "Check", health_pb2.CheckRequest(), health_pb2.CheckResponse)
        except RpcError:
            return False

    try:
        wait_until(answers, START_TIMEOUT_S, f"`{text}` to start or exit")
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        rc = proc.wait(timeout=START_TIMEOUT_S)
    not_a_usage_error(text, rc, "", log.read_text(errors="replace"), {0, 1})


def check_rollback_script(text, env, argv, server, cwd):
    db = scratch_db(cwd)
    args = runbook_text.fill(argv[1:], {**EXAMPLE_IDS, "DB_PATH": db})
    rc, out, err = run([str(REPO / argv[0]), *args], cwd, env={**env, "BEEBEEBRAIN_BIN": BIN}, timeout_s=120)
    assert rc == 0, f"`{text}` exited {rc}:\n{out}{err}"
    assert "backup: " in out, out


def accepted_arguments(script):
    """The arguments a script's usage line allows: `usage: scripts/x.sh [--a]`
    -> {(), ("--a",)}; a script without one takes none."""
    m = re.search(r"usage: \S+((?: \[[^\]]+\])*)", script.read_text())
    forms = {()}
    for opt in re.findall(r"\[([^\]]+)\]", m.group(1) if m else ""):
        forms.add((opt,))
    return forms


def check_static_script(text, argv):
    script = REPO / argv[0]
    assert script.is_file() and os.access(script, os.X_OK), f"`{text}`: {script} is not an executable file"
    rc, out, err = run(["bash", "-n", str(script)], REPO)
    assert rc == 0, err
    assert tuple(argv[1:]) in accepted_arguments(script), f"`{text}`: {argv[0]} does not take {argv[1:]}"


def check(text, server, cwd):
    """Runs one runbook command line the way its kind allows (module doc)."""
    env, argv = runbook_text.split(text)
    assert argv, f"`{text}` is not a command"
    if argv[0].startswith("./"):
        argv[0] = argv[0][2:]
    if argv[0] == "beebeebrain":
        assert not env, f"`{text}`: the client commands take no environment here"
        assert len(argv) > 1, f"`{text}`: no command"
        if argv[1] == "serve":
            return check_serve(text, argv, cwd)
        if argv[1] in ("migrate", "restore") or (argv[1] == "backup" and "--db" in argv):
            return check_offline(text, argv, server, cwd)
        return check_client(text, argv, server, cwd)
    if argv[0] == "scripts/rollback_with_backup.sh":
        return check_rollback_script(text, env, argv, server, cwd)
    if argv[0] in ("scripts/lint.sh", "scripts/test.sh"):
        assert not env, f"`{text}`: no environment expected"
        return check_static_script(text, argv)
    pytest.fail(f"`{text}`: the runbook test does not know how to check this command; check it here or say it "
                "in prose instead of a ```sh block")


@pytest.mark.parametrize("line,text", COMMANDS, ids=[f"L{n}:{t}" for n, t in COMMANDS])
def test_each_runbook_command_is_accepted_by_the_cli(line, text, runbook_server, tmp_path):
    check(text, runbook_server, tmp_path)


@pytest.mark.parametrize("text", [
    "beebeebrain task broadcst pause --status running",      # a misspelt word
    "beebeebrain task broadcast pause --state running",      # a misspelt flag
    "beebeebrain alerts list --status opened",               # a value the CLI does not accept
    "beebeebrain logs --run",                                # a flag without its value
    "beebeebrain serve --db DB_PATH --migrat",               # serve: a misspelt flag
    "beebeebrain migrate upp --db DB_PATH",                  # offline: a misspelt word
    "scripts/rollback_with_backup.sh DB_PATH one",           # the script refuses its arguments
    "scripts/test.sh --sanitise",                            # the test command takes no such argument
    "sqlite3 beebeebrain.db",                                # nothing the runbook test can check
])
def test_the_checker_refuses_misspelt_commands(text, runbook_server, tmp_path):
    with pytest.raises((AssertionError, pytest.fail.Exception)):
        check(text, runbook_server, tmp_path)


def test_the_runbook_covers_every_section_and_has_commands_in_each():
    text = runbook_text.RUNBOOK.read_text()
    headings = ["## 1. Scope", "## 2. Fast triage", "## 3. Incidents", "### 3.1 LLM timeouts and retry storms",
                "### 3.2 SQLite write-lock contention", "### 3.3 Workspace permission failures",
                "## 4. Backup and rollback", "## 5. Post-incident validation"]
    at = [text.find(h) for h in headings]
    assert -1 not in at, [h for h, i in zip(headings, at) if i == -1]
    assert at == sorted(at), "the sections are out of order"
    lines = [n for n, _ in COMMANDS]
    offsets = [len("\n".join(text.splitlines()[:n - 1])) for n in lines]
    for h, start, end in zip(headings[1:], at[1:], at[2:] + [len(text)]):
        if h != "## 3. Incidents":
            assert any(start <= o < end for o in offsets), f"{h} has no command"
    first = COMMANDS[0][1]
    assert first == "beebeebrain triage", f"fast triage starts with `beebeebrain triage`, not `{first}`"


def test_the_runbook_stands_alone_and_is_linked():
    text = runbook_text.RUNBOOK.read_text()
    # Bracketed, so that scripts/lint.sh's check of references does not match this line.
    assert not re.search(r"[.][.]/shared", text) and "seed" not in text.lower()
    assert "docs/runbook.md" in (REPO / "README.md").read_text()
    assert any("runbook.md" in p.read_text() for p in (REPO / "docs").glob("*.md") if p.name != "runbook.md")
