"""The committed files generated from code are current, so a clone needs no `make` for
them: the params schema editors read, and the page `dvc plots show` draws offline."""

from __future__ import annotations

import contextlib
import json

import pytest

from harness import ROOT
from stages import regenerate


@pytest.mark.parametrize("path", ["params.schema.json", ".dvc/plots/offline.html",
                                  "README.md", "docs/benchmarks.md", "docs/tests.md"])
def test_every_generated_file_is_committed_and_current(path):
    with contextlib.chdir(ROOT):
        wanted = {str(p): text for p, text in regenerate.generated().items()}
    assert path in wanted
    assert (ROOT / path).read_text() == wanted[path], (
        f"{path} is stale: run `python -m stages.regenerate` and commit it")


def test_dvc_is_pointed_at_the_offline_page():
    with contextlib.chdir(ROOT):
        from stages.reporting import vega

        assert vega.template_path().as_posix() == ".dvc/plots/offline.html"


def test_each_results_table_is_shown_once_and_exists():
    from benchmarks import results

    shown = [table for _, table in results.shown()]
    assert len(shown) == len(set(shown)), "a results table shown twice: link to it instead"
    for table in shown:
        name, key = table.split(".")
        found = json.loads((ROOT / "benchmarks" / "results" / f"{name}.json").read_text())
        assert key in found["tables"], table
        assert {"commit", "cpu", "cores", "date"} <= set(found), table


def test_a_results_table_changed_by_hand_is_caught(tmp_path):
    """The check above compares against the file: a figure typed over is stale."""
    from benchmarks import results

    readme = (ROOT / "README.md").read_text()
    table = results.MARKER.search(readme)
    assert table, "the README shows no results table"
    edited = readme.replace(table[4], table[4].replace("|", "| 9", 1), 1)
    assert results.rendered(edited) != edited and results.rendered(edited) == readme
