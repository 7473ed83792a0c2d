"""The page template that makes `dvc plots show` and `dvc plots diff` draw offline.

DVC's default page loads Vega, Vega-Lite and vega-embed from a CDN, so with no
network every chart is blank. This writes `.dvc/plots/offline.html`, the same
page with the three libraries inline, taken from the pinned `vl-convert-python`
package and checked against the sha256 recorded here; `.dvc/config` names it as
DVC's `plots.html_template`, so the plain commands use it. DVC fills
`{plot_divs}` by plain text replacement: the bundle goes in verbatim.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from stages.common.cli import UserError

TEMPLATE = Path(".dvc/plots/offline.html")
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


def bundle() -> str:
    """The Vega libraries as one script, verified against the pinned checksum."""
    import vl_convert

    code = vl_convert.javascript_bundle(vl_version=VEGA_LITE)
    digest = hashlib.sha256(code.encode()).hexdigest()
    if digest != BUNDLE_SHA256:
        raise UserError(f"the Vega bundle from vl-convert-python has sha256 {digest}, not the "
                        f"pinned {BUNDLE_SHA256}: install requirements.txt's version "
                        "(`make install`) or, after checking a new pin, update BUNDLE_SHA256")
    return code


def page() -> str:
    """DVC's page template, with `{plot_divs}` and `{refresh_tag}` left for DVC."""
    return PAGE.replace("{vega_lite}", VEGA_LITE).replace("{bundle}", bundle())
