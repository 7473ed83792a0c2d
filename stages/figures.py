"""The pipeline's Vega charts as PNG files, drawn without a browser.

    python -m stages.figures --out docs/images              # this workspace
    python -m stages.figures --out figures --rev main       # main against this workspace

Asks DVC for its filled-in chart definitions (`dvc plots show --json`, or
`dvc plots diff --json` with revisions) and renders each top-level chart of
dvc.yaml (learning curves, the leaderboard) with vl-convert, the same Vega
that draws `dvc plots show`. For places that show pictures but run no
JavaScript: the README, pull-request comments.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path

from stages.cli import UserError, run
from stages.dataio import atomic_output


def chart_specs(revisions: list[str]) -> dict[str, dict]:
    """Title -> filled Vega-Lite spec of every top-level (named) chart DVC draws."""
    command = ["dvc", "plots", *(["diff", *revisions] if revisions else ["show"]), "--json"]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode:
        raise UserError(f"`{' '.join(command)}` failed: {result.stderr.strip()[-300:]}")
    plots = json.loads(result.stdout)["data"]
    return {name: charts[0]["content"] for name, charts in plots.items()
            if "/" not in name and charts and charts[0]["type"] == "vega"}


def file_name(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-") + ".png"


def render(specs: dict[str, dict], out: Path, scale: float = 2) -> list[Path]:
    """One PNG per chart, named after its title."""
    import vl_convert

    written = []
    for title, spec in specs.items():
        path = out / file_name(title)
        with atomic_output(path) as tmp:
            tmp.write_bytes(vl_convert.vegalite_to_png(spec, scale=scale))
        written.append(path)
    return written


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
        print(f"figures: wrote {path}")


if __name__ == "__main__":
    run(lambda: main(sys.argv[1:]))
