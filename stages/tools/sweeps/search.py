"""Sweeps that search: Ray Tune runs the trials, each a `dvc exp run` on a node.

Optuna's TPE (Ray Tune's `OptunaSearch`, seeded) or random sampling picks each
trial's values from the search space (`stages.tools.sweeps.space`); with
`--early-stop asha`, Ray Tune's ASHA scheduler watches the per-epoch figure the
train stage prints and stops a trial that is doing worse than its peers at the
same epoch: its `dvc exp run` dies with it, so it never becomes an experiment,
and its CPU goes to the next trial at once. A trial that finishes is a DVC
experiment that comes home as a grid trial does (`stages.tools.sweeps.trial`: data
first, then the experiment). Ray Tune keeps the search's state (the searcher's
history, each trial's status) under `reports/sweeps/<id>/`: `--resume` picks it
up and runs only what was missing; a finished trial run again takes its model
from DVC's run-cache instead of training.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from stages.common.cli import UserError
from stages.config import params_file
from stages.tools.sweeps import cluster, space, trial

FIGURES = ("accuracy", "loss", "val_accuracy", "val_loss")  # what each epoch line says
LOWER_IS_BETTER = ("loss", "val_loss")


@dataclass
class Setup:
    """What every trial of one search shares."""

    sweep_id: str
    fixed: dict
    model: str
    metric: str
    epochs: int
    repo: str
    commit: str


def trial_name(setup: Setup, trial_id: str) -> str:
    """The name a trial goes by, as an experiment and in every line about it."""
    return f"sweep-{setup.sweep_id}-{trial_id.split('_')[-1]}"


def _trainable(setup: Setup):
    """The function Ray Tune runs for each trial (shipped to the nodes by value)."""
    from ray import tune

    def run(config: dict) -> None:
        name = trial_name(setup, tune.get_context().get_trial_id())
        values = {**setup.fixed, **config}
        job = {"name": name, "repo": setup.repo, "commit": setup.commit,
               "models": [setup.model],
               "overrides": [f"{key}={space.as_text(value)}" for key, value in values.items()]}
        trained = []

        def on_epoch(figures: dict) -> None:
            trained.append(figures["epoch"])
            if figures["epoch"] < setup.epochs:  # the last one comes with the experiment
                tune.report({**figures, "name": name})

        outcome = trial.run_trial(job, on_epoch=on_epoch)
        figures = outcome["metrics"].get(setup.model, {})
        final = {key: figures.get("train", {}).get(key) for key in FIGURES}
        tune.report({**final, "epoch": setup.epochs + 1, "name": name, "experiment": name,
                     "test_accuracy": figures.get("test_accuracy"), "node": outcome["node"],
                     "seconds": outcome["seconds"], "trained": bool(trained),
                     "resumed_at": outcome["resumed_at"]})

    return run


def tune_run(searched: space.Space, setup: Setup, args, storage: Path, callback):
    """Ray Tune over the space (or resumed from `storage`); its ResultGrid."""
    from ray import tune
    from ray.tune.schedulers import FIFOScheduler
    from ray.tune.search import BasicVariantGenerator, ConcurrencyLimiter
    from ray.tune.search.optuna import OptunaSearch

    mode = "min" if setup.metric in LOWER_IS_BETTER else "max"
    trainable = tune.with_resources(_trainable(setup), {"cpu": 1})
    if args.resume:
        if not (storage / "tune").is_dir():
            raise UserError(f"nothing to resume: {storage} holds no search with these "
                            "arguments (run it without --resume first)")
        # Ray Tune saved the run's settings with it, the board among them.
        return tune.Tuner.restore(str((storage / "tune").resolve()), trainable,
                                  resume_unfinished=True, restart_errored=False).fit()
    if args.search == "tpe":
        import optuna

        searcher = OptunaSearch(metric=setup.metric, mode=mode,
                                sampler=optuna.samplers.TPESampler(seed=args.seed))
        if args.concurrent:
            searcher = ConcurrencyLimiter(searcher, max_concurrent=args.concurrent)
    else:
        searcher = BasicVariantGenerator(random_state=args.seed,
                                         max_concurrent=args.concurrent or 0)
    # ASHA's rungs sit at epochs 1, 3, 9, ... below the last: a trial stopped at its
    # last epoch has cost all its training and saves nothing. A third goes on from each.
    scheduler = FIFOScheduler()
    if args.early_stop == "asha":
        from stages.tools.sweeps.rungs import KeptASHA

        scheduler = KeptASHA(kept=str((storage / "rungs.json").resolve()), time_attr="epoch",
                             metric=setup.metric, mode=mode, max_t=setup.epochs,
                             grace_period=1, reduction_factor=3)
    tuner = tune.Tuner(
        trainable, param_space=searched.tune(),
        tune_config=tune.TuneConfig(num_samples=args.trials, search_alg=searcher,
                                    scheduler=scheduler),
        run_config=tune.RunConfig(name="tune", storage_path=str(storage.resolve()),
                                  verbose=0, log_to_file=True, callbacks=[callback]))
    return tuner.fit()


@dataclass
class Trial:
    """One trial, as the report lists it."""

    name: str
    config: dict
    status: str             # finished, stopped (early), failed
    epoch: int
    figures: dict
    finished_at: float


def trials(results, setup: Setup) -> list[Trial]:
    """Every trial of the search, in the order it ended."""
    found = []
    for result in results:
        last = result.metrics or {}
        if result.error is not None:
            status, last = "failed", {**last, "error": _reason(result)}
        elif last.get("experiment"):
            status = "finished"
        else:
            status = "stopped"
        epoch = min(int(last.get("epoch", 0)), setup.epochs)
        name = last.get("name") or f"sweep-{setup.sweep_id}-{last.get('trial_id', '?')!s}"
        found.append(Trial(name, result.config, status, epoch, last,
                           last.get("timestamp", time.time())))
    return sorted(found, key=lambda t: t.finished_at)


def board(setup: Setup, total: int):
    """A Ray Tune callback printing, on the driver, each trial as it starts and ends, and
    the counts: what a person follows while the search runs."""
    from ray.tune import Callback

    class SearchBoard(Callback):
        def __init__(self) -> None:
            self.counts = {"running": 0, "done": 0, "stopped": 0, "failed": 0}

        def setup(self, **info) -> None:  # a resumed search counts afresh
            self.counts["running"] = 0

        def _line(self, text: str) -> None:
            waiting = total - sum(self.counts.values())
            print(f"sweep: {text}  [{waiting} waiting, {self.counts['running']} running, "
                  f"{self.counts['done']} done, {self.counts['stopped']} stopped, "
                  f"{self.counts['failed']} failed]", flush=True)

        def on_trial_start(self, iteration, trials, trial, **info) -> None:
            self.counts["running"] += 1
            values = ", ".join(f"{key.rsplit('.', 1)[-1]}={space.as_text(value)}"
                               for key, value in trial.config.items())
            self._line(f"started {trial_name(setup, trial.trial_id)} ({values})")

        def on_trial_complete(self, iteration, trials, trial, **info) -> None:
            self.counts["running"] -= 1
            last = trial.last_result or {}
            figure = last.get(setup.metric)
            if last.get("experiment"):
                self.counts["done"] += 1
                how = "trained" if last.get("trained") else "from the run-cache"
                self._line(f"done {last['experiment']} ({how}{_resumed(last)}): {setup.metric} "
                           f"{figure:.4f}, test accuracy {last.get('test_accuracy') or 0:.4f}")
            else:
                self.counts["stopped"] += 1
                self._line(f"stopped {trial_name(setup, trial.trial_id)} early at epoch "
                           f"{last.get('epoch', 0)}{_resumed(last)}: "
                           f"{setup.metric} {figure if figure is None else round(figure, 4)}")

        def on_trial_error(self, iteration, trials, trial, **info) -> None:
            self.counts["running"] -= 1
            self.counts["failed"] += 1
            self._line(f"FAILED {trial_name(setup, trial.trial_id)}: {_reason(trial)}")

    return SearchBoard()


def _resumed(figures: dict) -> str:
    at = figures.get("resumed_at")
    return f", resumed at epoch {at}" if at else ""


def _reason(trial_or_result) -> str:
    """A failed trial's one line: the trial's own error, not Ray's traceback."""
    error = getattr(trial_or_result, "error", None)
    text = str(error) if error is not None else ""
    if not text and getattr(trial_or_result, "error_file", None):
        text = Path(trial_or_result.error_file).read_text()
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    ours = [line for line in lines if "TrialError" in line or line.startswith("error: ")]
    return (ours or lines or ["failed"])[-1].split("TrialError: ")[-1][:300]


