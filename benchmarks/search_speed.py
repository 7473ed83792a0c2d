"""A grid against a search, same machine, same model and knobs: `stages.sweep` over every
combination, and `stages.sweep --search tpe --early-stop asha` with as many trials.

    .venv/bin/python -m benchmarks.search_speed [--epochs 4]

One model (quickstart) and three knobs: Adam's learning rate (one hopeless value
among them), the batch size and the hidden layer's width; synthetic digits
(6,000/1,000); a local Ray instance (one trial per core). Each way starts from
its own copy of the team's state (benchmarks/sweep_speed.py), so neither reuses
the other's trials. Prints, for each: the best validation accuracy found, the
epochs actually trained, and the wall time.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.end_to_end import dataset
from benchmarks.sweep_speed import fresh_copy, team_project
from tests.helpers.harness import ENV, experiments, run

ROOT = Path(__file__).resolve().parent.parent

QS = "models.quickstart"
RATES, BATCHES, UNITS = ("0.0003", "0.001", "0.003", "3.0"), ("32", "128"), ("16", "64", "256")


def tally(project, stdout: str, epochs: int) -> dict:
    """What the run found and what it cost, from `dvc exp show` and the sweep's lines in
    the order trials ended: a finished trial trained its epochs (none when it came from
    the run-cache), a stopped one the epochs it reached, a failed one at most one."""
    accuracy = {name: runs[0]["metrics"]["metrics/train/quickstart.json"]["data"]["val_accuracy"]
                for name, runs in experiments(project).items() if name.startswith("sweep-")}
    spent, best, history = 0, 0.0, []
    for line in stdout.splitlines():
        # a grid's line says where the trial ran ("on <node>"), a search's how
        if found := re.match(r"sweep: done (\S+) \(?(trained|from the run-cache|on )", line):
            spent += 0 if found[2] == "from the run-cache" else epochs
            best = max(best, accuracy[found[1]])
        elif found := re.match(r"sweep: stopped \S+ early at epoch (\d+)", line):
            spent += int(found[1])
        elif line.startswith("sweep: FAILED"):
            spent += 1
        else:
            continue
        history.append((spent, best))
    return {"best": max(accuracy.values()), "finished": len(accuracy),
            "stopped": stdout.count(" early at epoch "), "failed": stdout.count("sweep: FAILED"),
            "from_cache": stdout.count("(from the run-cache)"), "epochs": spent,
            "history": history}


def reached(history: list[tuple[int, float]], target: float) -> int | None:
    """Epochs trained (by the trials ended so far) when the best first came within 0.2 pp."""
    return next((spent for spent, best in history if best >= target - 0.002), None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=4)
    args = parser.parse_args()
    trials = len(RATES) * len(BATCHES) * len(UNITS)
    grid = ["-S", f"{QS}.optimizer.Adam.learning_rate={','.join(RATES)}",
            "-S", f"{QS}.batch_size={','.join(BATCHES)}",
            "-S", f"{QS}.layers.1.Dense.units={','.join(UNITS)}",
            "-S", f"{QS}.epochs={args.epochs}"]
    space = ["-S", f"{QS}.optimizer.Adam.learning_rate=choice({', '.join(RATES)})",
             "-S", f"{QS}.batch_size=choice({', '.join(BATCHES)})",
             "-S", f"{QS}.layers[1].Dense.units=choice({', '.join(UNITS)})",
             "-S", f"{QS}.epochs={args.epochs}"]
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        team_project(workdir / "base", dataset(6000, 1000))
        figures = {}
        for way, command in (("grid", grid), ("tpe+asha", ["--search", "tpe", "--trials",
                                                           str(trials), "--early-stop", "asha",
                                                           *space])):
            project = fresh_copy(workdir / "base", workdir / way)
            env = {**ENV, "PYTHONPATH": str(ROOT),
                   "MNIST_ZOO_NODE_DIR": str(workdir / way / "nodes")}
            started = time.perf_counter()
            result = run([sys.executable, "-m", "stages.sweep", *command], project.path,
                         env=env, check=False, timeout=7200)
            seconds = time.perf_counter() - started
            if way == "grid" and result.returncode not in (0, 1):  # 1: a diverged trial
                sys.exit(result.stdout[-3000:] + result.stderr[-3000:])
            figures[way] = {**tally(project, result.stdout, args.epochs), "seconds": seconds}
            shown = {key: value for key, value in figures[way].items() if key != "history"}
            print(f"{way}: {json.dumps(shown)}", flush=True)
    grid_best, search = figures["grid"]["best"], figures["tpe+asha"]
    print(f"\n{trials} trials of quickstart ({args.epochs} epochs at most, 6,000 digits), "
          f"{os.cpu_count()} cores, local Ray:")
    for way, f in figures.items():
        print(f"  {way:9} best val_accuracy {100 * f['best']:.2f}%, {f['epochs']} epochs trained "
              f"({f['finished']} finished, {f['from_cache']} of them from the run-cache, "
              f"{f['stopped']} stopped, {f['failed']} failed), "
              f"{f['seconds']:.0f}s")
    print(f"the search is {100 * (search['best'] - grid_best):+.2f} pp from the grid's best "
          f"(target: within 0.2) with {search['epochs'] / figures['grid']['epochs']:.2f} of its "
          f"epochs (target: at most 0.5)")
    got_there = reached(search["history"], grid_best)
    if got_there is not None:
        print(f"it was within 0.2 pp after {got_there} epochs of ended trials "
              f"({got_there / figures['grid']['epochs']:.2f} of the grid's)")


if __name__ == "__main__":
    main()
