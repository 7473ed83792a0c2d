"""The same sweep three ways, on this machine: `stages.sweep` on a local Ray
instance, on Ray's 3-node test cluster, and `dvc queue start --jobs 2`.

    .venv/bin/python -m benchmarks.sweep_speed [--trials 12]

One model (quickstart), one epoch, synthetic digits (6,000/1,000); the project
has run once and pushed its run-cache, as a team's would have. Each way starts
from its own copy of that state (project, git remote, DVC remote, node caches),
so none reuses a trial another way computed. Prints the wall time of each way
for the same trials.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.end_to_end import dataset
from tests.helpers.harness import ENV, Project, run, sha256

ROOT = Path(__file__).resolve().parent.parent

RATES = ("0.0003", "0.0005", "0.001", "0.002", "0.003", "0.005")


def team_project(workdir: Path, data: Path) -> Project:
    """A project that ran once, its run-cache on a directory remote, pushed to origin."""
    project = Project.create(workdir / "user", str(data), sha256(data), models=["quickstart"])
    project.dvc("remote", "add", "-d", "storage", workdir / "dvc-remote")
    project.dvc("repro")
    project.commit("results, and the team's DVC remote")
    run(["git", "init", "-q", "--bare", "-b", "main", workdir / "origin.git"], workdir)
    project.git("remote", "add", "origin", str(workdir / "origin.git"))
    project.git("push", "-q", "origin", "HEAD:refs/heads/main")
    project.dvc("push", "--run-cache")
    return project


def fresh_copy(base: Path, dest: Path) -> Project:
    """A copy of the team's project, git remote and DVC remote, repointed at each other:
    the run-cache holds the first run only, never another way's trials."""
    for name in ("user", "origin.git", "dvc-remote"):
        shutil.copytree(base / name, dest / name, symlinks=True)
    project = Project(dest / "user")
    project.git("remote", "set-url", "origin", str(dest / "origin.git"))
    project.dvc("remote", "modify", "storage", "url", str(dest / "dvc-remote"))
    project.commit("this copy's DVC remote")
    project.git("push", "-q", "origin", "HEAD:refs/heads/main")
    return project


def timed(args: list, project: Project, env: dict) -> float:
    started = time.perf_counter()
    run(args, project.path, env=env, timeout=3600)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=12, choices=(4, 12))
    args = parser.parse_args()
    rates = RATES if args.trials == 12 else RATES[:2]
    sets = ["-S", f"models.quickstart.optimizer.Adam.learning_rate={','.join(rates)}",
            "-S", "models.quickstart.batch_size=32,64"]
    token = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32)}
    os.environ.update(token)
    from ray.cluster_utils import Cluster

    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        team_project(workdir / "base", dataset(6000, 1000))

        def way(name: str) -> tuple[Project, dict]:
            env = {**ENV, **token, "PYTHONPATH": str(ROOT),
                   "MNIST_ZOO_NODE_DIR": str(workdir / name / "nodes")}
            return fresh_copy(workdir / "base", workdir / name), env

        project, env = way("local")
        local = timed([sys.executable, "-m", "stages.sweep", *sets], project, env)
        print(f"stages.sweep, local Ray (one worker per core): {local:.0f}s", flush=True)
        project, env = way("cluster")
        cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0})
        for _ in range(2):
            cluster.add_node(num_cpus=1)
        cluster.wait_for_nodes()
        try:
            three = timed([sys.executable, "-m", "stages.sweep", "--address", cluster.address,
                           *sets], project, env)
        finally:
            cluster.shutdown()
        print(f"stages.sweep, 3-node test cluster (2 workers): {three:.0f}s", flush=True)
        project, _ = way("queue")
        started = time.perf_counter()
        project.dvc("exp", "run", "--queue", *sets)
        project.dvc("queue", "start", "--jobs", "2")
        while any(word in project.dvc("queue", "status").stdout for word in ("Queued",
                                                                              "Running")):
            time.sleep(2)
        queue = time.perf_counter() - started
        print(f"dvc queue start --jobs 2: {queue:.0f}s")
    print(f"\n{args.trials} trials of quickstart (1 epoch, 6,000 digits), {os.cpu_count()} cores:"
          f" local Ray {local:.0f}s, 3-node cluster {three:.0f}s, dvc queue {queue:.0f}s")


if __name__ == "__main__":
    main()
