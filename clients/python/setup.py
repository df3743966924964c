"""Build step of the `beebeebrain` package: besides the hand-written modules,
build_py writes the generated ones (protoc's *_pb2.py/.pyi and our typed
clients, build_tools/generate.py) into the build directory, so that they are
never committed and always match the .proto files they were built from.
Metadata lives in pyproject.toml."""

import pathlib
import sys

from setuptools import setup
from setuptools.command.build_py import build_py

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent / "build_tools"))
import generate  # noqa: E402


class BuildPyWithProtos(build_py):
    def run(self):
        super().run()
        if not self.dry_run:
            try:
                generate.generate(self.build_lib)
            except generate.GenerateError as e:
                raise SystemExit(f"beebeebrain: {e}") from None


setup(cmdclass={"build_py": BuildPyWithProtos})
