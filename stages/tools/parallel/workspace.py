"""`dvc repro` with the stages that do not depend on each other run side by side, here.

The stages run in the workspace itself, as DVC runs them: each is handed to one
of `jobs` DVC worker processes (`stages.tools.parallel.worker`), which reproduces it
with `--single-item` (DVC decides whether it changed, runs it or takes it from
its run-cache, and records it in dvc.lock and the run-cache). A stage is handed
over once all its parents are settled, unless DVC's status already showed it
unchanged and none of its parents ran since: then it is up to date without
asking again. After a stage that ran with more children waiting than there are
workers (validate, after a params edit), one status call sorts them instead,
when nothing else is running.
The stages' own lines come through as they print them (each names its stage).
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field

from stages.tools.children import error_line
from stages.tools.parallel.plan import Home, Plan, ReproLines

PRINTING = threading.Lock()


def say(text: str) -> None:
    with PRINTING:
        print(text, flush=True)


class Worker:
    """A DVC process in the workspace: one stage at a time, its lines relayed here."""

    def __init__(self) -> None:
        results, self._write_end = os.pipe()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "stages.tools.parallel.worker", str(self._write_end)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            pass_fds=(self._write_end,), start_new_session=True)
        os.close(self._write_end)
        self.results = os.fdopen(results)
        self.stage: str | None = None
        self.lines: list[str] = []
        threading.Thread(target=self._relay, daemon=True).start()

    def _relay(self) -> None:
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))
            if line.strip():
                with PRINTING:
                    sys.stdout.write(line)
                    sys.stdout.flush()

    def submit(self, stage: str) -> None:
        self.stage, self.lines = stage, []
        self.process.stdin.write(stage + "\n")
        self.process.stdin.flush()

    def outcome(self) -> dict:
        return json.loads(self.results.readline() or '{"error": "its DVC process died"}')

    def interrupt(self) -> None:
        """Ctrl-C for the stage it runs, as a terminal would send it."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGINT)

    def close(self, wait: bool = True) -> None:
        """No more stages: it ends once its stage is done (and recorded)."""
        with contextlib.suppress(OSError):
            self.process.stdin.close()
        if not wait and self.stage is None:  # idle: it ends on its own, at once
            return
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