def _table(head: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(head) + " |", "|" + "---|" * len(head),
            *("| " + " | ".join(row) + " |" for row in rows)]


def report(found: list[Trial], searched: space.Space, setup: Setup, args, out: Path) -> str:
    """The search's Markdown report (and its picture beside it): the trials best first,
    the best one's values beside the defaults, the stopped and failed ones, convergence."""
    from stages.tools import tool_pictures as pictures

    keys = list(searched.searched)
    short = [key.split(".", 2)[-1] for key in keys]
    metric = setup.metric
    better = min if metric in LOWER_IS_BETTER else max
    values = lambda t: [space.as_text(t.config[key]) for key in keys]  # noqa: E731
    done = [t for t in found if t.status == "finished" and t.figures.get(metric) is not None]
    lines = [f"## Search {setup.sweep_id}: {args.search}, {len(found)} trials"
             f"{', ASHA early stopping' if args.early_stop else ''}; {metric} of "
             f"{setup.model} ({'lower' if better is min else 'higher'} is better)", ""]
    if done:
        best = better(done, key=lambda t: t.figures[metric])
        lines += [f"Best: `{best.name}`, {metric} {best.figures[metric]:.4f}, test accuracy "
                  f"{best.figures.get('test_accuracy') or 0:.4f} (`dvc exp apply {best.name}` "
                  "then `dvc pull`).", ""]
        lines += _table(["key", "params.yaml", "best"],
                        [[f"`{key}`", space.as_text(space.default(key)),
                          space.as_text(best.config[key])] for key in keys])
        ranked = sorted(done, key=lambda t: t.figures[metric], reverse=better is max)
        lines += ["", "### Finished trials, best first", ""]
        lines += _table(["rank", "experiment", *short, metric, "test accuracy", "trained"],
                        [[str(rank), f"`{t.name}`", *values(t), f"{t.figures[metric]:.4f}",
                          f"{t.figures.get('test_accuracy') or 0:.4f}",
                          "yes" if t.figures.get("trained") else "run-cache"]
                         for rank, t in enumerate(ranked, start=1)])
    stopped = [t for t in found if t.status == "stopped"]
    if stopped:
        lines += ["", "### Stopped early (not experiments)", ""]
        lines += _table(["trial", *short, "stopped after epoch", f"{metric} then"],
                        [[t.name, *values(t), str(t.epoch),
                          f"{t.figures.get(metric, float('nan')):.4f}"] for t in stopped])
    failed = [t for t in found if t.status == "failed"]
    if failed:
        lines += ["", "### Failed", ""] + [f"- {t.name}: {t.figures.get('error', 'failed')}"
                                           for t in failed]
    figures = [t.figures.get(metric) for t in found]
    if any(value is not None for value in figures):
        picture = out.with_suffix(".png")
        pictures.convergence(picture, figures, better is max,
                             f"search {setup.sweep_id}: {metric} of {setup.model}")
        lines += ["", f"![convergence]({picture.name})"]
    text = "\n".join(lines) + "\n"
    out.write_text(text)
    return text


