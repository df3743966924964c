"""The commands of docs/runbook.md, as the runbook test (test_runbook.py) and
the drills (tests/drills/) read them: every line of every ```sh fenced block
(blocks may be indented inside a list), one command per line.

    commands()           [(line_number, text)] in the order of the file
    split(text)          (env, argv): leading NAME=value words apart, the rest
                         split like a POSIX shell would (quotes, # comments)
    fill(argv, values)   argv with the placeholder words (RUN_ID, DB_PATH ...)
                         replaced by values[word]; a placeholder without a
                         value is an error, so that a new placeholder in the
                         runbook cannot go unchecked
    require(text)        asserts the runbook has this command line verbatim:
                         a drill types only what the runbook says
"""

import pathlib
import re
import shlex

RUNBOOK = pathlib.Path(__file__).resolve().parents[2] / "docs" / "runbook.md"

# Words in capitals that stand for a value the operator fills in (the
# runbook's "Conventions" list them).
PLACEHOLDERS = ("RUN_ID", "TASK_ID", "ALERT_ID", "ITEM_ID", "PROJECT_ID", "TASK_IDS", "ENDPOINT", "DB_PATH",
                "TARGET", "BACKUP_FILE")

_FENCE = re.compile(r"^\s*```(\S*)\s*$")
_ASSIGNMENT = re.compile(r"^[A-Z_][A-Z0-9_]*=")


def commands(path=RUNBOOK):
    """[(line_number, command)] of the ```sh blocks, blank lines left out."""
    out = []
    lang = None
    for n, line in enumerate(path.read_text().splitlines(), start=1):
        m = _FENCE.match(line)
        if m:
            lang = None if lang is not None else m.group(1)
            continue
        if lang == "sh" and line.strip():
            out.append((n, line.strip()))
    assert lang is None, f"{path}: a fenced block is not closed"
    return out


def split(text):
    """(env, argv) of one command line."""
    words = shlex.split(text, comments=True)
    env = {}
    while words and _ASSIGNMENT.match(words[0]):
        name, _, value = words.pop(0).partition("=")
        env[name] = value
    return env, words


def placeholders_in(argv):
    return [w for w in argv if w in PLACEHOLDERS]


def fill(argv, values):
    """argv with each placeholder word replaced by str(values[word])."""
    missing = [w for w in placeholders_in(argv) if w not in values]
    assert not missing, f"no value for placeholder(s) {missing} in {argv}"
    return [str(values[w]) if w in PLACEHOLDERS else w for w in argv]


def require(text):
    """The command line `text` as the runbook has it, split: (env, argv).
    Fails when the runbook does not have it verbatim."""
    lines = [c for _, c in commands()]
    assert text in lines, f"docs/runbook.md has no command line `{text}`: the drill and the runbook disagree"
    return split(text)
