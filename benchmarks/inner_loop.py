"""The inner loop: edit params.yaml, run the pipeline, read the leaderboard.

    .venv/bin/python -m benchmarks.inner_loop [--before REV] [--data fashion|mnist-5k]

For this checkout ("after") and the tree at REV ("before"; default: the last commit
before the warm start), each in a fresh project on the same real data (by default
8,000 Fashion-MNIST training and 2,000 test images; all seven models at the
tutorials' epochs, trained once first), times two edits, each once with
`dvc repro` and once with `python -m stages.repro`:
- one model: `models.simple_dense.epochs` one more;
- one layer's width: `models.quickstart.layers.1.Dense.units` (96, 64, 112, 80 in turn).
Each run is timed from the command to its exit (the leaderboard written) and split
into the edited model's training (its `train_seconds`) and everything else. Each
command runs twice in a row: the first starts with no warm start server, as the first
edit of a session does; the second finds the server the first one left (the next
edit, within its idle time).
"""

from __future__ import annotations

import argparse
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

EDITS = {  # label -> (the model it retrains, its key, the values of the runs in turn)
    "one model (simple_dense epochs)": ("simple_dense", "models.simple_dense.epochs",
                                        [6, 7, 8, 9]),
    "one layer width (quickstart units)": ("quickstart", "models.quickstart.layers.1.Dense.units",
                                           [96, 64, 112, 80]),
}
COMMANDS = {"dvc repro": [BIN / "dvc", "repro"],
            "stages.repro": [sys.executable, "-m", "stages.repro"]}


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


def command_seconds(project: Project, command: list, run: int) -> float:
    env = {**ENV, "PYTHONPATH": str(project.path), "MNIST_ZOO_BENCH_RUN": str(run)}
    started = time.perf_counter()
    result = subprocess.run([str(c) for c in command], cwd=project.path, env=env, text=True,
                            capture_output=True, check=False)
    seconds = time.perf_counter() - started
    if result.returncode:
        sys.exit(f"{command} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return seconds


def measure(source: Path, data: Path, workdir: Path, label: str) -> dict:
    """Every edit, with each command, in a project made from `source`."""
    project = Project.create(workdir / "project", str(data), sha256(data), epochs=None,
                             models=SHIPPED_MODELS, source=source)
    print(f"{label}: training the zoo once ...", flush=True)
    command_seconds(project, [BIN / "dvc", "repro"], 0)
    project.commit("the zoo, trained")
    found, run = {}, 1
    for edit, (model, key, choices) in EDITS.items():
        values = iter(choices)
        for name, command in COMMANDS.items():
            for when in ("first", "next"):
                project.set_params({key: next(values)})
                seconds = command_seconds(project, command, run)
                training = project.read_json(f"metrics/train/{model}.json")["train_seconds"]
                found[edit, name, when] = {"wall": seconds, "training": training}
                print(f"  {label} {edit}, {name} ({when} edit): {seconds:.1f}s, training "
                      f"{training:.1f}s", flush=True)
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
    print("\n" + results.markdown(table))
    if not args.before:
        results.save("inner_loop", {"loop": table})


if __name__ == "__main__":
    main()