def run(args, argv: list[str]) -> None:
    """TPE or random search, ASHA if asked, over Ray Tune; resumable (`argv`, less
    --resume, names the search)."""
    if args.trials < 1:
        raise UserError("--trials must be at least 1")
    searched = space.parse(args.overrides)
    model = searched.model()
    space.check(searched)
    epochs_key = f"models.{model}.epochs"
    if epochs_key in searched.searched:
        raise UserError(f"-S {epochs_key}: a search follows its trials epoch by epoch; "
                        "set the epochs, do not search them")
    epochs = int(searched.fixed.get(epochs_key, params_file.load().models[model].epochs))
    url, commit = cluster.publish_commit(args.remote)
    kept = [a for a in argv if a != "--resume"]  # the same command resumes the same search
    sweep_id = hashlib.sha256(json.dumps([commit, kept]).encode()).hexdigest()[:8]
    setup = Setup(sweep_id, searched.fixed, model, args.metric, epochs, url, commit)
    storage = cluster.SWEEPS / sweep_id
    ray = cluster.connect(args.address, sys.modules[__name__], space)
    print(f"sweep {sweep_id}: {'resuming ' if args.resume else ''}{args.search} search of "
          f"{args.trials} trials over {', '.join(searched.searched)}"
          f"{', ASHA' if args.early_stop else ''}; {commit[:8]} on {len(ray.nodes())} node(s)",
          flush=True)
    started = time.perf_counter()
    cluster.prepare_data(ray, {"repo": url, "commit": commit})
    results = tune_run(searched, setup, args, storage, board(setup, args.trials))
    found = trials(results, setup)
    finished = sorted(t.name for t in found if t.status == "finished")
    if finished:
        cluster.dvc("exp", "pull", "--force", args.remote, *finished)
    print(report(found, searched, setup, args, cluster.SWEEPS / f"{sweep_id}.md"))
    print(f"sweep {sweep_id}: {len(finished)} finished, "
          f"{sum(t.status == 'stopped' for t in found)} stopped early, "
          f"{sum(t.status == 'failed' for t in found)} failed in "
          f"{time.perf_counter() - started:.0f}s; written to {cluster.SWEEPS / sweep_id}.md")
    if not finished:
        raise UserError("no trial finished: see the report for what stopped or failed them")