@dataclass
class WorkspaceRun:
    """Decides, stage by stage, when each is handed to a worker."""

    plan: Plan
    home: Home
    jobs: int
    ran: list[str] = field(default_factory=list)
    restored: list[str] = field(default_factory=list)
    up_to_date: set[str] = field(default_factory=set)
    failed: dict[str, str] = field(default_factory=dict)
    skipped: set[str] = field(default_factory=set)
    ignores: dict = field(default_factory=dict)  # the .gitignore files' lines before the run

    def __post_init__(self) -> None:
        self.progress = ReproLines(len(self.plan.order))
        self.workers: list[Worker] = []
        self.running: dict[str, Worker] = {}
        self.started: dict[str, float] = {}
        self.step = 0                                  # one per stage that ran
        self.ran_at: dict[str, int] = {}
        self.verdict: dict[str, tuple[bool, int]] = {}  # changed?, as of which step

    def settled(self, stage: str) -> bool:
        return (stage in self.up_to_date or stage in self.ran_at or stage in self.failed
                or stage in self.skipped)

    def run(self) -> None:
        before = self.home.locked_stages()
        self.ignores = self.home.ignore_files(self.plan.ignored)
        self.workers = [Worker() for _ in range(min(self.jobs, len(self.plan.order)))]
        # No verdict yet: the first stages (validate) go to a worker, and once they are
        # done one status call of DVC's sorts the rest (`_refresh`).
        self.verdict = {stage: (True, -1) for stage in self.plan.order}
        try:
            while not all(self.settled(s) for s in self.plan.order):
                self.decide()
                for stage in self.ready()[:self.jobs - len(self.running)]:
                    self.submit(stage)
                if not self.running:
                    break  # what is left waits on a stage that failed
                self.collect()
        except KeyboardInterrupt:
            self.interrupt()
            raise
        finally:
            for worker in self.workers:
                worker.close(wait=self.failed or self.skipped)
            if set(self.ran + self.restored) - set(before):  # new entries, where they finished
                self.home.order_lock(before, self.plan.order)
            self.home.order_ignores(self.ignores, self.plan.ignored)

    def decide(self) -> None:
        """Settle each stage whose parents are settled and that need not run."""
        for stage in self.plan.order:
            if self.settled(stage) or stage in self.running:
                continue
            parents = self.plan.parents[stage]
            if not all(self.settled(p) for p in parents):
                continue
            if parents & (set(self.failed) | self.skipped):
                self.skipped.add(stage)
            elif not self._may_have_changed(stage):
                self.up_to_date.add(stage)
                self.progress.done += 1

    def _may_have_changed(self, stage: str) -> bool:
        changed, as_of = self.verdict[stage]
        return changed or any(self.ran_at.get(p, -1) >= as_of
                              for p in self.plan.parents[stage])

    def ready(self) -> list[str]:
        return [s for s in self.plan.order if not self.settled(s) and s not in self.running
                and all(self.settled(p) for p in self.plan.parents[s])]

    def submit(self, stage: str) -> None:
        self.home.order_ignores(self.ignores, self.plan.ignored)  # before it hashes a folder
        worker = next(w for w in self.workers if w.stage is None)
        worker.submit(stage)
        self.running[stage] = worker
        self.started[stage] = time.perf_counter()
        self.progress.running += 1
        self.progress.line(f"started {stage}")

    def collect(self) -> None:
        """Wait for a stage to end and settle it."""
        by_results = {w.results: w for w in self.running.values()}
        ready, _, _ = select.select(list(by_results), [], [])
        for results in ready:
            worker = by_results[results]
            outcome, stage = worker.outcome(), worker.stage
            worker.stage = None
            del self.running[stage]
            self.progress.running -= 1
            seconds = time.perf_counter() - self.started[stage]
            if "error" in outcome:
                said = "\n".join(line for line in worker.lines if line.startswith("error: "))
                self.fail(stage, error_line(said, outcome["error"]))
                continue
            self.progress.done += 1
            if outcome["ran"]:
                self.step += 1
                self.ran_at[stage] = self.step
                (self.restored if outcome.get("restored") else self.ran).append(stage)
                self.progress.line(f"done {stage} in {seconds:.1f}s"
                                   + (" (from the run-cache)" if outcome.get("restored") else ""))
            else:
                self.up_to_date.add(stage)
            self._refresh(stage)

    def _refresh(self, stage: str) -> None:
        """After `stage` ended: if more of its children wait for a verdict than there are
        workers, one status call of DVC's gives every waiting stage one (cheaper than a
        worker asking for each). Only with no stage running: DVC's status takes the
        read/write locks of the stages it looks at, which a running stage may hold."""
        waiting = [c for c in self.plan.children(stage) if not self.settled(c)
                   and c not in self.running and self._may_have_changed(c)]
        if len(waiting) > self.jobs and not self.running:
            undecided = [s for s in self.plan.order if not self.settled(s)]
            changed = self.home.stale(undecided)
            for name in undecided:
                self.verdict[name] = (name in changed, self.step + 1)

    def fail(self, stage: str, reason: str) -> None:
        self.failed[stage] = reason
        self.progress.line(f"FAILED {stage}: {reason}")
        self.skipped |= self.plan.descendants(stage) - set(self.ran_at) - self.up_to_date

    def interrupt(self) -> None:
        """Ctrl-C: the running stages are interrupted; what finished is kept, as a plain
        `dvc repro` interrupted here keeps it."""
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # once is enough
        for worker in self.running.values():
            worker.interrupt()
        while self.running:
            self.collect()
        for stage in self.plan.order:
            if not self.settled(stage):
                self.skipped.add(stage)

    def stop(self) -> None:
        """Done by `run` itself when Ctrl-C reaches it."""
