"""Sweeps that fan out over a Ray cluster, each trial a DVC experiment that comes home.

    python -m stages.sweep -S 'models.quickstart.optimizer.Adam.learning_rate=0.0003,0.001' \\
                           -S 'models.quickstart.batch_size=32,128' \\
                           [--address auto | ray://head:10001] [--remote origin]
    python -m stages.sweep --search tpe --trials 40 --metric val_accuracy \\
        -S 'models.quickstart.optimizer.Adam.learning_rate=tag(log, interval(1e-4, 1e-2))' \\
        -S 'models.quickstart.layers[1].Dense.units=choice(64, 128, 256)' \\
        [--early-stop asha] [--resume] [--address ...] [--remote origin]

A grid (no --search) is described below; a search (TPE or random, with ASHA
early stopping) is `stages.team.tuning`.

`-S` is DVC's own sweep grammar (comma lists, `range()`, `choice()`), expanded
the way `dvc exp run` expands it; every combination is checked against the
params schema before anything is scheduled. Each combination is one Ray task
(stages/trial.py) that runs one `dvc exp run` on whichever node Ray picks and
pushes it to the git remote and the DVC remote. When the sweep ends,
`dvc exp pull` brings every trial here (`dvc exp show` lists them, `dvc exp
apply` plus `dvc pull` gives a trial's model without training) and a summary
is printed and written to reports/sweeps/. With no --address, a local Ray
instance with one worker per core runs the trials.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from stages.common import paths
from stages.common.cli import UserError, did_you_mean, run
from stages.config import schema
from stages.data.files import atomic_output
from stages.reporting import pictures
from stages.team import search as tune_search
from stages.team import trial, tuning

SWEEPS = Path("reports/sweeps")


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
                schema.load(copy)
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


def _git(*args: str) -> str:
    result = subprocess.run(["git", *args], capture_output=True, text=True, check=False)
    if result.returncode:
        raise UserError(f"git {' '.join(args)}: {_last_line(result.stderr)}")
    return result.stdout.strip()


def _last_line(stderr: str) -> str:
    """A failed command's own message: the last line it printed."""
    lines = stderr.strip().splitlines()
    return lines[-1] if lines else "failed without a message"


def publish_commit(remote: str) -> tuple[str, str]:
    """The git remote's URL and the commit every trial starts from: this HEAD,
    which must hold every change (trials clone it) and is pushed to the remote as
    refs/sweeps/<commit> so every node can fetch it."""
    if _git("status", "--porcelain", "--untracked-files=no"):
        raise UserError("the workspace has uncommitted changes, and trials start from the last "
                        "commit: commit them (or stash them) first")
    url, commit = _git("remote", "get-url", remote), _git("rev-parse", "HEAD")
    _git("push", "-q", remote, f"{commit}:refs/sweeps/{commit}")
    return url, commit


def _ray():
    try:
        import ray
    except ImportError:
        raise UserError("Ray is not installed: pip install -r requirements-ray.txt") from None
    return ray


class Board:
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
    pending, results, failures, board = list(names), {}, {}, Board(len(trials))
    running: dict[str, str] = {}
    try:
        while pending:
            done, pending = ray.wait(pending, num_returns=1, timeout=2)
            for ref in done:
                try:
                    results[names[ref]] = outcome = ray.get(ref)
                    print(f"sweep: done {names[ref]} on {outcome['node']} in "
                          f"{outcome['seconds']}s: {_figures(outcome)}", flush=True)
                except ray.exceptions.RayTaskError as error:
                    failures[names[ref]] = _reason(error)
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
    return ray.remote(trial.Progress).options(num_cpus=0, scheduling_strategy=here).remote()


def started(ray, progress, running: dict[str, str]) -> dict[str, str]:
    """Every trial start seen so far. The progress actor is only for the board: if it
    is lost, the board misses some start lines and the trials go on unaffected."""
    with contextlib.suppress(ray.exceptions.RayActorError, ray.exceptions.GetTimeoutError):
        running.update(ray.get(progress.snapshot.remote(), timeout=10))
    return running


def _reason(error: Exception) -> str:
    cause = getattr(error, "cause", None)
    return str(cause) if isinstance(cause, trial.TrialError) else str(error).splitlines()[-1]


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
    SWEEPS.mkdir(parents=True, exist_ok=True)
    with atomic_output(SWEEPS / f"{sweep_id}.md") as tmp:
        tmp.write_text(f"## Sweep {sweep_id}\n\n{table}")
    if rows:
        pictures.sweep(SWEEPS / f"{sweep_id}.png", keys, rows, f"sweep {sweep_id}")
    return table


def swept_models(overrides: list[str], config: schema.Params) -> list[str]:
    """Models whose block a sweep changes; every model when it changes shared keys."""
    touched = {o.split("=", 1)[0].split(".")[1] for o in overrides if o.startswith("models.")}
    if len(touched) < len(overrides) or not touched:
        return list(config.models)
    return [m for m in config.models if m in touched]


