"""The whole pipeline against the tutorials' own scripts, on the same arrays.

    .venv/bin/python -m benchmarks.end_to_end            # Fashion-MNIST, 60,000/10,000
    .venv/bin/python -m benchmarks.end_to_end --threads 2,2   # another `tensorflow:` setting
    .venv/bin/python -m benchmarks.end_to_end --quick    # 6,000/1,000, two models
    .venv/bin/python -m benchmarks.end_to_end --figures docs/images   # and the README's charts

On real data in MNIST's format: Fashion-MNIST, from Debian's dataset-fashion-mnist
(tests/helpers/real_data.py; `--data synthetic` for the project's own digits), then,
each in a fresh temporary copy of the project with the tutorials' default epochs and
an empty DVC cache, every stage recording where its time goes (benchmarks/hooks/):
(a) a plain `dvc repro`;
(b) `python -m stages.repro --jobs N` (N: the cores here), the stages side by side;
(c) each model's tutorial script (benchmarks/tutorials/), one process each, as its
    tutorial writes it, the from-scratch tutorial's loops compiled with `tf.function`
    (the baseline: how a Keras user runs them); with --eager, those loops eager too,
    as printed.
Prints, per model, training seconds and test accuracy side by side; per stage
kind, where the pipeline's time goes; the exports' agreement with the trained
models; and the ratios against the compiled scripts.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from benchmarks import results
from stages.common.files import save_npz
from stages.config import params_file
from stages.tools.reading.font_digits import make_dataset
from tests.helpers import real_data
from tests.helpers.harness import BIN, ENV, Project, sha256

ROOT = Path(__file__).resolve().parent.parent

TUTORIALS = ROOT / "benchmarks" / "tutorials"
HOOKS = ROOT / "benchmarks" / "hooks"  # the timing hook every stage process loads
# The goals: each way's wall time at most this share of the tutorial scripts'.
GOALS = {"dvc repro": 0.45, "stages.repro": 0.30}
PHASES = ("start-up", "import tensorflow", "load data", "download", "train", "validate",
          "evaluate", "pictures", "write")


def dataset(kind: str, train: int, test: int) -> Path:
    """The benchmark's arrays, written once per kind and size into benchmarks/.data/."""
    path = ROOT / "benchmarks" / ".data" / f"{kind}-{train}-{test}.npz"
    if not path.exists():
        if kind == "fashion":
            if why := real_data.missing(fashion=True):
                sys.exit(why)
            save_npz(path, real_data.fashion_mnist(train, test))
        else:
            print(f"generating {train:,} + {test:,} synthetic digits (once) ...", flush=True)
            save_npz(path, make_dataset(train, test, seed=0))
    return path


def timed(command: list, cwd: Path, env: dict) -> tuple[float, subprocess.CompletedProcess]:
    started = time.perf_counter()
    result = subprocess.run([str(c) for c in command], cwd=cwd, env=env, text=True,
                            capture_output=True, check=False)
    if result.returncode:
        sys.exit(f"{' '.join(map(str, command))} failed:\n{result.stdout[-3000:]}"
                 f"\n{result.stderr[-3000:]}")
    return time.perf_counter() - started, result


def streamed(command: list, cwd: Path, env: dict) -> tuple[float, list[tuple[float, str]]]:
    """Run a command, keeping each line of its output with the second it appeared."""
    started = time.perf_counter()
    process = subprocess.Popen([str(c) for c in command], cwd=cwd, env=env, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    lines = [(time.perf_counter() - started, line.rstrip()) for line in process.stdout]
    if process.wait():
        sys.exit(f"{' '.join(map(str, command))} failed:\n" +
                 "\n".join(line for _, line in lines[-40:]))
    return time.perf_counter() - started, lines


def run_pipeline(data: Path, models: list[str], workdir: Path, threads: list[int],
                 jobs: int = 0) -> dict:
    """A fresh project run with the tutorials' epochs and `threads`: `dvc repro`, or with
    `jobs`, `python -m stages.repro --jobs`; per-stage timings, and the timed lines."""
    project = Project.create(workdir / "project", str(data), sha256(data), epochs=None,
                             models=models)
    project.set_params({"tensorflow.intra_op_threads": threads[0],
                        "tensorflow.inter_op_threads": threads[1]})
    project.commit("threads")
    timings = workdir / "timings.jsonl"
    env = {**ENV, "MNIST_ZOO_TIMINGS": str(timings), "PYTHONPATH": str(HOOKS)}
    command = ([sys.executable, "-m", "stages.repro", "--jobs", str(jobs)] if jobs else
               [BIN / "dvc", "repro"])
    seconds, lines = streamed(command, project.path, {**env, "PYTHONPATH": os.pathsep.join(
        [str(HOOKS), str(project.path)])} if jobs else env)
    noop, _ = timed(command, project.path, {**ENV, "PYTHONPATH": str(project.path)})
    status, _ = timed([BIN / "dvc", "status"], project.path, ENV)
    stages = [json.loads(line) for line in timings.read_text().splitlines()]
    stages = [stage for stage in stages if not stage.get("client")]  # its child has the phases
    return {"seconds": seconds, "noop": noop, "status": status, "stages": stages,
            "lines": lines, "project": project,  # gone with the temporary directory
            "exports": {m: project.read_json(f"exports/{m}.json") for m in models},
            "models": {m: {**project.read_json(f"metrics/train/{m}.json"),
                           **project.read_json(f"metrics/{m}.json")} for m in models}}


def run_tutorials(data: Path, models: list[str], compiled: bool = False) -> dict:
    """Each tutorial script in its own process: wall time and its own figures.
    `compiled`: the from-scratch loops with `tf.function` (not as the tutorial writes them)."""
    results = {}
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "TUTORIAL_TF_FUNCTION": str(int(compiled))}
    for name in models:
        seconds, result = timed([sys.executable, TUTORIALS / f"{name}.py", data], TUTORIALS, env)
        results[name] = {"process": seconds, **json.loads(result.stdout.splitlines()[-1])}
        print(f"  tutorial {name}{' (tf.function)' if compiled else ''}: {seconds:.1f}s",
              flush=True)
    return results


