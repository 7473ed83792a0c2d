"""`dvc repro` over a Ray cluster: the stages that do not depend on each other on its nodes.

DVC judges every step. It says which stages `dvc repro TARGETS` would run and
in which order (`stages.tools.parallel.plan`), which of them are stale (`status`),
and, inside each scratch copy of the workspace on a node
(`stages.tools.parallel.scratch`), whether a stage changed and how to run it. A stage
that nothing could run beside runs here, in the workspace, as `dvc repro
--single-item` runs it; the others run in scratch copies on the nodes, taking
their inputs from the DVC remote and pushing their results to it, a stage and
the children only it was holding up (train@m, then evaluate@m and export@m) in
one copy. The workspace takes every finished stage from DVC's run-cache
("Stage ... is cached - skipping run"), in DVC's own order, so dvc.lock and
every output end as a plain `dvc repro` leaves them.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import yaml

from stages.common.cli import UserError
from stages.tools import ray_cluster
from stages.tools.children import cause
from stages.tools.parallel import scratch
from stages.tools.parallel.plan import Home, Plan, ReproLines


def workspace_files() -> list[str]:
    """What git sees of the workspace, committed or not (code, params, handed values),
    without dvc.lock, which each scratch copy gets as it stands."""
    listed = subprocess.run(["git", "ls-files", "-z", "-co", "--exclude-standard"],
                            capture_output=True, check=False)
    if listed.returncode:
        raise UserError("stages.repro needs a git workspace (it copies what git sees)")
    return [name for name in listed.stdout.decode().split("\0") if name and name != "dvc.lock"]


class ClusterRun:
    """Decides, stage by stage, where each runs; keeps the workspace caught up."""

    def __init__(self, plan: Plan, home: Home, jobs: int, runner, remote: bool) -> None:
        self.plan, self.home, self.jobs, self.runner, self.remote = (plan, home, jobs, runner,
                                                                     remote)
        self.done: set[str] = set()                   # up to date in the workspace
        self.finished: dict[str, scratch.Result] = {}  # in a scratch copy, not yet taken
        self.failed: dict[str, str] = {}
        self.skipped: set[str] = set()
        self.running: dict[tuple[str, ...], object] = {}
        self.ran: list[str] = []
        self.restored: list[str] = []  # every result comes here from the run-cache: ran
        self.pushed: set[str] = set()
        self.progress = ReproLines(len(plan.order))

    @property
    def up_to_date(self) -> set[str]:
        return self.done - set(self.ran)

    def _settled(self, stage: str) -> bool:
        return stage in self.done or stage in self.failed or stage in self.skipped

    def _busy(self) -> set[str]:
        return {stage for chain in self.running for stage in chain} | set(self.finished)

    def _mark_done(self, stage: str) -> None:
        self.done.add(stage)
        self.progress.done += 1

    def _decide_here(self, everything: bool = False) -> None:
        """Each undecided stage whose inputs are all up to date here: DVC's status says
        whether it is too. (At the start, one status of all: a stage DVC finds unchanged
        with no changed stage upstream is up to date.)"""
        candidates = [s for s in self.plan.order if not self._settled(s) and s not in
                      self._busy() and (everything or self.plan.parents[s] <= self.done)]
        changed = self.home.stale(candidates)
        for stage in candidates:
            if stage not in changed and self.plan.parents[stage] <= self.done:
                self._mark_done(stage)

    def _fail(self, stage: str, reason: str) -> None:
        self.failed[stage] = reason
        self.progress.line(f"FAILED {stage}: {reason}")
        self.skipped |= self.plan.descendants(stage) - self.done - set(self.finished)

    # The workspace ----------------------------------------------------------------------

    def catch_up(self) -> None:
        """Take the finished stages into the workspace from the run-cache, in DVC's order."""
        batch = []
        for stage in self.plan.order:
            if stage in self.finished:
                batch.append(stage)
            elif not self._settled(stage):
                break
        if not batch:
            return
        try:
            self.home.reproduce(batch, pull=self.remote)
        except Exception as error:  # DVC's own errors are many types
            for stage in batch:
                self.finished.pop(stage)
                self._fail(stage, f"taking it from the run-cache: {cause(error)}")
            return
        for stage in batch:
            self.finished.pop(stage)
            self.done.add(stage)
        self._decide_here()

    def run_here(self, stage: str) -> None:
        """Run a stage in the workspace, as `dvc repro --single-item` would (its own lines
        come through as it prints them)."""
        started = time.perf_counter()
        self.progress.running += 1
        self.progress.line(f"started {stage} here")
        try:
            self.home.reproduce([stage])
        except Exception as error:  # DVC's own errors are many types
            self.progress.running -= 1
            self._fail(stage, cause(error))
        else:
            self.progress.running -= 1
            self._mark_done(stage)
            self.ran.append(stage)
            self.progress.line(f"done {stage} in {time.perf_counter() - started:.1f}s")
        self._decide_here()

    # Scratch copies ---------------------------------------------------------------------

    def _chain(self, stage: str) -> list[str]:
        """The stage, then, in DVC's order, every stage that only it (or what follows it
        here) was holding up: train@m, then evaluate@m and export@m."""
        chain = [stage]
        while True:
            free = [s for s in self.plan.order if s not in chain and not self._settled(s)
                    and s not in self._busy() and s not in self.plan.home_only
                    and self.plan.parents[s] & set(chain)
                    and self.plan.parents[s] <= self.done | set(chain)]
            if not free:
                return chain
            chain.append(free[0])

    def _job(self, chain: list[str]) -> scratch.Job:
        lock_path = Path("dvc.lock")
        lock = (yaml.safe_load(lock_path.read_text()) if lock_path.is_file() else None) or {
            "schema": "2.0", "stages": {}}
        for name, result in self.finished.items():
            if result.entry:
                lock["stages"][name] = result.entry
        inputs = sorted({p for s in chain for p in self.plan.parents[s]} - set(chain)
                        - self.plan.home_only)
        if self.remote:  # the node pulls them: what was made here goes to the remote first
            here = [p for p in inputs if p in self.done and p not in self.pushed]
            if here:
                self.home.push(here)
                self.pushed |= set(here)
        return scratch.Job(chain, inputs, scratch.snapshot(workspace_files(), Path(".")), lock)

    def start(self, stage: str) -> None:
        chain = tuple(self._chain(stage))
        self.running[chain] = self.runner.submit(self._job(list(chain)))
        for name in chain:
            self.progress.started[name] = time.perf_counter()
        self.progress.running += len(chain)
        self.progress.line(f"started {' then '.join(chain)}")

    def collect(self, timeout: float) -> None:
        for chain, results in self.runner.wait(self.running, timeout):
            del self.running[chain]
            self.progress.running -= len(chain)
            for result in results:
                if result.stage in self.skipped:  # after a failure earlier in its chain
                    continue
                if not result.ok:
                    self._fail(result.stage, result.summary)
                    continue
                self.finished[result.stage] = result
                self.progress.done += 1
                if result.ran:
                    self.ran.append(result.stage)
                where = f" on {result.node}" if self.remote else ""
                self.progress.line(f"done {result.stage}{where} in {result.seconds:.1f}s: "
                                   f"{result.summary}")

    # The loop ---------------------------------------------------------------------------

    def ready(self) -> list[str]:
        return [s for s in self.plan.order if not self._settled(s) and s not in self._busy()
                and self.plan.parents[s] <= self.done | set(self.finished)]

    def _here_next(self, ready: list[str]) -> str | None:
        """A stage to run in the workspace: one DVC cannot take from its run-cache, or the
        only one there is to run; once everything before it in DVC's order is settled."""
        here = [s for s in ready if s in self.plan.home_only] or (
            ready if len(ready) == 1 and not self.running else [])
        if not here or self.running:
            return None
        stage = here[0]
        before = self.plan.order[:self.plan.order.index(stage)]
        return stage if all(self._settled(s) for s in before) else None

    def run(self) -> None:
        self._decide_here(everything=True)
        while not all(self._settled(s) for s in self.plan.order):
            self.catch_up()
            ready = self.ready()
            if stage := self._here_next(ready):
                self.run_here(stage)
                continue
            free = [s for s in ready if s not in self.plan.home_only]
            for stage in free[:max(0, self.jobs - len(self.running))]:
                if stage not in self._busy():
                    self.start(stage)
            if self.running:
                self.collect(timeout=1.0)
            elif not ready and not self.finished:
                break  # what is left waits on a stage that failed

    def stop(self) -> None:
        """Ctrl-C: stop the running stages; take into the workspace what had finished,
        as a plain `dvc repro` interrupted at this point would have kept it."""
        self.runner.cancel()
        for chain in self.running:
            for stage in chain:
                self.skipped |= {stage} | self.plan.descendants(stage)
        self.running.clear()
        for stage in self.plan.order:  # nothing more will run: none is waited for
            if not self._settled(stage) and stage not in self.finished:
                self.skipped.add(stage)
        self.catch_up()


class RayRunner:
    """Scratch copies on the nodes of a Ray cluster, one CPU each, exchanging inputs and
    results through the DVC remote; Ray runs a lost node's stages again elsewhere."""

    def __init__(self, address: str) -> None:
        self.ray = ray = ray_cluster.connect(address, scratch)
        self.task = ray.remote(num_cpus=1, max_retries=3)(scratch.run)
        self.refs: list = []

    def submit(self, job: scratch.Job):
        ref = self.task.options(name=job.stages[0]).remote(job)
        self.refs.append(ref)
        return ref

    def wait(self, running: dict, timeout: float) -> list[tuple[tuple, list[scratch.Result]]]:
        done, _ = self.ray.wait(list(running.values()), num_returns=1, timeout=timeout)
        found = []
        for chain, ref in running.items():
            if ref in done:
                try:
                    found.append((chain, self.ray.get(ref)))
                except self.ray.exceptions.RayError as error:
                    reason = ray_cluster.task_error(error)
                    found.append((chain, [scratch.Result(s, False, 0.0, "?", reason)
                                          for s in chain]))
        return found

    def cancel(self) -> None:
        for ref in self.refs:
            self.ray.cancel(ref, force=True)
