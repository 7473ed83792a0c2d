"""This branch against the one it forked from, as one Markdown report.

    python -m stages.compare [BASE] [--out reports/compare]

Per model, test accuracy and loss on both sides with the change and an arrow; the
params that changed; which stages this branch changed, and which of them ran here
or came from the DVC cache or run-cache; both sides' learning curves as one PNG per
model whose training changed (into --out). BASE defaults to the branch this one
forked from. Its results are read as `dvc metrics diff` reads them: from the DVC
cache, or the DVC remote. A base with no results says so in one line.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from stages.common.cli import run
from stages.tools.sharing.comparison import report
from stages.tools.sharing.revisions import Revision, fork_base


def main(argv: list[str] | None = None) -> None:
    """Command line: print the report."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("base", nargs="?", help="a branch or commit (default: the branch "
                                                "this one forked from)")
    parser.add_argument("--out", type=Path, default=Path("reports/compare"),
                        help="folder for the learning-curve pictures (reports/compare)")
    args = parser.parse_args(argv)
    print(report(Revision(args.base or fork_base()), Revision(None), args.out), end="")


if __name__ == "__main__":
    run(lambda: main(sys.argv[1:]))
