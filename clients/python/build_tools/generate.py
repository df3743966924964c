"""Generates the modules of the `beebeebrain` package from proto/.

One step, used both by the package build (setup.py, at `pip install`) and by
CMake (into <build>/python, where the integration tests import the package):

    protoc -I PROTO_DIR --python_out=OUT --pyi_out=OUT \
           --plugin=protoc-gen-beebeebrain=... --beebeebrain_out=OUT  PROTO_DIR/beebeebrain/v1/*.proto

writes beebeebrain/v1/*_pb2.py and *_pb2.pyi (protoc) and
beebeebrain/_services.py and .pyi (our plugin, protoc_gen_beebeebrain.py).
With --with-sources the hand-written modules are copied into OUT as well, so
that OUT holds the whole package, exactly as pip installs it.

The proto directory is --proto-dir, else $BEEBEEBRAIN_PROTO_DIR, else
../../proto next to this package (the repository's layout). protoc is
--protoc, else $PROTOC, else `protoc` on the PATH. The plugin runs under the
interpreter that runs this step (it needs google.protobuf).
"""

import argparse
import os
import pathlib
import shutil
import stat
import subprocess
import sys
import tempfile

HERE = pathlib.Path(__file__).resolve().parent
PACKAGE_SRC = HERE.parent / "beebeebrain"
PLUGIN = HERE / "protoc_gen_beebeebrain.py"


class GenerateError(Exception):
    pass


def find_proto_dir(explicit=None):
    candidates = [explicit, os.environ.get("BEEBEEBRAIN_PROTO_DIR"), HERE.parent.parent.parent / "proto"]
    for c in candidates:
        if c and (pathlib.Path(c) / "beebeebrain" / "v1").is_dir():
            return pathlib.Path(c).resolve()
    raise GenerateError("cannot find the .proto files (proto/beebeebrain/v1): build from the repository checkout, "
                        "or set BEEBEEBRAIN_PROTO_DIR to its proto/ directory")


def find_protoc(explicit=None):
    protoc = explicit or os.environ.get("PROTOC") or shutil.which("protoc")
    if not protoc:
        raise GenerateError("protoc not found: install protobuf-compiler (Debian) or set PROTOC")
    return protoc


def copy_sources(out_dir):
    """The hand-written modules (and py.typed) into out_dir/beebeebrain."""
    for src in PACKAGE_SRC.rglob("*"):
        if src.is_file() and (src.suffix in (".py", ".pyi") or src.name == "py.typed"):
            dst = out_dir / "beebeebrain" / src.relative_to(PACKAGE_SRC)
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dst)


def generate(out_dir, proto_dir=None, protoc=None, with_sources=False, python=None):
    out_dir = pathlib.Path(out_dir)
    proto_dir = find_proto_dir(proto_dir)
    protoc = find_protoc(protoc)
    protos = sorted(str(p) for p in (proto_dir / "beebeebrain" / "v1").glob("*.proto"))
    (out_dir / "beebeebrain" / "v1").mkdir(parents=True, exist_ok=True)
    if with_sources:
        copy_sources(out_dir)
    with tempfile.TemporaryDirectory(prefix="bbb-protoc-") as tmp:
        # protoc runs a plugin as an executable: a wrapper that starts it
        # under this interpreter (not whatever `python3` the PATH finds).
        wrapper = pathlib.Path(tmp) / "protoc-gen-beebeebrain"
        wrapper.write_text(f"#!/bin/sh\nexec '{python or sys.executable}' '{PLUGIN}' \"$@\"\n")
        wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
        cmd = [protoc, f"-I{proto_dir}", f"--python_out={out_dir}", f"--pyi_out={out_dir}",
               f"--plugin=protoc-gen-beebeebrain={wrapper}", f"--beebeebrain_out={out_dir}", *protos]
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            raise GenerateError(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stderr}")
    return out_dir


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True, help="directory that receives beebeebrain/...")
    ap.add_argument("--proto-dir", help="the directory holding beebeebrain/v1/*.proto")
    ap.add_argument("--protoc", help="the protoc executable")
    ap.add_argument("--with-sources", action="store_true", help="also copy the hand-written modules")
    ap.add_argument("--stamp", help="file touched when done (for make)")
    args = ap.parse_args(argv)
    try:
        generate(args.out, args.proto_dir, args.protoc, args.with_sources)
    except GenerateError as e:
        print(f"generate.py: {e}", file=sys.stderr)
        return 1
    if args.stamp:
        pathlib.Path(args.stamp).touch()
    return 0


if __name__ == "__main__":
    sys.exit(main())
