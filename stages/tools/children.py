"""What every tool that starts child processes shares: the child dies with its parent,
and a failed child is told in one line, its own.

The runners (`stages.repro`'s workers and scratch copies), the sweep trials, the
warm start and the server all start children; each needs them gone when it goes
(a lost Ray node, a cancelled trial, a killed server) and, when a child failed,
the one line a person should read rather than its whole output.
"""

from __future__ import annotations

import ctypes
import signal
import sys

HINT = ". DVC removed this stage"  # where a stage's error line starts telling how to restore


def die_with_parent(number: int = signal.SIGKILL) -> None:
    """End this process with signal `number` when its parent ends (Linux's
    PR_SET_PDEATHSIG; for `preexec_fn` or a forked child). Elsewhere it does nothing:
    the parent's own clean-up must stop the child."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(1, number)


def error_line(output: str, fallback: str = "failed without a message") -> str:
    """Why a child failed, from what it printed: a stage's own one `error: ` line, else
    the last line DVC or git marked as an error, else its last line; without the
    restore hint (the person reading a runner's summary did not run the stage)."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    ours = [line for line in lines if line.startswith("error: ")]
    theirs = [line for line in lines if line.startswith(("ERROR", "fatal"))]
    return (ours[:1] or theirs[-1:] or lines[-1:] or [fallback])[0].split(HINT)[0]


def cause(error: BaseException) -> str:
    """The innermost message of a chained exception (DVC wraps a stage's failure)."""
    while error.__cause__ is not None:
        error = error.__cause__
    return str(error).splitlines()[0] if str(error) else type(error).__name__
