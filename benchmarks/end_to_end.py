"""The whole pipeline against the tutorials' own scripts, on the same arrays.

    .venv/bin/python benchmarks/end_to_end.py            # 60,000/10,000 digits, tutorials' epochs
    .venv/bin/python benchmarks/end_to_end.py --quick    # 6,000/1,000, two models: a minute or so

Generates synthetic MNIST-format digits once (kept in benchmarks/.data/), then:
(a) `dvc repro --force` of a temporary copy of the project, with the tutorials'
    default epochs, each stage recording where its time goes (benchmarks/hooks/);
(b) each model's tutorial script (benchmarks/tutorials/), one process each,
    written as its tutorial writes it.
Prints, per model, training seconds and test accuracy side by side; per stage
kind, where the pipeline's time goes; DVC's own time; and the whole ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "helpers")]

from harness import BIN, ENV, Project, sha256  # noqa: E402
from stages.config import schema  # noqa: E402
from stages.data.files import save_npz  # noqa: E402
from stages.data.synthetic import make_dataset  # noqa: E402

TUTORIALS = ROOT / "benchmarks" / "tutorials"
HOOKS = ROOT / "benchmarks" / "hooks"  # the timing hook every stage process loads
PHASES = ("start-up", "import tensorflow", "load data", "download", "train", "validate",
          "evaluate", "pictures", "write")
GRADIENT_TAPE_TARGET = 0.6


def dataset(train: int, test: int) -> Path:
    """Synthetic digits, generated once per size."""
    path = ROOT / "benchmarks" / ".data" / f"synthetic-{train}-{test}.npz"
    if not path.exists():
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


def run_pipeline(data: Path, models: list[str], workdir: Path) -> dict:
    """`dvc repro --force` with the tutorials' epochs; per-stage timings."""
    project = Project.create(workdir / "project", str(data), sha256(data), epochs=None,
                             models=models)
    timings = workdir / "timings.jsonl"
    env = {**ENV, "MNIST_ZOO_TIMINGS": str(timings), "PYTHONPATH": str(HOOKS)}
    seconds, _ = timed([BIN / "dvc", "repro", "--force"], project.path, env)
    noop, _ = timed([BIN / "dvc", "repro"], project.path, ENV)
    status, _ = timed([BIN / "dvc", "status"], project.path, ENV)
    stages = [json.loads(line) for line in timings.read_text().splitlines()]
    return {"seconds": seconds, "noop": noop, "status": status, "stages": stages,
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


def print_models(pipeline: dict, tutorials: dict, loops: dict) -> None:
    print(f"\n{'model':13} {'loop':13} {'train s':>8} {'tutorial':>9} {'ratio':>6} "
          f"{'stages s':>9} {'script s':>9} {'accuracy':>9} {'tutorial':>9} {'diff pp':>8}")
    for name, tutorial in tutorials.items():
        ours = pipeline["models"][name]
        stages = sum(s["process"] for s in pipeline["stages"]
                     if s["stage"] in (f"train@{name}", f"evaluate@{name}"))
        print(f"{name:13} {loops[name]:13} {ours['train_seconds']:8.1f} "
              f"{tutorial['train_seconds']:9.1f} "
              f"{ours['train_seconds'] / tutorial['train_seconds']:6.2f} {stages:9.1f} "
              f"{tutorial['process']:9.1f} {100 * ours['test_accuracy']:8.2f}% "
              f"{100 * tutorial['test_accuracy']:8.2f}% "
              f"{100 * (ours['test_accuracy'] - tutorial['test_accuracy']):+8.2f}")


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


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text()
                .splitlines() if line.startswith("model name")), platform.processor())
    import importlib.metadata as metadata

    return (f"{cpu}, {os.cpu_count()} cores; Python {platform.python_version()}, "
            f"TensorFlow {metadata.version('tensorflow')}, Keras {metadata.version('keras')}, "
            f"DVC {metadata.version('dvc')}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="6,000/1,000 digits and two models (one per loop)")
    parser.add_argument("--models", nargs="+", help="models to run (default: all)")
    args = parser.parse_args()
    config = schema.load(ROOT / "params.yaml")
    models = args.models or (["quickstart", "simple_dense"] if args.quick else
                             list(config.models))
    data = dataset(*((6000, 1000) if args.quick else (60000, 10000)))
    print(f"{machine()}\n{data.name}: models {', '.join(models)}", flush=True)
    with tempfile.TemporaryDirectory() as workdir:
        print("pipeline: dvc repro --force ...", flush=True)
        pipeline = run_pipeline(data, models, Path(workdir))
        print(f"  {pipeline['seconds']:.1f}s\ntutorials:", flush=True)
        tutorials = run_tutorials(data, models)
        loops = {name: config.model(name).loop for name in models}
        compiled = run_tutorials(data, [n for n in models if loops[n] == "gradient_tape"],
                                 compiled=True)
    print_models(pipeline, tutorials, loops)
    print_stage_kinds(pipeline)
    scripts = sum(t["process"] for t in tutorials.values())
    trained = sum(m["train_seconds"] for m in pipeline["models"].values())
    print(f"\nwhole `dvc repro`: {pipeline['seconds']:.1f}s; tutorials' scripts: {scripts:.1f}s; "
          f"ratio {pipeline['seconds'] / scripts:.2f} (target 0.6, stretch 0.5)")
    theirs = sum(t["train_seconds"] for t in tutorials.values())
    print(f"training alone: {trained:.1f}s vs {theirs:.1f}s")
    for name, theirs in compiled.items():
        ours = pipeline["models"][name]["train_seconds"]
        ratio = ours / tutorials[name]["train_seconds"]
        verdict = "met" if ratio <= GRADIENT_TAPE_TARGET else "missed"
        print(f"{name} training vs its tutorial loop: {ratio:.2f} "
              f"(target {GRADIENT_TAPE_TARGET}: {verdict}); vs that loop compiled with "
              f"tf.function ({theirs['train_seconds']:.1f}s): {ours / theirs['train_seconds']:.2f}")


if __name__ == "__main__":
    main()
