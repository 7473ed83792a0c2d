"""What a grid and a search share: the commit every trial starts from, Ray, the data.

Trials start from this workspace's last commit, pushed to the git remote as
`refs/sweeps/<commit>` so every node can fetch it; Ray runs them (a cluster, or a
local instance of our own); the data stages run once, on a node, into the DVC
remote's run-cache, before any trial; `dvc exp pull` brings the finished ones home.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from stages.common.cli import UserError
from stages.tools import ray_cluster
from stages.tools.children import error_line
from stages.tools.sweeps import trial

SWEEPS = Path("reports/sweeps")  # every sweep's report (and a search's Ray Tune state)


def git(*args: str) -> str:
    """Run git here; its output, or one line naming what failed."""
    result = subprocess.run(["git", *args], capture_output=True, text=True, check=False)
    if result.returncode:
        raise UserError(f"git {' '.join(args)}: {error_line(result.stderr)}")
    return result.stdout.strip()


def dvc(*args: str) -> None:
    """Run dvc (this environment's) here, or one line naming what failed."""
    command = Path(sys.executable).parent / "dvc"
    result = subprocess.run([str(command), *args], capture_output=True, text=True, check=False)
    if result.returncode:
        raise UserError(f"dvc {' '.join(args[:2])}: {error_line(result.stderr)}")


def publish_commit(remote: str) -> tuple[str, str]:
    """The git remote's URL and the commit every trial starts from: this HEAD,
    which must hold every change (trials clone it) and is pushed to the remote as
    refs/sweeps/<commit> so every node can fetch it."""
    if git("status", "--porcelain", "--untracked-files=no"):
        raise UserError("the workspace has uncommitted changes, and trials start from the last "
                        "commit: commit them (or stash them) first")
    url, commit = git("remote", "get-url", remote), git("rev-parse", "HEAD")
    git("push", "-q", remote, f"{commit}:refs/sweeps/{commit}")
    return url, commit


def connect(address: str | None, *shipped):
    """Ray for a sweep: the trials' code goes to the nodes by value."""
    return ray_cluster.connect(address, trial, *shipped)


def reason(error: Exception) -> str:
    """A failed Ray task's one line: the trial's own error, not Ray's traceback."""
    return ray_cluster.task_error(error, trial.TrialError)


def prepare_data(ray, job: dict) -> None:
    """Download and prepare once, on a node, into the DVC remote's run-cache."""
    try:
        ray.get(ray.remote(num_cpus=1)(trial.prepare_data).remote(job))
    except ray.exceptions.RayTaskError as error:
        raise UserError(f"preparing the data: {reason(error)}") from None
