"""DVC's charts, drawn by Vega with no network: to PNG files, and in DVC's own page.

- `chart_specs` asks DVC for its filled-in chart definitions (`dvc plots show
  --json`, or `dvc plots diff --json` with revisions); `render` draws each
  top-level chart of dvc.yaml (learning curves, the leaderboard) to PNG with
  vl-convert, the same Vega that draws `dvc plots show`. For places that show
  pictures but run no JavaScript: the README, pull-request reports.
- `page` is DVC's HTML page template with Vega, Vega-Lite and vega-embed inline,
  taken from the pinned `vl-convert-python` and checked against the sha256
  recorded here. DVC's default page loads them from a CDN, so with no network
  every chart is blank; `.dvc/config` names this page as `plots.html_template`
  (it is committed: `python -m stages.regenerate` writes it, a test keeps it
  current), so the plain `dvc plots show` and `dvc plots diff` draw anywhere.
  DVC fills `{plot_divs}` by plain text replacement: the bundle goes in verbatim.
"""

from __future__ import annotations

import configparser
import hashlib
import json
import re
import subprocess
from pathlib import Path

from stages.common.cli import UserError
from stages.common.files import atomic_output

DVC_CONFIG = Path(".dvc/config")
# DVC's own templates are written for Vega-Lite 5 ("selection", the v5 $schema).
VEGA_LITE = "5.21"
# sha256 of vl_convert.javascript_bundle(vl_version=VEGA_LITE) from vl-convert-python
# 1.9.0.post1 (requirements.txt): a different bundle is refused, not installed.
BUNDLE_SHA256 = "9568278d3a5a7f71ceef77e8bf3d586baecb43ea9589fb950423cc03908fca39"
PAGE = """<!DOCTYPE html>
<html>
<head>
    <meta charset="utf-8">
    {refresh_tag}
    <title>mnist-zoo plots</title>
    <!-- Vega, Vega-Lite {vega_lite} and vega-embed, inline: no network needed -->
    <script type="text/javascript">
{bundle}
    </script>
    <style>
        body { font-family: sans-serif; }
        table { border-spacing: 15px; }
    </style>
</head>
<body>
    {plot_divs}
</body>
</html>
"""


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
    """A chart's PNG file name: its title, lower case, words joined by dashes."""
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


def template_path() -> Path:
    """Where `.dvc/config` tells DVC its page template is (relative to `.dvc/`)."""
    config = configparser.ConfigParser()
    config.read(DVC_CONFIG)
    return DVC_CONFIG.parent / config["plots"]["html_template"]


def bundle() -> str:
    """The Vega libraries as one script, verified against the pinned checksum."""
    import vl_convert

    code = vl_convert.javascript_bundle(vl_version=VEGA_LITE)
    digest = hashlib.sha256(code.encode()).hexdigest()
    if digest != BUNDLE_SHA256:
        raise UserError(f"the Vega bundle from vl-convert-python has sha256 {digest}, not the "
                        f"pinned {BUNDLE_SHA256}: install requirements.txt's version "
                        "or, after checking a new pin, update BUNDLE_SHA256")
    return code


def page() -> str:
    """DVC's page template, with `{plot_divs}` and `{refresh_tag}` left for DVC."""
    return PAGE.replace("{vega_lite}", VEGA_LITE).replace("{bundle}", bundle())
