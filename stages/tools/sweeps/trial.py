"""One sweep trial, on whichever Ray node runs it: a DVC experiment that comes home.

Everything here runs on a cluster node, which needs the project's Python
environment, git, and access to the git and DVC remotes (docs/sweeps.md#a-cluster),
but not this checkout: `stages.sweep` ships these functions to the
nodes by value. On the node:

1. a mirror of the git remote, kept per node and reused (`git fetch` after the
   first trial), and a DVC cache shared by the node's trials;
2. the trial's own clone at the sweep's commit; one question to each remote, so
   an unreachable one fails in one line naming the node and the remote;
3. `dvc exp run --pull -S ...`: download and prepare come from the DVC remote's
   run-cache, only the swept models train, each epoch backed up in the machine's node
   folder under the trial's name: a trial killed mid-epoch (its driver killed, say)
   resumes from its last finished epoch when the sweep runs it again on that machine;
4. the outputs and run-cache to the DVC remote, then the experiment's git ref
   (forced: a retried trial replaces, never duplicates, an earlier attempt):
   data first, so no experiment is ever visible without its data.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

from stages.tools.children import die_with_parent, error_line
from stages.tools.ray_cluster import machine_dir, node_cache, node_dir

GIT_IDENTITY = {"GIT_AUTHOR_NAME": "mnist-zoo sweep",
                "GIT_AUTHOR_EMAIL": "sweep@mnist-zoo.invalid"}


class TrialError(Exception):
    """A trial that cannot succeed as asked: its one-line reason (not retried)."""


class StartedTrials:
    """A Ray actor: which trial started on which node, for the driver's board."""

    def __init__(self) -> None:
        self.running: dict[str, str] = {}

    def started(self, name: str, node: str) -> None:
        self.running[name] = node

    def snapshot(self) -> dict[str, str]:
        return dict(self.running)


def _env() -> dict:
    env = {**os.environ, "DVC_NO_ANALYTICS": "1"}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    for key, value in GIT_IDENTITY.items():
        env.setdefault(key, value)
    env.setdefault("GIT_COMMITTER_NAME", env["GIT_AUTHOR_NAME"])
    env.setdefault("GIT_COMMITTER_EMAIL", env["GIT_AUTHOR_EMAIL"])
    return env


def _run(args: list, cwd: Path, what: str, on_line=None, env: dict | None = None) -> str:
    """Run a command; on failure raise TrialError with its own last error line. With
    `on_line`, each line of its output is handed over as it is printed."""
    process = subprocess.Popen([str(a) for a in args], cwd=cwd, env={**_env(), **(env or {})},
                               text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               preexec_fn=die_with_parent)
    seen = []
    try:
        for line in process.stdout:
            seen.append(line)
            if on_line:
                on_line(line.rstrip())
    except BaseException:  # the scheduler stopped the trial while it reported an epoch
        process.kill()
        raise
    finally:
        process.wait()
    result = subprocess.CompletedProcess(args, process.returncode, "".join(seen), "")
    if result.returncode:
        raise TrialError(f"{what}: {error_line(result.stdout, 'failed')}")
    return result.stdout


def node_name() -> str:
    import ray

    return f"{socket.gethostname()}/{ray.get_runtime_context().get_node_id()[:8]}"


