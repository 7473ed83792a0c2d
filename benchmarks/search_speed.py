"""A grid against a search, same machine, same model and knobs: `stages.sweep` over every
combination, and `stages.sweep --search tpe --early-stop asha` with as many trials.

    .venv/bin/python benchmarks/search_speed.py [--epochs 4]

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
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "helpers")]

from end_to_end import dataset  # noqa: E402
from sweep_speed import fresh_copy, team_project  # noqa: E402

from harness import ENV, experiments, run  # noqa: E402

QS = "models.quickstart"
RATES, BATCHES, UNITS = ("0.0003", "0.001", "0.003", "3.0"), ("32", "128"), ("16", "64", "256")


def best_and_epochs(project, prefix: str) -> tuple[float, int, int]:
    """The best validation accuracy among the finished trials, how many finished, and
    their epochs (the stopped ones' are counted from the sweep's report)."""
    found = {name: runs[0] for name, runs in experiments(project).items()
             if name.startswith(prefix)}
    accuracies = [data["metrics"]["metrics/train/quickstart.json"]["data"]["val_accuracy"]
                  for data in found.values()]
    epochs = [data["metrics"]["metrics/train/quickstart.json"]["data"]["epochs"]
              for data in found.values()]
    return max(accuracies), len(found), sum(epochs)


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
                   "MNIST_ZOO_SWEEP_DIR": str(workdir / way / "nodes")}
            started = time.perf_counter()
            result = run([sys.executable, "-m", "stages.sweep", *command], project.path,
                         env=env, check=False, timeout=7200)
            seconds = time.perf_counter() - started
            if way == "grid" and result.returncode not in (0, 1):  # 1: a diverged trial
                sys.exit(result.stdout[-3000:] + result.stderr[-3000:])
            best, finished, epochs = best_and_epochs(project, "sweep-")
            stopped = [int(line.split(" early at epoch ")[1].split(":")[0])
                       for line in result.stdout.splitlines() if " early at epoch " in line]
            # A diverging trial stops within its first epoch: counted as one.
            failed = sum("FAILED" in line for line in result.stdout.splitlines())
            figures[way] = {"best": best, "finished": finished, "stopped": len(stopped),
                            "failed": failed, "epochs": epochs + sum(stopped) + failed,
                            "seconds": seconds}
            print(f"{way}: {json.dumps(figures[way])}", flush=True)
    grid_best, search = figures["grid"]["best"], figures["tpe+asha"]
    print(f"\n{trials} trials of quickstart ({args.epochs} epochs at most, 6,000 digits), "
          f"{os.cpu_count()} cores, local Ray:")
    for way, f in figures.items():
        print(f"  {way:9} best val_accuracy {100 * f['best']:.2f}%, {f['epochs']} epochs trained "
              f"({f['finished']} finished, {f['stopped']} stopped, {f['failed']} failed), "
              f"{f['seconds']:.0f}s")
    print(f"the search is {100 * (search['best'] - grid_best):+.2f} pp from the grid's best "
          f"(target: within 0.2) with {search['epochs'] / figures['grid']['epochs']:.2f} of its "
          f"epochs (target: at most 0.5)")


if __name__ == "__main__":
    main()