def main(argv: list[str] | None = None) -> None:
    """A grid or a search: check it, run it on Ray, bring every trial home, summarize."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-S", "--set-param", dest="overrides", action="append", required=True,
                        help="a DVC override, e.g. models.quickstart.epochs=1,2,3")
    parser.add_argument("--address", help="a Ray cluster: auto, or ray://head:10001 "
                                          "(default: a local Ray instance, one worker per core)")
    parser.add_argument("--remote", default="origin", help="the team's git remote")
    searching = parser.add_argument_group("a search (instead of a grid)")
    searching.add_argument("--search", choices=["tpe", "random"],
                           help="Optuna's TPE, or random sampling, over the -S space")
    searching.add_argument("--trials", type=int, default=20, help="trials to run (20)")
    searching.add_argument("--metric", default="val_accuracy", choices=tuning.FIGURES,
                           help="the per-epoch figure of the searched model to optimize")
    searching.add_argument("--early-stop", choices=["asha"],
                           help="stop trials doing worse than their peers at the same epoch")
    searching.add_argument("--resume", action="store_true",
                           help="continue the search these arguments started")
    searching.add_argument("--concurrent", type=int, help="trials at a time (default: as "
                                                          "many as the cluster has CPUs)")
    searching.add_argument("--seed", type=int, default=0, help="the searcher's seed (0)")
    args = parser.parse_args(argv)
    if args.search:
        search_main(args, argv or [])
        return
    if args.resume or args.early_stop:
        raise UserError("--resume and --early-stop go with --search (a grid runs every trial)")
    grid_main(args)


def _connect(args):
    ray = _ray()
    if args.address:
        ray.init(address=args.address, logging_level="ERROR", log_to_driver=False)
    else:  # "local": a new instance of our own, never a cluster that happens to run here
        ray.init(address="local", num_cpus=os.cpu_count(), logging_level="ERROR",
                 log_to_driver=False)
    ray.cloudpickle.register_pickle_by_value(trial)  # nodes need no checkout of this project
    return ray


def _prepare(ray, first: dict) -> None:
    try:
        ray.get(ray.remote(num_cpus=1)(trial.prepare_data).remote(first))
    except ray.exceptions.RayTaskError as error:
        raise UserError(f"preparing the data: {_reason(error)}") from None


def grid_main(args) -> None:
    """Every combination of the -S lists, one Ray task each."""
    combinations = expand(args.overrides)
    check(combinations)
    models = swept_models(combinations[0], schema.load())
    url, commit = publish_commit(args.remote)
    sweep_id = hashlib.sha256(json.dumps([commit, combinations]).encode()).hexdigest()[:8]
    trials = [{"name": f"sweep-{sweep_id}-{i + 1:02d}", "overrides": overrides, "repo": url,
               "commit": commit, "models": models} for i, overrides in enumerate(combinations)]
    ray = _connect(args)
    started = time.perf_counter()
    print(f"sweep {sweep_id}: {len(trials)} trials of {commit[:8]} on "
          f"{len(ray.nodes())} node(s)", flush=True)
    _prepare(ray, trials[0])
    results, failures = schedule(ray, trials)
    if results:
        _dvc("exp", "pull", "--force", args.remote, *sorted(results))
    print(summary(sweep_id, trials, results))
    print(f"sweep {sweep_id}: {len(results)} done, {len(failures)} failed in "
          f"{time.perf_counter() - started:.0f}s; written to {SWEEPS / sweep_id}.md")
    if failures:
        raise UserError(f"{len(failures)} trial(s) failed: " + "; ".join(
            f"{name}: {reason}" for name, reason in sorted(failures.items())))


def search_main(args, argv: list[str]) -> None:
    """TPE or random search, ASHA if asked, over Ray Tune; resumable."""
    if args.trials < 1:
        raise UserError("--trials must be at least 1")
    space = tune_search.parse(args.overrides)
    model = space.model()
    tune_search.check(space)
    epochs_key = f"models.{model}.epochs"
    if epochs_key in space.searched:
        raise UserError(f"-S {epochs_key}: a search follows its trials epoch by epoch; "
                        "set the epochs, do not search them")
    epochs = int(space.fixed.get(epochs_key, schema.load().models[model].epochs))
    url, commit = publish_commit(args.remote)
    kept = [a for a in argv if a != "--resume"]  # the same command resumes the same search
    sweep_id = hashlib.sha256(json.dumps([commit, kept]).encode()).hexdigest()[:8]
    setup = tuning.Setup(sweep_id, space.fixed, model, args.metric, epochs, url, commit)
    storage = SWEEPS / sweep_id
    ray = _connect(args)
    ray.cloudpickle.register_pickle_by_value(tuning)
    ray.cloudpickle.register_pickle_by_value(tune_search)
    print(f"sweep {sweep_id}: {'resuming ' if args.resume else ''}{args.search} search of "
          f"{args.trials} trials over {', '.join(space.searched)}"
          f"{', ASHA' if args.early_stop else ''}; {commit[:8]} on {len(ray.nodes())} node(s)",
          flush=True)
    started = time.perf_counter()
    _prepare(ray, {"repo": url, "commit": commit})
    results = tuning.run(space, setup, args, storage, args.resume,
                         tuning.board(space, setup, args.trials))
    found = tuning.trials(results, setup)
    finished = sorted(t.name for t in found if t.status == "finished")
    if finished:
        _dvc("exp", "pull", "--force", args.remote, *finished)
    print(tuning.report(found, space, setup, args, SWEEPS / f"{sweep_id}.md"))
    print(f"sweep {sweep_id}: {len(finished)} finished, "
          f"{sum(t.status == 'stopped' for t in found)} stopped early, "
          f"{sum(t.status == 'failed' for t in found)} failed in "
          f"{time.perf_counter() - started:.0f}s; written to {SWEEPS / sweep_id}.md")
    if not finished:
        raise UserError("no trial finished: see the report for what stopped or failed them")


def _dvc(*args: str) -> None:
    dvc = Path(sys.executable).parent / "dvc"
    result = subprocess.run([str(dvc), *args], capture_output=True, text=True, check=False)
    if result.returncode:
        raise UserError(f"dvc {' '.join(args[:2])}: {_last_line(result.stderr)}")


if __name__ == "__main__":
    run(lambda: main(sys.argv[1:]))
