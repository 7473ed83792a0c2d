"""Sweeps over a Ray cluster, each trial a DVC experiment that comes home.

    python -m stages.sweep -S 'models.quickstart.optimizer.Adam.learning_rate=0.0003,0.001' \\
                           -S 'models.quickstart.batch_size=32,128' \\
                           [--address auto | ray://head:10001] [--remote origin]
    python -m stages.sweep --search tpe --trials 40 --metric val_accuracy \\
        -S 'models.quickstart.optimizer.Adam.learning_rate=tag(log, interval(1e-4, 1e-2))' \\
        -S 'models.quickstart.layers[1].Dense.units=choice(64, 128, 256)' \\
        [--early-stop asha] [--resume] [--address ...] [--remote origin]

Without --search, a grid: every combination of the `-S` lists
(`stages.tools.sweeps.grid`). With it, TPE or random search, optionally with ASHA
early stopping, resumable (`stages.tools.sweeps.search`). Either way every trial is
checked against the params schema before anything is scheduled, runs as
`dvc exp run` on a Ray node (`stages.tools.sweeps.trial`), and comes home with
`dvc exp pull`; the report is printed and written to reports/sweeps/. With no
--address, a local Ray instance with one worker per core runs the trials.
"""

from __future__ import annotations

import argparse
import sys

from stages.common.cli import UserError, run
from stages.tools.sweeps import grid, search


def main(argv: list[str] | None = None) -> None:
    """A grid or a search: check it, run it on Ray, bring every trial home, summarize."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-S", "--set-param", dest="overrides", action="append", required=True,
                        help="a DVC override, e.g. models.quickstart.epochs=1,2,3")
    parser.add_argument("--address", help="a Ray cluster: auto, or ray://head:10001 "
                                          "(default: a local Ray instance, one worker per core)")
    parser.add_argument("--remote", default="origin", help="the team's git remote")
    searching = parser.add_argument_group("a search (instead of a grid)")
    searching.add_argument("--search", choices=["tpe", "random"],
                           help="Optuna's TPE, or random sampling, over the -S space")
    searching.add_argument("--trials", type=int, default=20, help="trials to run (20)")
    searching.add_argument("--metric", default="val_accuracy", choices=search.FIGURES,
                           help="the per-epoch figure of the searched model to optimize")
    searching.add_argument("--early-stop", choices=["asha"],
                           help="stop trials doing worse than their peers at the same epoch")
    searching.add_argument("--resume", action="store_true",
                           help="continue the search these arguments started")
    searching.add_argument("--concurrent", type=int, help="trials at a time (default: as "
                                                          "many as the cluster has CPUs)")
    searching.add_argument("--seed", type=int, default=0, help="the searcher's seed (0)")
    args = parser.parse_args(argv)
    if args.search:
        search.run(args, argv or [])
    elif args.resume or args.early_stop:
        raise UserError("--resume and --early-stop go with --search (a grid runs every trial)")
    else:
        grid.run(args)


if __name__ == "__main__":
    run(lambda: main(sys.argv[1:]))
