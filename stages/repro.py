"""`dvc repro`, with independent stages run side by side on this machine or a Ray cluster.

    python -m stages.repro [--jobs N] [--address auto|ray://head:10001] [TARGETS...]

DVC decides what is stale and what it stores; this decides only where each
stage runs (`stages.parallel.scheduler`). The workspace, dvc.lock and the DVC cache
end as a plain `dvc repro TARGETS` leaves them, and the run-cache holds every
stage, so a teammate's `dvc repro --pull` restores them. One line per stage
started and finished, with its figures and the counts of stages waiting,
running and done. A failing stage is named with its message; the stages that
do not depend on it still finish and are kept. Ctrl-C stops the running stages
and keeps every finished one.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from stages.common.cli import UserError, run
from stages.parallel.scheduler import Home, LocalRunner, RayRunner, Scheduler


def default_jobs() -> int:
    """One stage per core: a stage trains on one thread per op (stages/modeling/backend.py),
    so each keeps about one core busy (measured in the README's Benchmarks)."""
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
    home = Home()
    plan = home.plan(args.targets)
    jobs = args.jobs or (len(plan.order) if args.address else default_jobs())
    runner = (RayRunner(args.address) if args.address else
              LocalRunner(jobs, home))
    scheduler = Scheduler(plan, home, jobs, runner, remote=bool(args.address))
    print(f"repro: {len(plan.order)} stages, up to {min(jobs, len(plan.order))} at a time"
          f"{' on ' + args.address if args.address else ''}", flush=True)
    try:
        scheduler.run()
    except KeyboardInterrupt:
        scheduler.stop()
        print(f"interrupted: stopped the running stages; {len(scheduler.done)} finished "
              "stage(s) are kept", file=sys.stderr)
        sys.exit(130)
    print(f"repro: {len(scheduler.ran)} ran, {len(scheduler.done) - len(scheduler.ran)} up to "
          f"date, {len(scheduler.failed)} failed, {len(scheduler.skipped)} not run in "
          f"{time.perf_counter() - started:.1f}s", flush=True)
    if scheduler.failed:
        raise UserError(f"{len(scheduler.failed)} stage(s) failed: " + "; ".join(
            f"{stage}: {reason}" for stage, reason in scheduler.failed.items()))


if __name__ == "__main__":
    run(lambda: main(sys.argv[1:]))
