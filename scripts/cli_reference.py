#!/usr/bin/env python3
"""Writes the CLI reference (docs/cli.md) from the binary's own --help texts.

    scripts/cli_reference.py build/beebeebrain > docs/cli.md

The command groups are the ones `beebeebrain --help` lists; each section is the
verbatim output of `beebeebrain <group> --help`. tests/integration/
test_cli_docs.py checks the committed file against the binary, so the two
cannot drift: after changing a usage text, run this again."""

import subprocess
import sys

INTRO = """# CLI reference

`beebeebrain` is the server (`serve`) and every client of it in one binary. This file is generated from the
binary's own `--help` texts by `scripts/cli_reference.py build/beebeebrain > docs/cli.md`;
`tests/integration/test_cli_docs.py` fails when the file and the binary disagree.

Common to every client command:

- `--rpc URL` (env `BEEBEEBRAIN_RPC_URL`, default `tcp://127.0.0.1:7420`) and `-o json` may stand anywhere on the
  line. With `-o json` the output is the response message in the proto3 JSON mapping with the proto field names
  (64-bit integers as strings, enum values by name, fields holding their default left out); without it, a compact
  table or a field list.
- IDs are positional. Where a command takes `--project ID`, it may be left out while a project named `default`
  exists (list commands without it cover every project). Enum values are given in their short lower-case form
  (`--status todo`).
- Errors go to stderr as `error: <CODE> <REASON>: <message>`, followed by one `  field: description` line per
  offending field of a `VALIDATION_ERROR`. Exit status: 0 success, 1 an error answered by the server, 2 a usage
  error, 3 the server cannot be reached, and for `triage` only, 4 an incident is open (a finding pages).
- List commands print as many rows as `--limit` asks for (default 50), and `events` as many events as it was asked
  for, even when the server sends them in several replies: a reply is capped at about 4 MiB, so a page of big rows
  stops early and the command asks again from where it stopped. `next page: --page-token T` (`next_page_token` in
  JSON) continues after the last row printed.
"""


def help_of(binary, *args):
    p = subprocess.run([binary, *args, "--help"], capture_output=True, text=True, timeout=30)
    if p.returncode != 0:
        raise SystemExit(f"{binary} {' '.join(args)} --help exited {p.returncode}: {p.stderr}")
    return p.stdout


def groups(overview):
    """Command groups named in the overview, in order: the first word of each
    ` | `-separated segment of the indented command lines."""
    seen = []
    for line in overview.splitlines():
        if not line.startswith("  ") or not line[2:3].isalpha():
            continue
        for segment in line.strip().split(" | "):
            word = segment.split()[0]
            if word.isalpha() and word not in seen:
                seen.append(word)
    return seen


def main():
    if len(sys.argv) != 2:
        raise SystemExit("usage: scripts/cli_reference.py BINARY > docs/cli.md")
    binary = sys.argv[1]
    overview = help_of(binary)
    out = [INTRO, "## `beebeebrain`\n", "```text", overview.rstrip("\n"), "```\n"]
    for group in groups(overview):
        out += [f"## `beebeebrain {group}`\n", "```text", help_of(binary, group).rstrip("\n"), "```\n"]
    sys.stdout.write("\n".join(out))


if __name__ == "__main__":
    main()
