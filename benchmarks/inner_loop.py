"""The inner loop: edit a param, run the pipeline, read the leaderboard.

    .venv/bin/python -m benchmarks.inner_loop [--before REV] [--data fashion|mnist-5k]

For this checkout ("after") and the tree at REV ("before"; default: the last commit
before the warm start), each in a fresh project on the same real data (by default
8,000 Fashion-MNIST training and 2,000 test images; all seven models at the
tutorials' epochs, trained once first), times two edits, each with `dvc repro` and
`python -m stages.repro` after editing params.yaml, and with `dvc exp run -S`:
- one model: `models.simple_dense.epochs` one more;
- one layer's width: `models.quickstart.layers.1.Dense.units` (96, 64, 112, ... in turn).
Each run is timed from the command to its exit (the leaderboard written) and split
into the edited model's training (its `train_seconds`) and everything else. Each
command runs twice in a row: the first starts with no warm start server, as the first
edit of a session does; the second finds the server the first one left (the next
edit, within its idle time).

Where the rest goes (benchmarks/hooks/ records each stage process's span): each
stage's seconds from its process's start to its end (a model stage's less its
training), the hand-over to the warm start (a stage's process waiting for the
server's forked child: on a first edit, TensorFlow's import), and the seconds no
stage covered (DVC's own work, or the runner's, between and around the stages).
`stages.repro` runs evaluate and export side by side: their columns overlap.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks import results
from stages.common.files import save_npz
from tests.helpers import real_data
from tests.helpers.harness import BIN, ENV, SHIPPED_MODELS, Project, sha256

ROOT = Path(__file__).resolve().parent.parent
HOOKS = ROOT / "benchmarks" / "hooks"  # the timing hook every stage process loads

EDITS = {  # label -> (the model it retrains, its key, the values of the runs in turn)
    "one model (simple_dense epochs)": ("simple_dense", "models.simple_dense.epochs",
                                        [6, 7, 8, 9, 10, 11]),
    "one layer width (quickstart units)": ("quickstart", "models.quickstart.layers.1.Dense.units",
                                           [96, 64, 112, 80, 48, 120]),
}
COMMANDS = {"dvc repro": [BIN / "dvc", "repro"],
            "stages.repro": [sys.executable, "-m", "stages.repro"],
            "dvc exp run -S": [BIN / "dvc", "exp", "run", "-S"]}  # the edit goes on the line
PARTS = ("outside stages", "validate", "warm hand-over", "train beyond training", "evaluate",
         "export", "report")


def dataset(name: str) -> Path:
    """The benchmark's data, written once into benchmarks/.data/."""
    path = ROOT / "benchmarks" / ".data" / f"{name}.npz"
    if not path.exists():
        arrays = real_data.fashion_mnist(8000, 2000) if name == "fashion-8000" else \
            real_data.mnist_5k()
        save_npz(path, arrays)
    return path


