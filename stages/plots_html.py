"""Write the page template that makes `dvc plots show/diff` draw with no network.

    python -m stages.plots_html        # `make install` runs it

`.dvc/config` names `.dvc/plots/offline.html` as DVC's `plots.html_template`;
this writes it: DVC's own page with Vega, Vega-Lite and vega-embed inline
(`stages.reporting.offline_page`).
"""

from __future__ import annotations

import sys

from stages.common.cli import run
from stages.data.files import write_text
from stages.reporting.offline_page import TEMPLATE, VEGA_LITE, page


def main() -> None:
    """Write the offline template where `.dvc/config` points DVC."""
    write_text(TEMPLATE, page())
    print(f"plots: wrote {TEMPLATE} (Vega-Lite {VEGA_LITE} inline)")


if __name__ == "__main__":
    run(lambda: main() if not sys.argv[1:] else sys.exit(__doc__))
