"""What `dvc repro TARGETS` would consider, asked of DVC itself, and the progress lines.

DVC judges every step: its own `plan_repro` gives the stages and their order,
its graph each stage's parents, its `status` which stages changed. Both ways of
running them side by side (`stages.tools.parallel.workspace` on this machine,
`stages.tools.parallel.on_ray` on a Ray cluster) start from this plan.
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
    ignored: list[str] = field(default_factory=list)  # git-ignored outputs, in DVC's order

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

    @staticmethod
    def repair_rwlock() -> bool:
        """DVC rewrites `.dvc/tmp/rwlock` in place, so a DVC command killed mid-write
        leaves it empty and every later command fails on it (treeverse/dvc#7615; found by
        tests/pipeline/test_kills.py). Under DVC's own guard of that file, an unreadable
        one is reset to no locks: what it held was lost with the killed writer."""
        import json

        from dvc.lock import make_lock

        path = Path(".dvc/tmp/rwlock")
        if not path.is_file():
            return False
        with make_lock(f"{path}.lock", tmp_dir=str(path.parent), wait=True):
            try:
                json.loads(path.read_text())
                return False
            except ValueError:
                path.write_text("{}")  # DVC reads an empty object as no locks
        return True

    def plan(self, targets: list[str]) -> Plan:
        """The stages `dvc repro TARGETS` covers, in DVC's order."""
        from dvc.exceptions import DvcException
        from dvc.repo.reproduce import collect_stages, get_active_graph, plan_repro

        if self.repair_rwlock():
            print("repro: .dvc/tmp/rwlock was left unreadable by a killed DVC command "
                  "(treeverse/dvc#7615); reset it", flush=True)
        try:
            with self.repo() as repo:
                graph = get_active_graph(repo.index.graph)
                steps = plan_repro(graph, collect_stages(repo, targets or ["dvc.yaml"]))
                names = [stage.addressing for stage in steps]
                parents = {stage.addressing: {dep.addressing for dep in graph.successors(stage)
                                              if dep.addressing in names} for stage in steps}
                persist = {stage.addressing for stage in steps
                           if not stage.outs or any(out.persist for out in stage.outs)}
                ignored = [out.fs_path for stage in steps for out in stage.outs
                           if out.use_scm_ignore]
        except DvcException as error:
            raise UserError(f"dvc: {error}") from None
        return Plan(names, parents, persist, ignored)

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
        text = lock.read_text() if lock.is_file() else ""
        return list((yaml.load(text, Loader=yaml.CSafeLoader) or {}).get("stages") or {})

    @staticmethod
    def ignore_files(ignored: list[str]) -> dict[Path, list[str]]:
        """The lines of the .gitignore files beside `ignored` outputs, as they stand now."""
        files = {Path(path).parent / ".gitignore" for path in ignored}
        return {file: file.read_text().splitlines() if file.is_file() else [] for file in files}

    def order_ignores(self, before: dict[Path, list[str]], ignored: list[str]) -> None:
        """The entries DVC added to .gitignore files, in the order a plain `dvc repro`
        adds them (side by side, each is added when its stage finishes): they are
        git-tracked, and inside folders a stage depends on (`report`'s metrics/), so the
        same bytes in both modes. Called before each stage starts, under DVC's lock."""
        if not self._misordered(before, ignored):
            return
        with self.repo() as repo, repo.lock:
            for file, wanted in self._misordered(before, ignored).items():
                file.write_text("".join(f"{line}\n" for line in wanted))

    def _misordered(self, before: dict[Path, list[str]], ignored: list[str]) -> dict:
        """Each .gitignore whose new entries are out of DVC's order, and its lines in it."""
        rank = {(Path(path).parent / ".gitignore", f"/{Path(path).name}"): index
                for index, path in enumerate(ignored)}
        found = {}
        for file, now in self.ignore_files(ignored).items():
            old = set(before.get(file, []))
            new = sorted((line for line in now if line not in old),
                         key=lambda line: rank.get((file, line), len(rank)))
            wanted = [line for line in now if line in old] + new
            if wanted != now:
                found[file] = wanted
        return found

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
class ReproLines:
    """The lines a person reads: each stage started and finished, and the counts."""

    total: int
    running: int = 0
    done: int = 0
    started: dict[str, float] = field(default_factory=dict)

    def line(self, text: str) -> None:
        print(f"repro: {text}  [{self.total - self.running - self.done} waiting, "
              f"{self.running} running, {self.done} done]", flush=True)
