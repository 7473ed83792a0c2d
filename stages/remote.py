"""Ask the team's DVC remote once, before sharing with it (`make pull`, `make push`).

    python -m stages.remote check [--remote NAME]
    python -m stages.remote pull-changed     (make pull-changed, CI's pipeline job)

One line: the remote answers, or what is wrong and how to fix it
(`stages.tools.sharing.remote_check`), instead of DVC's one error per file.
`pull-changed` asks so too, then runs what this branch changed, downloading only what
that needs (`stages.tools.sharing.pull_changed`).
"""

from __future__ import annotations

import argparse
import sys

from stages.common.cli import run
from stages.tools.sharing.pull_changed import pull_changed
from stages.tools.sharing.remote_check import check


def main(argv: list[str] | None = None) -> None:
    """Command line: `check` the default (or a named) remote."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["check", "pull-changed"])
    parser.add_argument("--remote", help="a remote name (default: the default remote)")
    args = parser.parse_args(argv)
    print(f"remote: {check(args.remote)}", flush=True)
    if args.command == "pull-changed":
        pull_changed()


if __name__ == "__main__":
    run(lambda: main(sys.argv[1:]))
