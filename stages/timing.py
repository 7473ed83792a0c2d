"""Where a stage's time goes, for `benchmarks/end_to_end.py`.

Off (every call a no-op) unless the environment variable MNIST_ZOO_TIMINGS
names a file. Then each stage process appends one JSON line to it when it
exits: the stage (DVC's DVC_STAGE), the seconds from process start to the
stage's `main` (interpreter start and imports), the seconds of each named
phase, and the whole process's seconds.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import time
from collections.abc import Iterator

TIMINGS = os.environ.get("MNIST_ZOO_TIMINGS")
_phases: dict[str, float] = {}


def _since_process_start() -> float:
    """Seconds since the kernel started this process (Linux)."""
    with open("/proc/self/stat") as stat:
        ticks = int(stat.read().rsplit(")", 1)[1].split()[19])
    return time.clock_gettime(time.CLOCK_BOOTTIME) - ticks / os.sysconf("SC_CLK_TCK")


def add(name: str, seconds: float) -> None:
    """Count `seconds` towards phase `name`."""
    if TIMINGS:
        _phases[name] = _phases.get(name, 0.0) + seconds


@contextlib.contextmanager
def phase(name: str) -> Iterator[None]:
    """Time the block as (part of) phase `name`."""
    started = time.perf_counter()
    try:
        yield
    finally:
        add(name, time.perf_counter() - started)


def _write() -> None:
    record = {"stage": os.environ.get("DVC_STAGE", "?"), **_phases,
              "process": _since_process_start()}
    with open(TIMINGS, "a") as out:
        out.write(json.dumps(record) + "\n")


def start() -> None:
    """Mark the stage's `main` starting: what came before is start-up and imports."""
    if TIMINGS and "start-up" not in _phases:
        _phases["start-up"] = _since_process_start()
        atexit.register(_write)
