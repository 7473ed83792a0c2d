"""The committed files generated from code are current, so a clone needs no `make` for
them: the params schema editors read, and the page `dvc plots show` draws offline."""

from __future__ import annotations

import contextlib

import pytest

from harness import ROOT
from stages import regenerate


@pytest.mark.parametrize("path", ["params.schema.json", ".dvc/plots/offline.html"])
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
