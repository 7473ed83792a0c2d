"""What `dvc repro TARGETS` would consider, asked of DVC itself, and the progress lines.

DVC judges every step: its own `plan_repro` gives the stages and their order,
its graph each stage's parents, its `status` which stages changed. Both ways of
running them side by side (`stages.parallel.workspace` on this machine,
`stages.parallel.on_ray` on a Ray cluster) start from this plan.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from stages.common.cli import UserError


@dataclass
class Plan:
    """The stages `dvc repro TARGETS` would consider, in DVC's order, and their inputs."""

    order: list[str]
    parents: dict[str, set[str]]
    home_only: set[str]    # outputs DVC keeps in place (persist): never from the run-cache

    def children(self, stage: str) -> list[str]:
        return [s for s in self.order if stage in self.parents[s]]

    def descendants(self, stage: str) -> set[str]:
        found, frontier = set(), {stage}
        while frontier:
            frontier = {s for s in self.order if self.parents[s] & frontier} - found
            found |= frontier
        return found


class Home:
    """The workspace, through DVC's Python API: one process, no command start-up each time.
    DVC's own chatter ("Updating lock file", how to `git add`) is left out: the progress
    lines say what happened; its warnings and errors still come through."""

    @staticmethod
    def repo():
        from dvc.repo import Repo

        logging.getLogger("dvc").setLevel(logging.WARNING)
        return Repo(_wait_for_lock=True)  # stages running beside us hold it for moments

    def plan(self, targets: list[str]) -> Plan:
        """The stages `dvc repro TARGETS` covers, in DVC's order."""
        from dvc.exceptions import DvcException
        from dvc.repo.reproduce import collect_stages, get_active_graph, plan_repro

        try:
            with self.repo() as repo:
                graph = get_active_graph(repo.index.graph)
                steps = plan_repro(graph, collect_stages(repo, targets or ["dvc.yaml"]))
                names = [stage.addressing for stage in steps]
                parents = {stage.addressing: {dep.addressing for dep in graph.successors(stage)
                                              if dep.addressing in names} for stage in steps}
                persist = {stage.addressing for stage in steps
                           if not stage.outs or any(out.persist for out in stage.outs)}
        except DvcException as error:
            raise UserError(f"dvc: {error}") from None
        return Plan(names, parents, persist)

    def stale(self, stages: list[str]) -> set[str]:
        """Those of `stages` DVC's `status` says changed, as the workspace stands now. (One
        status of every stage: DVC reads dvc.lock again for each target it is given.)"""
        if not stages:
            return set()
        with self.repo() as repo:
            return {name.split(":")[-1] for name in repo.status()} & set(stages)

    def reproduce(self, stages: list[str], pull: bool = False) -> None:
        """`dvc repro --single-item STAGES`: here, each is taken from the run-cache."""
        with self.repo() as repo:
            repo.reproduce(stages, single_item=True, pull=pull)

    def push(self, stages: list[str]) -> None:
        with self.repo() as repo:
            repo.push(targets=stages)

    @staticmethod
    def locked_stages() -> list[str]:
        """The stages dvc.lock holds, in its order."""
        import yaml

        lock = Path("dvc.lock")
        return list(((yaml.safe_load(lock.read_text()) or {}).get("stages") or {})
                    if lock.is_file() else [])

    def order_lock(self, before: list[str], order: list[str]) -> None:
        """dvc.lock's stages in the order a plain `dvc repro` gives them: those it held
        before where they were, the new ones after them in DVC's order (side by side,
        they are written in the order they finish)."""
        from dvc.utils.serialize import modify_yaml

        new = [name for name in order if name not in before]
        with self.repo() as repo, repo.lock, modify_yaml("dvc.lock") as data:
            stages = data.get("stages") or {}
            wanted = [name for name in [*before, *new] if name in stages]
            wanted += [name for name in stages if name not in wanted]
            if list(stages) != wanted:
                data["stages"] = {name: stages[name] for name in wanted}


@dataclass
class Progress:
    """The lines a person reads: each stage started and finished, and the counts."""

    total: int
    running: int = 0
    done: int = 0
    started: dict[str, float] = field(default_factory=dict)

    def line(self, text: str) -> None:
        print(f"repro: {text}  [{self.total - self.running - self.done} waiting, "
              f"{self.running} running, {self.done} done]", flush=True)
