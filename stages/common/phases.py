"""Where a stage's time goes, for the benchmarks, at no cost otherwise.

A stage marks its phases (`with phase("train"):`); each becomes a DEBUG record
of this module's logger (`stages.common.phases`), which nothing here prints. The benchmark puts a
hook on that logger from outside the stage (benchmarks/hooks/sitecustomize.py),
so editing the hook changes no stage's code and reruns nothing.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator

log = logging.getLogger(__name__)


def add(name: str, seconds: float) -> None:
    """Count `seconds` towards phase `name`."""
    log.debug("%s", name, extra={"phase": name, "seconds": seconds})


@contextlib.contextmanager
def phase(name: str) -> Iterator[None]:
    """Time the block as (part of) phase `name`."""
    started = time.perf_counter()
    try:
        yield
    finally:
        add(name, time.perf_counter() - started)


def main_started() -> None:
    """Mark the stage's `main` starting: what came before is start-up and imports."""
    log.debug("main", extra={"phase": "main", "seconds": 0.0})
