"""Kill anywhere, lose nothing: the whole pipeline killed at random moments.

For each kill: a fresh copy of one project (nothing run yet), `dvc repro` or
`python -m stages.repro` (in turn) started and killed (SIGKILL to its process group,
warm start on) at a moment drawn uniformly across an uninterrupted run's length; then
`dvc repro`, with no manual step, must finish; `dvc status` is clean, every output
equals the uninterrupted run's (times aside), and no temporary file, lock or process
of the project is left. The moments, what was running and the outcomes are printed.
`MNIST_ZOO_KILLS` (default 3) and `MNIST_ZOO_KILL_SEED` (default 0) choose them:

    MNIST_ZOO_KILLS=20 .venv/bin/pytest -s tests/pipeline/test_kills.py
"""

from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness import BIN, ENV, ROOT, Project, processes_in, written

pytestmark = pytest.mark.slow
COUNT = int(os.environ.get("MNIST_ZOO_KILLS", "3"))
SEED = int(os.environ.get("MNIST_ZOO_KILL_SEED", "0"))
COMMANDS = {"dvc repro": [BIN / "dvc", "repro"],
            "stages.repro": [sys.executable, "-m", "stages.repro"]}


def running_at_kill(output: str) -> str:
    """The stages under way when the output stopped (`dvc repro` runs one at a time;
    `stages.repro` says when each starts and ends)."""
    if under_way := re.findall(r"Running stage '([^']+)'", output)[-1:]:
        return under_way[0]
    started = re.findall(r"^repro: started (\S+)", output, re.M)
    ended = set(re.findall(r"^repro: (?:done|FAILED|restored) (\S+?):? ", output, re.M))
    return ", ".join(name for name in started if name not in ended) or "between stages"


def leftovers(project: Path) -> list[str]:
    """Temporaries, and the project's processes."""
    found = [str(p.relative_to(project)) for p in project.rglob("*.tmp")
             if ".git" not in p.parts and "cache" not in p.parts]
    return found + [f"process {pid}: {command}" for pid, command in processes_in(project).items()]


def processes_ending(project: Path, at_kill: dict[str, str], seconds: float = 10) -> list[str]:
    """The project's processes, and those it had when killed, that outlive the kill by
    `seconds` (a worker told by the kernel that its runner died, the warm start's server
    ending a dead command's stage: each takes a moment). A dead process counts until
    it is reaped: DVC takes a zombie's PID in its lock file for a live holder, and this
    machine's PID 1 reaps orphans a second or more after they die, where an init reaps
    at once."""
    deadline = time.monotonic() + seconds
    while True:
        left = {**{pid: command for pid, command in at_kill.items()
                   if Path(f"/proc/{pid}").exists()}, **processes_in(project)}
        if not left or time.monotonic() > deadline:
            return [f"process {pid}: {command}" for pid, command in left.items()]
        time.sleep(0.1)


def test_the_pipeline_killed_anywhere_finishes_with_the_uninterrupted_bytes(reproduced_data,
                                                                           tmp_path):
    template = Project.create(tmp_path / "template", reproduced_data["url"],
                              reproduced_data["sha256"])
    reference = template.copy(tmp_path / "reference")
    started = time.perf_counter()
    reference.repro()
    length = time.perf_counter() - started
    expected = written(reference.path)
    draw = random.Random(SEED)
    rows = []
    for kill in range(COUNT):
        project = template.copy(tmp_path / f"kill-{kill}")
        name = list(COMMANDS)[kill % len(COMMANDS)]
        moment = draw.uniform(0.02, 0.98) * length
        process = subprocess.Popen([str(c) for c in COMMANDS[name]], cwd=project.path,
                                   env={**ENV, "PYTHONPATH": str(ROOT)}, text=True,
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   start_new_session=True)
        time.sleep(moment)
        at_kill = processes_in(project.path)
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        output = process.communicate()[0]
        what = (running_at_kill(output) if process.returncode == -signal.SIGKILL
                else "(it had finished)")
        problems = [f"still running 10 s after the kill: {left}" for left in
                    processes_ending(project.path, at_kill)]
        finished = project.repro(check=False)
        if finished.returncode:
            problems.append(f"dvc repro failed: {finished.stderr.strip()[-300:]}")
        elif project.stale_stages():
            problems.append(f"dvc status: {sorted(project.stale_stages())}")
        elif written(project.path) != expected:
            mine = written(project.path)
            problems.append("differs: " + ", ".join(sorted(
                k for k in {*mine, *expected} if mine.get(k) != expected.get(k)))[:300])
        problems += leftovers(project.path)
        rows.append((kill + 1, name, moment, what, "; ".join(problems) or "clean"))
    print(f"\n[kills] seed {SEED}, uninterrupted run {length:.1f}s")
    print("| # | command | killed at s | running | after `dvc repro` |\n|---|---|---:|---|---|")
    for row in rows:
        print("| {} | `{}` | {:.1f} | {} | {} |".format(*row))
    assert [row for row in rows if row[-1] != "clean"] == []
