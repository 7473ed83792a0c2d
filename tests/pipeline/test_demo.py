"""A first run speaks only when it has something to say: `make demo`'s command in a
fresh clone prints what each stage did and its figures, no TensorFlow start-up log,
no CUDA error on a machine without a GPU, no model-summary boxes, no wall of DVC
warnings."""

from __future__ import annotations

import re

import pytest

from harness import MODELS, Project, run_module

TENSORFLOW_LOG = re.compile(r"^[IWEF]\d{4} |absl::|cuda|cuInit|oneDNN|cpu_feature_guard|"
                            r"rebuild TensorFlow|tensorflow/", re.IGNORECASE)


@pytest.mark.slow
def test_the_demo_prints_what_happened_and_nothing_else(tmp_path, mirror):
    project = Project.create(tmp_path / "project", mirror["npz_url"], mirror["npz_sha256"])
    result = run_module(project.path, "stages.demo", "--train", "2000", "--test", "500",
                        check=True)
    lines = (result.stdout + result.stderr).splitlines()
    assert [line for line in lines if TENSORFLOW_LOG.search(line)] == []
    assert len([line for line in lines if "WARNING" in line]) <= 3, result.stderr
    assert not any(char in result.stdout for char in "┏━┃│└"), "a model summary box"
    for model in MODELS:  # one line for the model, one per epoch, one per result
        mine = [line.split(":")[0] for line in lines if line.startswith(f"train@{model}")]
        assert mine == [f"train@{model}", f"train@{model} epoch 1/1", f"train@{model}"]
        assert any(line.startswith(f"evaluate@{model}: test accuracy ") for line in lines)
    assert "## mnist-zoo leaderboard" in result.stdout
    print(f"\n[demo] {len(lines)} lines of output")
