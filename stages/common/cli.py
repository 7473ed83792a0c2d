"""How every stage and command starts and fails.

Code raises `UserError` for anything the user can fix (bad params, a bad
download, a missing input). `run` turns it into one line on stderr and exit
code 1 instead of a traceback, so `dvc repro` output stays readable. Under
DVC, which removed the stage's outputs before running it, the line ends with
the command that brings the last good ones back.
"""

from __future__ import annotations

import difflib
import os
import sys
from collections.abc import Callable, Iterable

from stages.common import journal, outputs, phases


class UserError(Exception):
    """A problem with the user's inputs: the message says what and how to fix it."""


def did_you_mean(word: object, options: Iterable[object]) -> str:
    """' (did you mean 'x'?)' for the option nearest to `word`, or ''."""
    close = difflib.get_close_matches(str(word), [str(o) for o in options], n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def run(main: Callable[[], None]) -> None:
    """Call a stage's or command's `main`, mapping user errors and Ctrl-C to clean exits."""
    phases.main_started()
    try:
        main()
        if stage := os.environ.get("DVC_STAGE"):
            journal.record(stage)
    except UserError as error:
        print(f"error: {error}{restore_hint(os.environ.get('DVC_STAGE'))}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        print("interrupted: no output was written", file=sys.stderr)
        sys.exit(130)


def restore_hint(stage: str | None) -> str:
    """How to get back the outputs DVC removed before running `stage`, or ''."""
    cached, committed = outputs.of_stage(stage) if stage else ([], [])
    steps = [f"`dvc checkout {stage}` (from the DVC cache)"] if cached else []
    if committed:
        files = " ".join(str(path) for path in committed)
        steps.append(f"`git checkout HEAD -- {files}` (committed files)")
    if not steps:
        return ""
    return (". DVC removed this stage's previous outputs before running it; get the last "
            f"good ones back with {' and '.join(steps)}")
