"""How every stage starts and fails.

A stage raises `UserError` for anything the user can fix (bad params, a bad
download, a missing input). `run` turns it into one line on stderr and exit
code 1 instead of a traceback, so `dvc repro` output stays readable.
"""

from __future__ import annotations

import sys
from collections.abc import Callable


class UserError(Exception):
    """A problem with the user's inputs: the message says what and how to fix it."""


def run(main: Callable[[], None]) -> None:
    """Call a stage's `main`, mapping user errors and Ctrl-C to clean exits."""
    try:
        main()
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        print("interrupted: no output was written", file=sys.stderr)
        sys.exit(130)
