"""`dvc plots show` and `dvc plots diff` draw every chart with no network, seen in
a real browser (headless Chromium); DVC's default page draws none; and
`python -m stages.charts` renders the same chart definitions to PNG."""

from __future__ import annotations

import os
from pathlib import Path

from browser import charts_in, open_offline
from harness import MODELS, ROOT, Project, run

ARTIFACTS = Path(os.environ.get("MNIST_ZOO_ARTIFACTS", ROOT / "test-artifacts"))
TITLES = {"validation accuracy", "validation loss", "test accuracy vs training time",
          *(f"{model}: test confusion matrix" for model in MODELS)}


def assert_every_chart_drawn(page: Path, drawn: list, errors: list) -> dict[str, dict]:
    """Each chart of the page has an SVG with marks and its title; the console is clean."""
    titles = charts_in(page)
    assert set(titles.values()) == TITLES
    for chart in drawn:
        title = titles[chart["id"]]
        assert chart["svg"] and chart["marks"] > 0, f"{title}: Vega drew nothing"
        assert title in chart["text"], f"{title}: the title is missing"
    assert errors == [], errors
    return {titles[chart["id"]]: chart for chart in drawn}


def test_plots_show_draws_every_chart_offline(reproduced_copy):
    out = reproduced_copy.path / "plots_html"
    reproduced_copy.dvc("plots", "show", "-o", out)  # the plain command: .dvc/config's template
    drawn, errors = open_offline(out / "index.html", ARTIFACTS / "dvc-plots-show-offline.png")
    charts = assert_every_chart_drawn(out / "index.html", drawn, errors)
    for model in MODELS:
        assert model in charts["validation accuracy"]["text"]  # one legend entry each


def test_a_clone_that_ran_only_dvc_repro_draws_offline(reproduced, tmp_path):
    """No `make`: the page template is committed, so a clone that ran only `dvc repro`
    (here from the run-cache it shares) draws every chart with no network."""
    clone = tmp_path / "clone"
    run(["git", "clone", "-q", reproduced.path, clone], tmp_path)
    project = Project(clone)
    assert project.git("ls-files", ".dvc/plots/offline.html").stdout.strip()
    project.dvc("cache", "dir", "--local", reproduced.path / ".dvc/cache")
    assert not project.repro().ran - {"validate", "report"}  # nothing trained
    project.dvc("plots", "show", "-o", clone / "plots_html")
    drawn, errors = open_offline(clone / "plots_html/index.html",
                                 ARTIFACTS / "dvc-plots-show-fresh-clone.png")
    assert_every_chart_drawn(clone / "plots_html/index.html", drawn, errors)


def test_plots_diff_draws_every_chart_for_both_revisions_offline(reproduced_copy):
    project = reproduced_copy
    project.set_params({"models.quickstart.epochs": 2})
    project.dvc("repro")
    out = project.path / "diff_html"
    project.dvc("plots", "diff", "HEAD", "-o", out)
    drawn, errors = open_offline(out / "index.html", ARTIFACTS / "dvc-plots-diff-offline.png")
    charts = assert_every_chart_drawn(out / "index.html", drawn, errors)
    for title, chart in charts.items():
        assert "HEAD" in chart["text"] and "workspace" in chart["text"], title


def test_dvcs_default_page_draws_nothing_offline(reproduced_copy, tmp_path):
    """What the offline template fixes: DVC's own page fetches Vega from a CDN."""
    from dvc_render.html import PAGE_HTML

    default = tmp_path / "default.html"
    default.write_text(PAGE_HTML)
    out = reproduced_copy.path / "default_html"
    reproduced_copy.dvc("plots", "show", "--html-template", default, "-o", out)
    drawn, errors = open_offline(out / "index.html", ARTIFACTS / "dvc-default-page-offline.png",
                                 settle_ms=3000)
    assert len(drawn) == len(TITLES) and all(chart["marks"] == 0 for chart in drawn)
    assert any("vegaEmbed is not defined" in error for error in errors), errors


def test_figures_render_the_same_charts_to_png(reproduced_copy, tmp_path):
    """The pictures for the README and pull-request comments, without a browser."""
    for out in (tmp_path / "first", tmp_path / "second"):
        reproduced_copy.python("-m", "stages.charts", "--out", out)
    files = sorted(path.name for path in (tmp_path / "first").iterdir())
    assert files == ["test-accuracy-vs-training-time.png", "validation-accuracy.png",
                     "validation-loss.png"]
    for name in files:
        data = (tmp_path / "first" / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000, name
        assert (tmp_path / "second" / name).read_bytes() == data, f"{name} differs"
