"""The C client library as a user gets it (docs/c-client.md): `cmake --install`
into a temporary prefix, the example of examples/ built against the installed
package once with pkg-config (examples/Makefile) and once with find_package
(examples/CMakeLists.txt, shared and static), and run against a real server,
twice, resuming its event stream; a client-only build (-DBBB_BUILD_SERVER=OFF)
that looks for nothing but nng and protobuf-c; and the project used as a
subdirectory of another CMake project."""

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import Server, child_env

SRC = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("BBB_BUILD_DIR", SRC / "build"))
BUILD_TIMEOUT_S = 600


def sanitizer_flags():
    """The flags of a sanitizer build (scripts/test.sh --sanitize): its
    installed library is instrumented, so what links it must be too."""
    cache = BUILD / "CMakeCache.txt"
    on = cache.exists() and "BBB_SANITIZE:BOOL=ON" in cache.read_text()
    return "-fsanitize=address,undefined" if on else ""


SAN = sanitizer_flags()


def run(cmd, **kw):
    """Runs cmd; fails the test with its output when it exits non-zero."""
    p = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=BUILD_TIMEOUT_S, **kw)
    if p.returncode != 0:
        pytest.fail(f"{' '.join(map(str, cmd))} exited {p.returncode}\n{p.stdout}\n{p.stderr}")
    return p.stdout


@pytest.fixture(scope="module")
def prefix(tmp_path_factory):
    """The library installed from the build directory into a fresh prefix."""
    root = tmp_path_factory.mktemp("prefix")
    run(["cmake", "--install", BUILD, "--prefix", root])
    return root


def libdir(prefix):
    dirs = [p.parent for p in prefix.glob("lib*/**/libbeebeebrain-client.a")]
    assert len(dirs) == 1, list(prefix.rglob("*"))
    return dirs[0]


@pytest.fixture
def seeded(tmp_path, rpc_url):
    """A server on a brand-new database: project "default", agent 1 (echo)."""
    srv = Server(tmp_path / "new.db", rpc_url, seeded=True).start()
    yield srv
    assert srv.stop() == 0, srv.log()


def run_example(exe, srv, state):
    env = {**child_env(), "BEEBEEBRAIN_RPC_URL": srv.url, "BEEBEEBRAIN_EVENTS_URL": srv.events_url}
    out = run([exe, state, "from the install test"], env=env)
    lines = out.splitlines()
    assert re.fullmatch(r"task \d+ created", lines[0]), out
    assert lines[1].startswith("run ") and lines[1].endswith(" succeeded"), out
    events = [(int(m[1]), m[2], int(m[3])) for m in
              (re.fullmatch(r"event (\d+) (\S+) task=(\d+)", l) for l in lines[2:]) if m]
    assert len(events) == len(lines) - 2, out
    return int(lines[0].split()[1]), events


def check_example(exe, srv, tmp_path):
    """Two runs with one state file: the second goes on after the last event
    the first printed; together they print every event once, in id order,
    and each run sees the events of its own task."""
    state = tmp_path / "last-event-id"
    task1, ev1 = run_example(exe, srv, state)
    assert int(state.read_text()) == ev1[-1][0]
    task2, ev2 = run_example(exe, srv, state)
    ids = [e[0] for e in ev1 + ev2]
    assert ids == sorted(set(ids)), ids
    assert ev2[0][0] > ev1[-1][0]
    assert int(state.read_text()) == ev2[-1][0]
    assert any(e[2] == task1 and e[1].startswith("task.") for e in ev1), ev1
    assert any(e[2] == task2 and e[1].startswith("run.") for e in ev2), ev2
    assert not any(e[2] == task1 for e in ev2), ev2


def test_install_puts_headers_libraries_pkg_config_and_cmake_package(prefix):
    inc = prefix / "include" / "beebeebrain"
    for h in ["client.h", "status.h", "subscriber.h", "client_api.h", "v1/task.pb-c.h", "v1/events.pb-c.h"]:
        assert (inc / h).is_file(), h
    lib = libdir(prefix)
    so = lib / "libbeebeebrain-client.so"
    assert so.is_symlink() and (lib / "libbeebeebrain-client.so.0").is_symlink()
    soname = run(["objdump", "-p", so])
    assert re.search(r"SONAME\s+libbeebeebrain-client\.so\.0\b", soname)
    # Only the public API and the generated protobuf-c code are exported.
    exported = [l.split()[-1] for l in run(["nm", "-D", "--defined-only", so]).splitlines()]
    assert "bbb_call_ex" in exported and "bbb_task_status_name" in exported
    assert [s for s in exported if not s.startswith(("bbb_", "beebeebrain__"))] == []
    assert (lib / "pkgconfig" / "beebeebrain-client.pc").is_file()
    cm = lib / "cmake" / "beebeebrain"
    for f in ["beebeebrainConfig.cmake", "beebeebrainConfigVersion.cmake", "beebeebrainTargets.cmake"]:
        assert (cm / f).is_file(), f
    # Nothing of the build tree leaks into the installed package.
    for f in cm.glob("*.cmake"):
        assert str(BUILD) not in f.read_text() and str(SRC) not in f.read_text(), f


