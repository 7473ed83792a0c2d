"""`dvc repro`, with independent stages run side by side on this machine or a Ray cluster.

    python -m stages.repro [--jobs N] [--address auto|ray://head:10001] [TARGETS...]

DVC decides what is stale, runs each stage and stores it; this decides only when,
and where, each stage runs: in this workspace, up to --jobs at a time
(`stages.tools.parallel.workspace`), or on the nodes of a Ray cluster
(`stages.tools.parallel.on_ray`). The workspace, dvc.lock and the run-cache end as a
plain `dvc repro TARGETS` leaves them. One line per stage started and done,
the stages' own lines between. A failing stage is named with its message; the
stages that do not depend on it still finish and are kept. Ctrl-C stops the
running stages and keeps every finished one.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from stages.common.cli import UserError, run
from stages.tools.parallel.on_ray import ClusterRun, RayRunner
from stages.tools.parallel.plan import Home
from stages.tools.parallel.workspace import WorkspaceRun
from stages.tools.warm import client as warm_start


def default_jobs() -> int:
    """One stage per core: a stage trains on one thread per op (stages/modeling/backend.py),
    so each keeps about one core busy (measured: docs/benchmarks.md)."""
    return max(1, os.cpu_count() or 1)


def main(argv: list[str] | None = None) -> None:
    """Plan with DVC, run the stages where they fit, report, exit 1 on any failure."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("targets", nargs="*", help="stages or dvc.yaml files (default: all)")
    parser.add_argument("-j", "--jobs", type=int,
                        help="stages at a time (default: one per core here; on a cluster, "
                             "one per CPU of the cluster, as Ray places them)")
    parser.add_argument("--address", help="a Ray cluster: auto, or ray://head:10001 "
                                          "(default: this machine)")
    args = parser.parse_args(argv)
    if args.jobs is not None and args.jobs < 1:
        raise UserError("--jobs must be at least 1")
    started = time.perf_counter()
    if not args.address:  # TensorFlow's import under way while DVC plans and the first stages run
        warm_start.start_ahead()
    home = Home()
    plan = home.plan(args.targets)
    jobs = args.jobs or (len(plan.order) if args.address else default_jobs())
    runner = (ClusterRun(plan, home, jobs, RayRunner(args.address), remote=True)
              if args.address else WorkspaceRun(plan, home, jobs))
    print(f"repro: {len(plan.order)} stages, up to {min(jobs, len(plan.order))} at a time"
          f"{' on ' + args.address if args.address else ''}", flush=True)
    try:
        runner.run()
    except KeyboardInterrupt:
        runner.stop()
        print(f"interrupted: stopped the running stages; {len(runner.ran)} finished "
              "stage(s) are kept", file=sys.stderr)
        sys.exit(130)
    print(f"repro: {len(runner.ran)} ran, {len(runner.restored)} from the run-cache, "
          f"{len(runner.up_to_date)} up to date, {len(runner.failed)} failed, "
          f"{len(runner.skipped)} not run in {time.perf_counter() - started:.1f}s", flush=True)
    if runner.failed:
        raise UserError(f"{len(runner.failed)} stage(s) failed: " + "; ".join(
            f"{stage}: {reason}" for stage, reason in runner.failed.items()))


if __name__ == "__main__":
    run(lambda: main(sys.argv[1:]))
