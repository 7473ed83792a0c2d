"""DVC stages in a scratch copy of the workspace, on a node of a Ray cluster.

`run` works on a Ray node that needs the project's Python environment but not
this checkout (`stages.repro --address` ships this module to the nodes by
value). A scratch copy is:

1. the workspace's small files, as git sees them (code, params.yaml, the values
   `validate` handed on), and a dvc.lock holding every stage finished so far;
2. one Python process in it (`python -m stages.tools.parallel.scratch`, from the
   copy's own code) that asks DVC, through its Python API, to pull the stages'
   inputs from the DVC remote into the node's cache, then to reproduce each
   stage alone (`reproduce(single_item=True)`): DVC decides whether it changed,
   and runs it or takes it from its run-cache. Outputs and the run-cache entry
   are pushed to the DVC remote.

The workspace then takes the results from the run-cache (`stages.tools.parallel.on_ray`).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

from stages.tools import ray_cluster
from stages.tools.children import cause, die_with_parent, error_line

ACTIVE: set[subprocess.Popen] = set()  # scratch processes started here, for `stop`


@dataclass
class Job:
    """Stages to run one after the other in one scratch copy, and what it starts from."""

    stages: list[str]
    inputs: list[str]          # stages whose outputs they read (DVC checks them out)
    snapshot: bytes            # a tar of the workspace's small files
    lock: dict                 # dvc.lock, with every stage finished so far


@dataclass
class Result:
    """What became of one stage: its own last line (or its error) and its lock entry."""

    stage: str
    ok: bool
    seconds: float
    node: str
    summary: str
    entry: dict | None = None  # its dvc.lock entry
    ran: bool = False          # False: DVC found it up to date, or in the run-cache


def snapshot(files: list[str], root: Path) -> bytes:
    """A tar of the given workspace files (paths relative to `root`)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name in files:
            if (root / name).is_file():
                tar.add(root / name, arcname=name, recursive=False)
    return buffer.getvalue()


def stop() -> None:
    """Interrupt every scratch process started here (Ctrl-C), as a terminal would."""
    for process in list(ACTIVE):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGINT)


def _node() -> str:
    """This machine, and on a Ray node which node (several can share a machine)."""
    name = os.uname().nodename
    with contextlib.suppress(ImportError):
        import ray

        if ray.is_initialized():
            name += f"/{ray.get_runtime_context().get_node_id()[:8]}"
    return name


def _config() -> str:
    """No git in a scratch copy; the node's own DVC cache, kept between jobs and shared
    with the node's sweep trials."""
    return ("[core]\n    no_scm = true\n    analytics = false\n"
            f"[cache]\n    dir = {ray_cluster.node_cache()}\n"
            "    type = \"reflink,hardlink,copy\"\n")


def run(job: Job) -> list[Result]:
    """Run the job's stages in a fresh scratch copy; a stage's failure is a Result."""
    started = time.perf_counter()
    node = _node()
    scratch = Path(tempfile.mkdtemp(prefix=f"{job.stages[0].replace('@', '-')}-"))
    try:
        with tarfile.open(fileobj=io.BytesIO(job.snapshot)) as tar:
            tar.extractall(scratch, filter="data")
        if job.lock.get("stages"):
            (scratch / "dvc.lock").write_text(yaml.safe_dump(job.lock, sort_keys=False))
        (scratch / ".dvc" / "config.local").write_text(_config())
        args = [sys.executable, "-m", "stages.tools.parallel.scratch", "--results",
                "results.json", *job.stages,
                *(arg for stage in job.inputs for arg in ("--input", stage))]
        path = os.pathsep.join(filter(None, [str(scratch), os.environ.get("PYTHONPATH")]))
        env = {**os.environ, "DVC_NO_ANALYTICS": "1", "PYTHONPATH": path,
               "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
        process = subprocess.Popen(args, cwd=scratch, env=env, text=True, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, start_new_session=True,
                                   preexec_fn=die_with_parent)
        ACTIVE.add(process)
        try:
            output, _ = process.communicate()
        finally:
            ACTIVE.discard(process)
        return _results(job, scratch, output, node, time.perf_counter() - started)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _results(job: Job, scratch: Path, output: str, node: str, seconds: float) -> list[Result]:
    """One Result per stage of the job, from what the scratch process wrote and said."""
    found = json.loads((scratch / "results.json").read_text()) if (
        scratch / "results.json").is_file() else {}
    lockfile = scratch / "dvc.lock"
    entries = (yaml.safe_load(lockfile.read_text()) or {}).get("stages", {}) if \
        lockfile.is_file() else {}
    lines = output.splitlines()
    results = []
    for stage in job.stages:
        outcome = found.get(stage)
        if outcome is None:  # never reached: an earlier stage failed, or the process died
            why = next((r.summary for r in results if not r.ok), None) or error_line(
                output, "the scratch process died")
            results.append(Result(stage, False, seconds, node, f"not run: {why}"))
            continue
        mine = [line.split(": ", 1)[1] for line in lines if line.startswith(f"{stage}: ")]
        if "error" in outcome:  # the stage's own one-line error, else DVC's
            summary = error_line(output) if any(
                line.startswith("error: ") for line in lines) else outcome["error"]
        else:
            summary = mine[-1] if mine else "up to date"
        results.append(Result(stage, "error" not in outcome, outcome["seconds"], node, summary,
                               entries.get(stage), outcome.get("ran", False)))
    return results


# Inside the scratch copy -------------------------------------------------------------

def _reproduce(repo, stage: str) -> dict:
    from dvc.exceptions import DvcException

    started = time.perf_counter()
    try:
        done = repo.reproduce(stage, single_item=True)
        repo.push(targets=[stage], run_cache=True)
    except DvcException as error:
        return {"error": cause(error), "seconds": time.perf_counter() - started}
    return {"ran": bool(done), "seconds": time.perf_counter() - started}


def main(argv: list[str]) -> None:
    """`python -m stages.tools.parallel.scratch --results FILE STAGE... [--input S]...`"""
    import argparse

    from dvc.exceptions import DvcException
    from dvc.repo import Repo

    parser = argparse.ArgumentParser()
    parser.add_argument("stages", nargs="+")
    parser.add_argument("--input", action="append", default=[])
    parser.add_argument("--results", type=Path, required=True)
    args = parser.parse_args(argv)
    results: dict[str, dict] = {}
    with Repo() as repo:
        try:
            if args.input:
                repo.pull(targets=args.input)
        except DvcException as error:
            print(f"error: the inputs {', '.join(args.input)}: {cause(error)}", flush=True)
            sys.exit(1)
        for stage in args.stages:
            results[stage] = _reproduce(repo, stage)
            args.results.write_text(json.dumps(results))
            if "error" in results[stage]:
                break


if __name__ == "__main__":
    main(sys.argv[1:])