def tree(rev: str, folder: Path) -> Path:
    """This repository's tree at `rev`, written into `folder`."""
    folder.mkdir(parents=True)
    archive = subprocess.run(["git", "archive", rev], cwd=ROOT, capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", folder], input=archive.stdout, check=True)
    return folder


def command_seconds(project: Project, command: list, run: int, timings: Path
                    ) -> tuple[float, float]:
    """The command's seconds, and when it started (the clock the timing hook writes)."""
    env = {**ENV, "PYTHONPATH": os.pathsep.join([str(HOOKS), str(project.path)]),
           "MNIST_ZOO_BENCH_RUN": str(run), "MNIST_ZOO_TIMINGS": str(timings)}
    timings.unlink(missing_ok=True)
    started_at, started = time.time(), time.perf_counter()
    result = subprocess.run([str(c) for c in command], cwd=project.path, env=env, text=True,
                            capture_output=True, check=False)
    seconds = time.perf_counter() - started
    if result.returncode:
        sys.exit(f"{command} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return seconds, started_at


def where_it_went(timings: Path, started_at: float, wall: float, training: float
                  ) -> dict[str, float]:
    """The run's seconds by part (PARTS), from the stage processes' spans."""
    records = [record for line in timings.read_text().splitlines()
               if (record := json.loads(line))["stage"] != "?"]  # not a stage: stages.repro
    spans = {}  # stage -> (start, end): its own process's, or its warm client's
    for record in sorted(records, key=lambda r: bool(r.get("client"))):
        spans[record["stage"]] = (record["ended"] - record["process"], record["ended"])
    parts = dict.fromkeys(PARTS, 0.0)
    for record in records:
        kind = record["stage"].split("@")[0]
        if record.get("client"):
            continue
        start, end = spans[record["stage"]]
        parts["warm hand-over"] += (end - start) - record["process"]
        kind = "train beyond training" if kind == "train" else kind
        parts[kind] = parts.get(kind, 0.0) + record["process"] - (
            training if kind == "train beyond training" else 0.0)
    covered, reach = 0.0, started_at  # the union of the spans
    for start, end in sorted(spans.values()):
        start = max(start, reach)
        covered += max(0.0, end - start)
        reach = max(reach, end)
    parts["outside stages"] = wall - covered
    return parts


def measure(source: Path, data: Path, workdir: Path, label: str) -> dict:
    """Every edit, with each command, in a project made from `source`."""
    project = Project.create(workdir / "project", str(data), sha256(data), epochs=None,
                             models=SHIPPED_MODELS, source=source)
    print(f"{label}: training the zoo once ...", flush=True)
    timings = workdir / "timings.jsonl"  # one path: it is in the warm start's key
    command_seconds(project, [BIN / "dvc", "repro"], 0, timings)
    project.commit("the zoo, trained")
    found, run = {}, 1
    for edit, (model, key, choices) in EDITS.items():
        values = iter(choices)
        for name, command in COMMANDS.items():
            for when in ("first", "next"):
                value = next(values)
                if name.startswith("dvc exp run"):
                    command = [*COMMANDS[name], f"{key}={value}"]
                else:
                    project.set_params({key: value})
                seconds, started_at = command_seconds(project, command, run, timings)
                training = project.read_json(f"metrics/train/{model}.json")["train_seconds"]
                parts = where_it_went(timings, started_at, seconds, training)
                found[edit, name, when] = {"wall": seconds, "training": training, **parts}
                print(f"  {label} {edit}, {name} ({when} edit): {seconds:.1f}s, training "
                      f"{training:.1f}s; " + ", ".join(f"{part} {parts[part]:.1f}s"
                                                       for part in PARTS), flush=True)
                project.commit(f"{key}")
            run += 1  # a server of its own for the next command's first edit
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", help="also time the tree at this revision, in the same run")
    parser.add_argument("--data", choices=["fashion", "mnist-5k"], default="fashion")
    args = parser.parse_args()
    data = dataset("fashion-8000" if args.data == "fashion" else "mnist-5k")
    print(f"{data.name}; {results.describe(results.machine())}", flush=True)
    with tempfile.TemporaryDirectory() as workdir:
        work = Path(workdir)
        before = measure(tree(args.before, work / "before-tree"), data, work / "before",
                         "before") if args.before else {}
        after = measure(ROOT, data, work / "after", "this checkout")
    rows = []
    for (edit, command, when), now in after.items():
        then = before.get((edit, command, when))
        rows.append([edit, f"`{command}`", f"{when} edit", f"{now['wall']:.1f}",
                     f"{now['training']:.1f}", f"**{now['wall'] - now['training']:.1f}**",
                     *([f"{then['wall']:.1f}"] if then else [])])
    columns = ["edit", "command", "when", ">wall s", ">training s", ">beyond training s",
               *([f">{args.before}: wall s"] if args.before else [])]
    table = {"columns": columns, "rows": rows, "data": data.name}
    parts = {"columns": ["edit", "command", "when", *(f">{part} s" for part in PARTS)],
             "rows": [[edit, f"`{command}`", f"{when} edit",
                       *(f"{now[part]:.1f}" for part in PARTS)]
                      for (edit, command, when), now in after.items()],
             "data": data.name}
    print("\n" + results.markdown(table) + "\n\n" + results.markdown(parts))
    if not args.before:
        results.save("inner_loop", {"loop": table, "parts": parts})


if __name__ == "__main__":
    main()
