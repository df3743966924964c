"""The API's contract checks: the real proto/ tree passes `buf lint` (STANDARD
and COMMENTS, with the exceptions of buf.yaml), and scripts/proto_breaking.sh
catches a change that breaks clients of the base commit, both on a branch
(against its merge base with main, uncommitted changes included) and on main
itself (against HEAD~1), while it lets a compatible change through.

buf is the pinned npm package of tools/buf (scripts/buf.sh installs it with
`npm ci` when missing; scripts/install-deps.sh does it up front)."""

import os
import pathlib
import shutil
import subprocess

REPO = pathlib.Path(__file__).resolve().parents[2]
BUF = REPO / "scripts" / "buf.sh"


def run(args, cwd, env=None):
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def git(repo, *args):
    r = run(["git", "-c", "user.name=test", "-c", "user.email=test@example.invalid", *args], repo)
    assert r.returncode == 0, r.stderr
    return r.stdout


def make_repo(tmp_path):
    """A git repository holding a copy of buf.yaml, proto/ and
    scripts/proto_breaking.sh (whose scripts/buf.sh runs the real one), with
    one commit on main."""
    repo = tmp_path / "repo"
    (repo / "scripts").mkdir(parents=True)
    shutil.copy(REPO / "buf.yaml", repo / "buf.yaml")
    shutil.copytree(REPO / "proto", repo / "proto")
    shutil.copy(REPO / "scripts" / "proto_breaking.sh", repo / "scripts" / "proto_breaking.sh")
    wrapper = repo / "scripts" / "buf.sh"
    wrapper.write_text(f'#!/bin/sh\nexec "{BUF}" "$@"\n')
    wrapper.chmod(0o755)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "base")
    return repo


def edit(repo, rel, old, new):
    path = repo / rel
    text = path.read_text()
    assert text.count(old) == 1, old
    path.write_text(text.replace(old, new))


def breaking(repo, tmp_path, *args):
    env = dict(os.environ, BUF_CACHE_DIR=str(tmp_path / "buf-cache"))
    env.pop("BBB_PROTO_BASE", None)
    return run(["scripts/proto_breaking.sh", *args], repo, env)


def test_the_real_tree_lints_clean(tmp_path):
    env = dict(os.environ, BUF_CACHE_DIR=str(tmp_path / "buf-cache"))
    r = run([str(BUF), "lint"], REPO, env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout == "", r.stdout


def test_lint_refuses_an_element_without_a_comment(tmp_path):
    """COMMENTS is on: a new field with no leading comment fails lint."""
    repo = make_repo(tmp_path)
    edit(repo, "proto/beebeebrain/v1/health.proto", "  int64 uptime_ms = 5;\n", "  int64 uptime_ms = 5;\n  string node = 6;\n")
    r = run([str(BUF), "lint"], repo, dict(os.environ, BUF_CACHE_DIR=str(tmp_path / "buf-cache")))
    assert r.returncode != 0
    assert 'Field "node" should have a non-empty comment' in r.stdout, r.stdout


def test_a_changed_field_number_on_a_branch_is_caught(tmp_path):
    """On a branch, the working tree is compared with the merge base with
    main: an uncommitted renumbering fails."""
    repo = make_repo(tmp_path)
    git(repo, "checkout", "-q", "-b", "feature")
    edit(repo, "proto/beebeebrain/v1/task.proto", "  string title = 2;\n  // Free text", "  string title = 12;\n  // Free text")
    r = breaking(repo, tmp_path)
    assert r.returncode != 0, r.stdout + r.stderr
    out = r.stdout + r.stderr
    assert "task.proto" in out and '"title"' in out and "CreateTaskRequest" in out, out


def test_a_break_committed_on_main_is_caught_against_head_1(tmp_path):
    """On main itself (a CI clone of main) the base is HEAD~1."""
    repo = make_repo(tmp_path)
    edit(repo, "proto/beebeebrain/v1/common.proto", "  TASK_STATUS_DONE = 4;", "  TASK_STATUS_DONE = 9;")
    git(repo, "commit", "-q", "-am", "renumber an enum value")
    r = breaking(repo, tmp_path)
    assert r.returncode != 0, r.stdout + r.stderr
    assert "TASK_STATUS_DONE" in r.stdout + r.stderr
    # An explicit base that already has the change: nothing to report.
    assert breaking(repo, tmp_path, "HEAD").returncode == 0


def test_renamed_fields_and_methods_are_caught(tmp_path):
    """WIRE_JSON, not only WIRE: a field keeps its number but changes its
    JSON name. And a method's name is on the wire (RpcRequest.method, the
    HTTP path), which WIRE_JSON alone would let change."""
    repo = make_repo(tmp_path)
    edit(repo, "proto/beebeebrain/v1/project.proto", "  string root_path = 2;", "  string root_dir = 2;")
    edit(repo, "proto/beebeebrain/v1/project.proto", "rpc GetProject(", "rpc FetchProject(")
    git(repo, "commit", "-q", "-am", "rename")
    r = breaking(repo, tmp_path)
    assert r.returncode != 0, r.stdout + r.stderr
    out = r.stdout + r.stderr
    assert "root_path" in out and '"GetProject"' in out, out


def test_a_new_field_and_new_comments_are_compatible(tmp_path):
    repo = make_repo(tmp_path)
    edit(
        repo,
        "proto/beebeebrain/v1/health.proto",
        "  int64 uptime_ms = 5;\n",
        "  int64 uptime_ms = 5;\n  // The host's name.\n  string node = 6;\n",
    )
    edit(repo, "proto/beebeebrain/v1/health.proto", "  // Always \"ok\"", "  // Reworded: always \"ok\"")
    git(repo, "commit", "-q", "-am", "add a field")
    r = breaking(repo, tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "no breaking change" in r.stdout

