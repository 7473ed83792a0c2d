"""A grid sweep: every combination of the `-S` lists, each a DVC experiment on a Ray node.

`-S` is DVC's own sweep grammar (comma lists, `range()`, `choice()`), expanded
the way `dvc exp run` expands it; every combination is checked against the
params schema before anything is scheduled. Each combination is one Ray task
(`stages.tools.sweeps.trial`) that runs one `dvc exp run` on whichever node Ray picks
and pushes it to the git remote and the DVC remote; Ray retries a task whose
node was lost, never one that failed on its own. When the sweep ends,
`dvc exp pull` brings every trial here and a summary table and plot are
written to reports/sweeps/.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

from stages.common import paths
from stages.common.cli import UserError, did_you_mean
from stages.common.files import atomic_output
from stages.config import params_file
from stages.tools import tool_pictures as pictures
from stages.tools.sweeps import cluster, trial


def expand(overrides: list[str]) -> list[list[str]]:
    """The combinations of `-S` overrides, exactly as `dvc exp run` expands them."""
    from dvc.exceptions import InvalidArgumentError
    from dvc.utils.cli_parse import to_path_overrides
    from dvc.utils.hydra import get_hydra_sweeps
    from hydra.errors import HydraException

    try:
        sweeps = get_hydra_sweeps(to_path_overrides(overrides))
    except (InvalidArgumentError, HydraException, ValueError) as error:
        raise UserError(f"-S {' '.join(overrides)}: {error}") from None
    if any(set(combo) != {"params.yaml"} for combo in sweeps):
        raise UserError("sweeps set keys of params.yaml only (no `file.yaml:` prefix)")
    return [combo["params.yaml"] for combo in sweeps]


def check(combinations: list[list[str]]) -> None:
    """Refuse the sweep if any combination makes a params.yaml the schema refuses."""
    from dvc.exceptions import DvcException
    from dvc.utils.hydra import apply_overrides
    from hydra.errors import HydraException

    with tempfile.TemporaryDirectory() as scratch:
        for overrides in combinations:
            copy = Path(scratch) / "params.yaml"
            shutil.copy(paths.PARAMS, copy)
            where = f"-S {' '.join(overrides)}"
            try:
                apply_overrides(copy, overrides)
            except (DvcException, HydraException) as error:
                reason = error.__cause__ or error  # DVC wraps hydra's precise message
                raise UserError(f"{where}: {_unknown_key(overrides) or str(reason).splitlines()[0]}"
                                ) from None
            try:
                params_file.load(copy)
            except UserError as error:
                raise UserError(f"{where}: {error}") from None


def _unknown_key(overrides: list[str]) -> str | None:
    """'unknown key a.b (did you mean ...)' for the first override naming a key that
    params.yaml does not have, as the validator says it."""
    import yaml

    raw = yaml.safe_load(paths.PARAMS.read_text())
    for override in overrides:
        node, path = raw, []
        for key in override.split("=", 1)[0].lstrip("+~").split("."):
            path.append(key)
            if not isinstance(node, dict) or key not in node:
                options = node if isinstance(node, dict) else {}
                return f"unknown key {'.'.join(path)}{did_you_mean(key, options)}"
            node = node[key]
    return None


class GridBoard:
    """The progress lines: each trial as it starts and ends, and the counts."""

    def __init__(self, total: int) -> None:
        self.total, self.shown, self.last = total, set(), ""

    def update(self, running: dict, results: dict, failures: dict) -> None:
        for name in sorted(set(running) - self.shown):
            print(f"sweep: started {name} on {running[name]}", flush=True)
        self.shown |= set(running)
        busy = len(set(running) - set(results) - set(failures))
        line = (f"sweep: {self.total - len(results) - len(failures) - busy} queued, {busy} "
                f"running, {len(results)} done, {len(failures)} failed")
        if line != self.last:
            print(line, flush=True)
            self.last = line


def schedule(ray, trials: list[dict]) -> tuple[dict, dict]:
    """Run the trials as Ray tasks (retried on a lost node, never on their own
    failure); print progress; return (results, failures) by trial name."""
    progress = progress_actor(ray)
    task = ray.remote(num_cpus=1, max_retries=3)(trial.run_trial)
    names = {task.options(name=t["name"]).remote(t, progress): t["name"] for t in trials}
    pending, results, failures, board = list(names), {}, {}, GridBoard(len(trials))
    running: dict[str, str] = {}
    try:
        while pending:
            done, pending = ray.wait(pending, num_returns=1, timeout=2)
            for ref in done:
                try:
                    results[names[ref]] = outcome = ray.get(ref)
                    resumed = (f" (resumed at epoch {outcome['resumed_at']})"
                               if outcome["resumed_at"] else "")
                    print(f"sweep: done {names[ref]} on {outcome['node']} in "
                          f"{outcome['seconds']}s{resumed}: {_figures(outcome)}", flush=True)
                except ray.exceptions.RayTaskError as error:
                    failures[names[ref]] = cluster.reason(error)
                    print(f"sweep: FAILED {names[ref]}: {failures[names[ref]]}", flush=True)
            board.update(started(ray, progress, running), results, failures)
    except KeyboardInterrupt:
        for ref in pending:
            ray.cancel(ref, force=True)
        print(f"interrupted: cancelled {len(pending)} unfinished trial(s); {len(results)} "
              "finished trial(s) are on the git remote (`dvc exp pull`)", file=sys.stderr)
        raise
    return results, failures


def progress_actor(ray):
    """The actor trials tell when they start, taking no CPU, pinned to the driver's
    node (the head under Ray Client), which the sweep cannot outlive anyway: left
    to Ray, it may land on a worker node, and a lost worker would take it along.
    (A soft affinity was measured to place it elsewhere 3 times in 4.)"""
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    here = NodeAffinitySchedulingStrategy(ray.get_runtime_context().get_node_id(), soft=False)
    return ray.remote(trial.StartedTrials).options(num_cpus=0, scheduling_strategy=here).remote()


def started(ray, progress, running: dict[str, str]) -> dict[str, str]:
    """Every trial start seen so far. The progress actor is only for the board: if it
    is lost, the board misses some start lines and the trials go on unaffected."""
    with contextlib.suppress(ray.exceptions.RayActorError, ray.exceptions.GetTimeoutError):
        running.update(ray.get(progress.snapshot.remote(), timeout=10))
    return running


def _figures(result: dict) -> str:
    return ", ".join(f"{model} {m['test_accuracy']:.4f}" for model, m in result["metrics"].items()
                     if model in result["models"])


def summary(sweep_id: str, trials: list[dict], results: dict) -> str:
    """The table of trials (swept values, test accuracy of the swept models), and its plot."""
    keys = [override.split("=", 1)[0] for override in trials[0]["overrides"]]
    models = trials[0]["models"]
    head = ["trial", *keys, *(f"{m} test accuracy" for m in models), "node", "seconds"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    rows = []
    for t in trials:
        result = results.get(t["name"])
        values = [o.split("=", 1)[1] for o in t["overrides"]]
        scores = [f"{result['metrics'][m]['test_accuracy']:.4f}" if result else "failed"
                  for m in models]
        lines.append("| " + " | ".join([t["name"], *values, *scores,
                                         result["node"] if result else "",
                                         str(result["seconds"]) if result else ""]) + " |")
        if result:
            rows.append({"values": values, "accuracy": {m: result["metrics"][m]["test_accuracy"]
                                                        for m in models}})
    table = "\n".join(lines) + "\n"
    cluster.SWEEPS.mkdir(parents=True, exist_ok=True)
    with atomic_output(cluster.SWEEPS / f"{sweep_id}.md") as tmp:
        tmp.write_text(f"## Sweep {sweep_id}\n\n{table}")
    if rows:
        pictures.sweep(cluster.SWEEPS / f"{sweep_id}.png", keys, rows, f"sweep {sweep_id}")
    return table


def swept_models(overrides: list[str], config: params_file.Params) -> list[str]:
    """Models whose block a sweep changes; every model when it changes shared keys."""
    touched = {o.split("=", 1)[0].split(".")[1] for o in overrides if o.startswith("models.")}
    if len(touched) < len(overrides) or not touched:
        return list(config.models)
    return [m for m in config.models if m in touched]


def run(args) -> None:
    """Every combination of the -S lists, one Ray task each; exit 1 naming any that failed."""
    combinations = expand(args.overrides)
    check(combinations)
    models = swept_models(combinations[0], params_file.load())
    url, commit = cluster.publish_commit(args.remote)
    sweep_id = hashlib.sha256(json.dumps([commit, combinations]).encode()).hexdigest()[:8]
    trials = [{"name": f"sweep-{sweep_id}-{i + 1:02d}", "overrides": overrides, "repo": url,
               "commit": commit, "models": models} for i, overrides in enumerate(combinations)]
    ray = cluster.connect(args.address)
    started = time.perf_counter()
    print(f"sweep {sweep_id}: {len(trials)} trials of {commit[:8]} on "
          f"{len(ray.nodes())} node(s)", flush=True)
    cluster.prepare_data(ray, trials[0])
    results, failures = schedule(ray, trials)
    if results:
        cluster.dvc("exp", "pull", "--force", args.remote, *sorted(results))
    print(summary(sweep_id, trials, results))
    print(f"sweep {sweep_id}: {len(results)} done, {len(failures)} failed in "
          f"{time.perf_counter() - started:.0f}s; written to {cluster.SWEEPS / sweep_id}.md")
    if failures:
        raise UserError(f"{len(failures)} trial(s) failed: " + "; ".join(
            f"{name}: {reason}" for name, reason in sorted(failures.items())))
