"""Where the warm start runs: Linux alone (its children die with the server through
Linux's prctl); elsewhere a stage runs as a plain process (tests/pipeline/test_warm_start.py
runs one so and compares its bytes)."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize(("platform", "expected"), [("linux", True), ("darwin", False),
                                                    ("win32", False)])
def test_the_warm_start_runs_on_linux_alone(monkeypatch, platform, expected):
    from stages.tools.warm import client

    monkeypatch.setattr(client, "PLATFORM", platform)
    monkeypatch.delenv(client.SWITCH, raising=False)
    monkeypatch.delenv(client.IN_CHILD, raising=False)
    monkeypatch.delenv("MNIST_ZOO_TF_LOG", raising=False)
    assert client.supported() is expected and client.enabled() is expected
