"""Draw the pipeline's charts as PNG files, with no browser (`make charts`).

    python -m stages.charts --out docs/images              # this workspace
    python -m stages.charts --out charts --rev main        # main against this workspace

The top-level charts of dvc.yaml (learning curves, the leaderboard), filled in
by DVC and drawn by the same Vega as `dvc plots show` (`stages.reporting.vega`).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from stages.common.cli import UserError, run
from stages.reporting.vega import chart_specs, render


def main(argv: list[str] | None = None) -> None:
    """Command line: render the charts to --out."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for the PNG files")
    parser.add_argument("--rev", nargs="*", default=[],
                        help="revisions to compare with the workspace (dvc plots diff)")
    args = parser.parse_args(argv)
    specs = chart_specs(args.rev)
    if not specs:
        raise UserError("DVC has no charts to draw yet: run `dvc repro` first")
    for path in render(specs, args.out):
        print(f"charts: wrote {path}")


if __name__ == "__main__":
    run(lambda: main(sys.argv[1:]))