def print_models(sequential: dict, parallel: dict, baseline: dict, eager: dict,
                 loops: dict) -> None:
    print(f"\n{'model':13} {'loop':13} {'train s':>8} {'script':>8} {'ratio':>6} "
          f"{'eager':>7} {'stages s':>9} {'script s':>9} {'accuracy':>9} {'script':>8} "
          f"{'diff pp':>8} {'parallel':>9}")
    for name, script in baseline.items():
        ours = sequential["models"][name]
        stages = sum(s["process"] for s in sequential["stages"]
                     if s["stage"] in (f"train@{name}", f"evaluate@{name}"))
        plain = f"{eager[name]['train_seconds']:7.1f}" if name in eager else f"{'':7}"
        print(f"{name:13} {loops[name]:13} {ours['train_seconds']:8.1f} "
              f"{script['train_seconds']:8.1f} "
              f"{ours['train_seconds'] / script['train_seconds']:6.2f} {plain} {stages:9.1f} "
              f"{script['process']:9.1f} {100 * ours['test_accuracy']:8.2f}% "
              f"{100 * script['test_accuracy']:7.2f}% "
              f"{100 * (ours['test_accuracy'] - script['test_accuracy']):+8.2f} "
              f"{100 * parallel['models'][name]['test_accuracy']:8.2f}%")


def print_exports(run: dict, models: list[str]) -> None:
    """Each model's exports: size, export time, largest probability difference and
    differing digits against the Keras model on the test set (exports/<model>.json)."""
    process = {s["stage"]: s["process"] for s in run["stages"]}
    print(f"\n{'exports':13} {'format':12} {'MB':>6} {'export s':>9} {'max prob diff':>14} "
          f"{'digits differ':>14}   (export@<model> process s)")
    for name in models:
        for fmt, figures in run["exports"][name].items():
            if "error" in figures:
                print(f"{name:13} {fmt:12} {figures['error']}")
                continue
            print(f"{name:13} {fmt:12} {figures['bytes'] / 1e6:6.2f} "
                  f"{figures['export_seconds']:9.2f} {figures['max_probability_difference']:14.1e} "
                  f"{figures['differing_digits']:14d}   ({process.get(f'export@{name}', 0):.1f})")


def print_stage_kinds(pipeline: dict) -> None:
    kinds: dict[str, dict] = defaultdict(lambda: defaultdict(float))
    for stage in pipeline["stages"]:
        kind = kinds[stage["stage"].split("@")[0]]
        kind["count"] += 1
        train = stage.get("train", 0.0) - stage.get("validate", 0.0)
        for phase in PHASES:
            kind[phase] += train if phase == "train" else stage.get(phase, 0.0)
        kind["process"] += stage["process"]
    print(f"\n{'stage kind':10} {'n':>2} {'total s':>8} " +
          " ".join(f"{p[:10]:>10}" for p in (*PHASES, "other")))
    for name, kind in kinds.items():
        other = kind["process"] - sum(kind[p] for p in PHASES)
        print(f"{name:10} {int(kind['count']):2} {kind['process']:8.1f} " +
              " ".join(f"{kind[p]:10.1f}" for p in PHASES) + f" {other:10.1f}")
    in_stages = sum(s["process"] for s in pipeline["stages"])
    print(f"DVC's own time (repro wall minus stage processes): "
          f"{pipeline['seconds'] - in_stages:.1f}s; no-op `dvc repro` {pipeline['noop']:.2f}s, "
          f"`dvc status` {pipeline['status']:.2f}s")


