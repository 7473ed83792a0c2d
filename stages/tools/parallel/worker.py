"""One of `stages.repro`'s DVC processes in the workspace: stages in, one at a time.

    python -m stages.tools.parallel.worker RESULTS_FD     (stage names on stdin, one a line)

Each stage is `dvc repro --single-item STAGE` through DVC's Python API, in a
process that imported DVC once: DVC decides whether the stage changed, runs it
(or takes it from its run-cache) and records it. Several workers share the
workspace as DVC allows: its repository lock is held while a stage is prepared
and recorded, and released while the stage's command runs (its read/write locks
keep two stages from touching the same outputs). The stage's own lines go to
this process's stdout; one JSON line per stage goes to RESULTS_FD.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import time

from stages.tools.children import cause, die_with_parent


class DvcSays(logging.Handler):
    """Notes a stage DVC took from its run-cache. (DVC's own chatter, "Running stage",
    "Updating lock file", is not shown: the stages speak for themselves; its warnings
    and errors are, by its own handler.)"""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.restored = False

    def emit(self, record: logging.LogRecord) -> None:
        if "is cached - skipping run" in record.getMessage():
            self.restored = True


def reproduce(stage: str, said: DvcSays) -> dict:
    """Run one stage as `dvc repro --single-item` would; what became of it."""
    from dvc.exceptions import DvcException
    from dvc.repo import Repo

    started = time.perf_counter()
    said.restored = False
    try:
        with Repo(_wait_for_lock=True) as repo:
            done = repo.reproduce(stage, single_item=True)
    except DvcException as error:
        return {"stage": stage, "error": cause(error), "seconds": time.perf_counter() - started}
    except KeyboardInterrupt:
        return {"stage": stage, "error": "interrupted", "seconds": time.perf_counter() - started}
    return {"stage": stage, "ran": bool(done), "restored": said.restored,
            "seconds": time.perf_counter() - started}


def _end_with_the_runner() -> None:
    """When `stages.repro` ends (even killed), end this worker and what it runs: the stage
    command DVC started is in this worker's process group (it leads its own session)."""
    signal.signal(signal.SIGTERM, lambda *_: os.killpg(0, signal.SIGKILL))
    die_with_parent(signal.SIGTERM)
    if os.getppid() == 1:  # the runner ended before the line above
        os.killpg(0, signal.SIGKILL)


def main(results_fd: int) -> None:
    import dvc.repo

    _end_with_the_runner()

    said = DvcSays()
    dvc = logging.getLogger("dvc")
    dvc.handlers = [*(h for h in dvc.handlers if h.level >= logging.WARNING), said]
    with os.fdopen(results_fd, "w") as results:
        for line in sys.stdin:
            outcome = reproduce(line.strip(), said)
            sys.stdout.flush()
            results.write(json.dumps(outcome) + "\n")
            results.flush()


if __name__ == "__main__":
    main(int(sys.argv[1]))