def _mirror(repo: str) -> tuple[Path, Path]:
    """This node's mirror of the git remote (made once, then fetched), and its DVC cache."""
    home = node_dir() / hashlib.sha256(repo.encode()).hexdigest()[:12]
    home.mkdir(parents=True, exist_ok=True)
    mirror = home / "mirror.git"
    with open(home / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # the node's trials take turns updating it
        if mirror.exists():
            _run(["git", "fetch", "-q", "--prune", "origin", "+refs/heads/*:refs/heads/*",
                  "+refs/sweeps/*:refs/sweeps/*"], mirror, f"git remote {repo}")
        else:
            _run(["git", "clone", "-q", "--mirror", repo, mirror], home, f"git remote {repo}")
    return mirror, node_cache()


EPOCH = re.compile(r"^train@(\w+) epoch (\d+)/(\d+): (.*) \(")
RESUMING = re.compile(r"^resuming train@\w+ at epoch (\d+)/")


def epoch_figures(line: str) -> tuple[str, dict] | None:
    """(model, figures) from a train stage's epoch line, e.g. `train@quickstart epoch 2/5:
    accuracy 0.9 loss 0.3 val_accuracy 0.95 val_loss 0.2 (1.2s)`."""
    found = EPOCH.match(line)
    if not found:
        return None
    words = found[4].split()
    figures = {name: float(value) for name, value in zip(words[::2], words[1::2], strict=True)}
    return found[1], {**figures, "epoch": int(found[2]), "epochs": int(found[3])}


def run_trial(trial: dict, progress=None, on_epoch=None) -> dict:
    """Run one experiment and push it; return its name, node, metrics and seconds.
    With `on_epoch`, each epoch's figures of the trial's model are handed over while
    it trains (for an early-stopping scheduler)."""
    node = node_name()
    if progress is not None:
        progress.started.remote(trial["name"], node)
    started = time.perf_counter()
    try:
        mirror, cache = _mirror(trial["repo"])
    except TrialError as error:
        raise TrialError(f"on node {node}: cannot reach the {error}") from None
    for killed in (mirror.parent / "trials").glob(f"{trial['name']}-*"):
        shutil.rmtree(killed, ignore_errors=True)  # an earlier attempt's clone
    workdir = mirror.parent / "trials" / f"{trial['name']}-{uuid.uuid4().hex[:8]}"
    backups = machine_dir() / "resume" / trial["name"]  # whichever node runs it again
    try:
        _run(["git", "clone", "-q", "--shared", "--no-checkout", mirror, workdir], mirror.parent,
             "git clone")
        _run(["git", "checkout", "-q", trial["commit"]], workdir, "git checkout")
        _run(["git", "remote", "set-url", "origin", trial["repo"]], workdir, "git remote")
        _run(["dvc", "cache", "dir", "--local", cache], workdir, "dvc cache")
        _run(["dvc", "config", "--local", "cache.type", "reflink,hardlink,copy"], workdir,
             "dvc cache")
        for check, where in ((["git", "ls-remote", "-q", "origin", "HEAD"],
                              f"the git remote {trial['repo']}"),
                             ([sys.executable, "-m", "stages.remote", "check"], "the DVC remote")):
            try:
                _run(check, workdir, where)
            except TrialError as error:
                raise TrialError(f"on node {node}: cannot reach {error}") from None
        overrides = [arg for override in trial["overrides"] for arg in ("-S", override)]

        resumed = []

        def hand_over(line: str) -> None:
            if start := RESUMING.match(line):
                resumed.append(int(start[1]))
            found = epoch_figures(line)
            if on_epoch and found and found[0] in trial["models"]:
                on_epoch({**found[1], "resumed_at": min(resumed, default=None)})

        _run(["dvc", "exp", "run", "--pull", "-n", trial["name"], *overrides], workdir,
             f"trial {trial['name']}", hand_over, {"MNIST_ZOO_RESUME_DIR": backups})
        shutil.rmtree(backups, ignore_errors=True)
        _run(["dvc", "push", "--run-cache"], workdir, f"on node {node}: dvc push")
        _run(["dvc", "exp", "push", "--force", "--no-cache", "origin", trial["name"]], workdir,
             f"on node {node}: dvc exp push")
        return {"name": trial["name"], "node": node, "overrides": trial["overrides"],
                "models": trial["models"], "resumed_at": min(resumed, default=None),
                "seconds": round(time.perf_counter() - started, 1),
                "metrics": _metrics(workdir)}
    except BaseException:  # failed or stopped by the scheduler: never resumed
        shutil.rmtree(backups, ignore_errors=True)
        raise
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _metrics(workdir: Path) -> dict:
    """Every model's flat test metrics in the trial's workspace, with its final training
    figures under "train" (val_accuracy, val_loss, ...)."""
    found = {path.stem: json.loads(path.read_text())
             for path in sorted((workdir / "metrics").glob("*.json"))
             if path.stem != "data" and not path.stem.endswith(".per_class")}
    for name, figures in found.items():
        train = workdir / "metrics" / "train" / f"{name}.json"
        if train.is_file():
            figures["train"] = json.loads(train.read_text())
    return found


def prepare_data(trial: dict) -> str:
    """Make sure the DVC remote's run-cache holds download and prepare for the
    sweep's commit, so no trial downloads or prepares anything itself."""
    node = node_name()
    mirror, cache = _mirror(trial["repo"])
    workdir = mirror.parent / "trials" / f"data-{uuid.uuid4().hex[:8]}"
    try:
        _run(["git", "clone", "-q", "--shared", "--no-checkout", mirror, workdir], mirror.parent,
             "git clone")
        _run(["git", "checkout", "-q", trial["commit"]], workdir, "git checkout")
        _run(["dvc", "cache", "dir", "--local", cache], workdir, "dvc cache")
        try:
            _run([sys.executable, "-m", "stages.remote", "check"], workdir, "the DVC remote")
        except TrialError as error:
            raise TrialError(f"on node {node}: cannot reach {error}") from None
        _run(["dvc", "repro", "--pull", "prepare"], workdir, "download and prepare")
        _run(["dvc", "push", "--run-cache"], workdir, f"on node {node}: dvc push")
        return node
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