def tables(data: Path, sequential: dict, parallel: dict, baseline: dict, loops: dict,
           jobs: int) -> dict:
    """The figures the docs show: the ways against the scripts, and each model."""
    scripts = sum(t["process"] for t in baseline.values())
    ways = [["the tutorial scripts, loops compiled with `tf.function`", f"{scripts:.1f}",
             "1.00", ""]]
    for label, run, goal in (("`dvc repro`", sequential, GOALS["dvc repro"]),
                             (f"`python -m stages.repro --jobs {jobs}`", parallel,
                              GOALS["stages.repro"])):
        ways.append([label, f"{run['seconds']:.1f}", f"**{run['seconds'] / scripts:.2f}**",
                     f"at most {goal}"])
    models = []
    for name, script in sorted(baseline.items(),
                               key=lambda item: -sequential["models"][item[0]]["test_accuracy"]):
        ours = sequential["models"][name]
        models.append([f"`{name}`", loops[name], f"{100 * ours['test_accuracy']:.2f}%",
                       f"{ours['train_seconds']:.1f}", f"{100 * script['test_accuracy']:.2f}%",
                       f"{script['train_seconds']:.1f}"])
    return {"ways": {"columns": ["way", ">wall s", ">against the scripts", ">goal"],
                     "rows": ways, "data": data.name},
            "models": {"columns": ["model", "loop", ">test accuracy", ">training s",
                                   ">its script: accuracy", ">its script: training s"],
                       "rows": models, "data": data.name}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="6,000/1,000 digits and two models (one per loop)")
    parser.add_argument("--models", nargs="+", help="models to run (default: all)")
    parser.add_argument("--figures", type=Path,
                        help="also draw the charts of the parallel run into this folder")
    parser.add_argument("--data", choices=["fashion", "synthetic"], default="fashion")
    parser.add_argument("--threads", default=None,
                        help="intra,inter: the pipeline's `tensorflow:` threads (params.yaml's)")
    parser.add_argument("--eager", action="store_true",
                        help="also time the from-scratch tutorials' loops eager, as printed")
    args = parser.parse_args()
    config = params_file.load(ROOT / "params.yaml")
    models = args.models or (["quickstart", "simple_dense"] if args.quick else
                             list(config.models))
    loops = {name: config.model(name).loop for name in models}
    threads = ([int(n) for n in args.threads.split(",")] if args.threads else
               [config.tensorflow.intra_op_threads, config.tensorflow.inter_op_threads])
    jobs = os.cpu_count() or 1
    data = dataset(args.data, *((6000, 1000) if args.quick else (60000, 10000)))
    print(f"{results.describe(results.machine())}\n{data.name}: models {', '.join(models)}; "
          f"TensorFlow threads {threads[0]} per op, {threads[1]} ops at once", flush=True)
    with tempfile.TemporaryDirectory() as workdir:
        print("pipeline: dvc repro ...", flush=True)
        sequential = run_pipeline(data, models, Path(workdir) / "sequential", threads)
        print(f"  {sequential['seconds']:.1f}s\npipeline: python -m stages.repro --jobs {jobs} ...",
              flush=True)
        parallel = run_pipeline(data, models, Path(workdir) / "parallel", threads, jobs=jobs)
        print(f"  {parallel['seconds']:.1f}s", flush=True)
        if args.figures:
            draw_figures(parallel["project"], args.figures, models)
        print("tutorials:", flush=True)
        fits = [n for n in models if loops[n] == "fit"]
        tapes = [n for n in models if loops[n] == "gradient_tape"]
        baseline = {**run_tutorials(data, fits), **run_tutorials(data, tapes, compiled=True)}
        eager = run_tutorials(data, tapes) if args.eager else {}
    print_models(sequential, parallel, baseline, eager, loops)
    print_stage_kinds(sequential)
    print_exports(sequential, models)
    scripts = sum(t["process"] for t in baseline.values())
    print(f"\nthe tutorials' scripts, one process each: {scripts:.1f}s with the from-scratch "
          "loops compiled (the baseline)")
    for label, run, target in (("`dvc repro`", sequential, GOALS["dvc repro"]),
                               (f"`stages.repro --jobs {jobs}`", parallel,
                                GOALS["stages.repro"])):
        print(f"{label}: {run['seconds']:.1f}s, ratio {run['seconds'] / scripts:.2f} against "
              f"the compiled scripts (target at most {target})")
    trained = sum(m["train_seconds"] for m in sequential["models"].values())
    theirs = sum(t["train_seconds"] for t in baseline.values())
    print(f"training alone: {trained:.1f}s vs {theirs:.1f}s (compiled scripts)")
    worst = max(abs(sequential["models"][n]["test_accuracy"] - baseline[n]["test_accuracy"])
                for n in models)
    print(f"largest accuracy difference to a script: {100 * worst:.2f} pp (same recipe, "
          "its own initial weights and batch order)")
    if not args.quick and not args.models:
        results.save("end_to_end", tables(data, sequential, parallel, baseline, loops, jobs))

def draw_figures(project, out: Path, models: list[str]) -> None:
    """The README's pictures, from this run: the DVC charts and one model's predictions."""
    env = {**ENV, "PYTHONPATH": str(project.path)}
    timed([sys.executable, "-m", "stages.charts", "--out", out.resolve()], project.path, env)
    best = project.read_json("reports/summary.json")["best_model"]
    shutil.copy(project.path / "plots" / best / "predictions.png",
                out / "predictions.png")
    print(f"  figures of the parallel run in {out} (best model: {best})", flush=True)


if __name__ == "__main__":
    main()
