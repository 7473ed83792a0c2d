"""The pipeline's Vega charts as PNG files, drawn without a browser.

Asks DVC for its filled-in chart definitions (`dvc plots show --json`, or
`dvc plots diff --json` with revisions) and renders each top-level chart of
dvc.yaml (learning curves, the leaderboard) with vl-convert, the same Vega
that draws `dvc plots show`. For places that show pictures but run no
JavaScript: the README, pull-request comments.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

from stages.common.cli import UserError
from stages.data.files import atomic_output


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
