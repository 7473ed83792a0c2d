"""Merges that need no hand: git merge drivers for what the pipeline writes.

    python -m stages.merge install        # once per clone (`make install` runs it)
    python -m stages.merge lock BASE OURS THEIRS PATH     # git runs these two
    python -m stages.merge output BASE OURS THEIRS PATH

`.gitattributes` (committed) names the drivers for dvc.lock and for the pipeline's
outputs that git holds; `install` defines them in this clone's git config (git
keeps its configuration per clone, so a clone that skipped it merges these files
line by line, as before). `lock` merges dvc.lock stage by stage; `output` keeps our
side of a generated file both branches changed (`stages.tools.sharing.lock_merge`).
After a merge, `dvc repro` reruns, or takes from the run-cache, what it dropped.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from stages.common.cli import UserError, run
from stages.tools.sharing.lock_merge import merge_lock_files

DRIVERS = {  # the names .gitattributes uses -> what they merge
    "dvc-lock": "dvc.lock, stage by stage (mnist-zoo)",
    "pipeline-output": "an output the pipeline writes: ours, until dvc repro (mnist-zoo)",
}


def install() -> None:
    """Define the drivers in this clone's git config, with this Python."""
    for name, description in DRIVERS.items():
        kind = "lock" if name == "dvc-lock" else "output"
        driver = f"{sys.executable} -m stages.merge {kind} %O %A %B %P"
        for key, value in (("name", description), ("driver", driver)):
            result = subprocess.run(["git", "config", f"merge.{name}.{key}", value],
                                    capture_output=True, text=True, check=False)
            if result.returncode:
                raise UserError(f"git config: {result.stderr.strip() or 'failed'} (run this "
                                "in a clone of the project)")
    print("merge: git merges dvc.lock stage by stage and keeps the pipeline's own outputs "
          "for `dvc repro` in this clone")


def main(argv: list[str] | None = None) -> None:
    """Command line: install, or one merge as git asks for it."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("what", choices=["install", "lock", "output"])
    parser.add_argument("files", nargs="*", type=Path, help="BASE OURS THEIRS PATH (git's)")
    args = parser.parse_args(argv)
    if args.what == "install":
        install()
    elif args.what == "lock":
        base, ours, theirs, path = args.files
        dropped = merge_lock_files(base, ours, theirs)
        if dropped:
            print(f"merge: {path}: {', '.join(dropped)} changed on both sides; "
                  "`dvc repro` reruns (or restores) them", file=sys.stderr)
    # "output": ours stays in place (git's %A); dvc repro writes it anew


if __name__ == "__main__":
    run(lambda: main(sys.argv[1:]))
