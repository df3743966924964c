"""docs/cli.md against the binary: the overview and every command group's
--help text appear in it verbatim, and every group the overview names has its
section, so the reference cannot drift from the CLI (regenerate it with
scripts/cli_reference.py)."""

import importlib.util
import pathlib
import subprocess

import pytest

from conftest import BIN, child_env

_REPO = pathlib.Path(__file__).resolve().parents[2]
_DOC = _REPO / "docs" / "cli.md"
_spec = importlib.util.spec_from_file_location("cli_reference", _REPO / "scripts" / "cli_reference.py")
cli_reference = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(cli_reference)

FIX = "the CLI changed: run `scripts/cli_reference.py <build>/beebeebrain > docs/cli.md`"


def help_of(*args):
    p = subprocess.run([BIN, *args, "--help"], capture_output=True, text=True, timeout=30, env=child_env())
    assert p.returncode == 0, f"beebeebrain {' '.join(args)} --help exited {p.returncode}: {p.stderr}"
    return p.stdout


def overview():
    return help_of()


def test_the_overview_is_in_the_reference_verbatim():
    assert overview().rstrip("\n") in _DOC.read_text(), FIX


def test_the_overview_names_the_command_groups_of_spec_section_10():
    named = cli_reference.groups(overview())
    for group in ("serve", "health", "ready", "project", "task", "run", "agent", "tool", "inbox", "logs",
                  "metrics", "events", "migrate", "backup", "restore"):
        assert group in named, f"`beebeebrain --help` does not list {group}"


@pytest.mark.parametrize("group", cli_reference.groups(
    subprocess.run([BIN, "--help"], capture_output=True, text=True, timeout=30).stdout) if BIN else [])
def test_each_groups_help_is_in_the_reference_verbatim(group):
    doc = _DOC.read_text()
    assert f"## `beebeebrain {group}`" in doc, f"docs/cli.md has no section for {group}: {FIX}"
    assert help_of(group).rstrip("\n") in doc, f"`beebeebrain {group} --help` differs from docs/cli.md: {FIX}"


def test_the_generator_reproduces_the_reference_exactly():
    p = subprocess.run(["/usr/bin/python3", str(_REPO / "scripts" / "cli_reference.py"), BIN], capture_output=True,
                       text=True, timeout=120, env=child_env())
    assert p.returncode == 0, p.stderr
    assert p.stdout == _DOC.read_text(), FIX