def test_pkg_config_gives_flags_for_shared_and_static_linking(prefix):
    env = {**os.environ, "PKG_CONFIG_PATH": str(libdir(prefix) / "pkgconfig")}
    assert run(["pkg-config", "--modversion", "beebeebrain-client"], env=env).strip() == "0.1.0"
    assert f"-I{prefix}/include" in run(["pkg-config", "--cflags", "beebeebrain-client"], env=env)
    libs = run(["pkg-config", "--libs", "beebeebrain-client"], env=env).split()
    assert "-lbeebeebrain-client" in libs and "-lnng" not in libs
    static = run(["pkg-config", "--static", "--libs", "beebeebrain-client"], env=env).split()
    for flag in ["-lbeebeebrain-client", "-lprotobuf-c", "-lnng", "-pthread"]:
        assert flag in static, static


def test_example_built_with_pkg_config_follows_events_across_restarts(prefix, seeded, tmp_path):
    ex = tmp_path / "examples"
    shutil.copytree(SRC / "examples", ex)
    lib = libdir(prefix)
    run(["make", "-C", ex], env={**os.environ, "PKG_CONFIG_PATH": str(lib / "pkgconfig"),
                                 "CFLAGS": f"-O2 -Wall -Wextra {SAN}", "LDFLAGS": f"-Wl,-rpath,{lib} {SAN}"})
    check_example(ex / "task_events", seeded, tmp_path)


@pytest.mark.parametrize("static", ["OFF", "ON"])
def test_example_built_with_find_package_follows_events_across_restarts(prefix, seeded, tmp_path, static):
    build = tmp_path / "build-example"
    run(["cmake", "-S", SRC / "examples", "-B", build, f"-DCMAKE_PREFIX_PATH={prefix}",
         f"-DEXAMPLE_STATIC={static}", f"-DCMAKE_C_FLAGS={SAN}", f"-DCMAKE_EXE_LINKER_FLAGS={SAN}"])
    run(["cmake", "--build", build])
    exe = build / "task_events"
    needed = run(["readelf", "-d", exe])
    assert ("libbeebeebrain-client.so.0" in needed) == (static == "OFF"), needed
    check_example(exe, seeded, tmp_path)


def test_client_only_build_needs_only_nng_and_protobuf_c(tmp_path):
    build = tmp_path / "client-only"
    out = run(["cmake", "-S", SRC, "-B", build, "-DBBB_BUILD_SERVER=OFF", "-DCMAKE_BUILD_TYPE=Release"])
    cache = (build / "CMakeCache.txt").read_text()
    for dep in ["SQLITE3", "JANSSON", "CURL", "MHD", "CMOCKA"]:
        assert f"{dep}_FOUND" not in cache and f"{dep}_INCLUDEDIR" not in cache, dep
    assert "sqlite" not in out.lower() and "jansson" not in out.lower()
    run(["cmake", "--build", build, "--target", "beebeebrain_client", "-j2"])
    assert (build / "libbeebeebrain-client.so.0.1.0").is_file()


def test_project_works_as_a_subdirectory_without_leaking_its_flags(tmp_path):
    parent = tmp_path / "parent"
    parent.mkdir()
    (parent / "CMakeLists.txt").write_text(f"""
cmake_minimum_required(VERSION 3.25)
project(parent LANGUAGES C)
set(BBB_BUILD_SERVER OFF)
add_subdirectory({SRC} beebeebrain EXCLUDE_FROM_ALL)
add_executable(app app.c)
target_link_libraries(app PRIVATE beebeebrain::client_static)
get_directory_property(opts COMPILE_OPTIONS)
get_directory_property(defs COMPILE_DEFINITIONS)
message(STATUS "parent options=[${{opts}}] definitions=[${{defs}}]")
""")
    (parent / "app.c").write_text("""#include <string.h>
#include <beebeebrain/client.h>
int main(void) { return strcmp(bbb_task_status_name(BEEBEEBRAIN__V1__TASK_STATUS__TASK_STATUS_TODO), "todo"); }
""")
    out = run(["cmake", "-S", parent, "-B", parent / "build"])
    # Our -Wall/-Werror/-D_GNU_SOURCE and BBB_VERSION stay in our directories.
    assert "parent options=[] definitions=[]" in out, out
    # Nor are our tests configured in the parent's build.
    assert not (parent / "build" / "beebeebrain" / "tests").exists()
    run(["cmake", "--build", parent / "build", "--target", "app", "-j2"])
    assert run([parent / "build" / "app"]) == ""
