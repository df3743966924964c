"""The README's run command and the scripts name the binary where the build
puts it: `scripts/run.sh` execs build/beebeebrain, so a build that moved the
binary (it once landed in build/src/cli/) would leave the README's first
command failing on a fresh machine while every other test passed."""

import os
import pathlib
import re

REPO = pathlib.Path(__file__).resolve().parents[2]


def test_the_binary_is_where_run_sh_and_the_readme_say():
    built = pathlib.Path(os.environ["BEEBEEBRAIN_BIN"]).resolve()
    build_dir = pathlib.Path(os.environ["BBB_BUILD_DIR"]).resolve()
    assert built == build_dir / "beebeebrain", built
    run_sh = (REPO / "scripts" / "run.sh").read_text()
    assert re.search(r"^exec build/beebeebrain serve ", run_sh, re.M), run_sh
    readme = (REPO / "README.md").read_text()
    assert "build/beebeebrain" in readme


def test_every_script_names_a_binary_the_build_makes():
    """Every build/<name> in scripts/ (the server, the benchmarks) is a file
    the build makes, not a stale location."""
    build_dir = pathlib.Path(os.environ["BBB_BUILD_DIR"]).resolve()
    for script in sorted((REPO / "scripts").glob("*.sh")):
        for name in set(re.findall(r"\bbuild/([A-Za-z0-9_./-]*[A-Za-z0-9_])", script.read_text())):
            assert (build_dir / name).exists(), f"{script.name} names build/{name}, which the build does not make"
