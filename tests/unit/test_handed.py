"""What `validate` hands each stage (stages/common/handed.py): where each stage's file
lives, reading it, the models it checked, and the one line for a model it did not."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stages.common import handed
from stages.common.cli import UserError


@pytest.fixture
def validated(tmp_path, monkeypatch) -> Path:
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "data" / "validated"
    (folder / "train").mkdir(parents=True)
    (folder / "report.json").write_text(json.dumps({"models": [{"name": "b"}, {"name": "a"}]}))
    (folder / "train" / "a.json").write_text(json.dumps({"epochs": 3}))
    (folder / "download.json").write_text(json.dumps({"url": "x"}))
    return folder


def test_each_stage_has_its_file():
    assert handed.path("download") == Path("data/validated/download.json")
    assert handed.path("train", "cnn_sgd") == Path("data/validated/train/cnn_sgd.json")
    assert handed.code("evaluate") == Path("data/validated/code/evaluate.json")


def test_reading_gives_what_validate_wrote(validated):
    assert handed.read("train", "a") == {"epochs": 3}
    assert handed.read("download") == {"url": "x"}


def test_a_missing_file_is_one_line_saying_what_to_run(validated):
    with pytest.raises(UserError) as model:
        handed.read("train", "zz")
    assert str(model.value) == ("no model 'zz' was validated (data/validated/train/zz.json "
                                "is missing): is it in params.yaml? Run `dvc repro`")
    with pytest.raises(UserError) as stage:
        handed.read("prepare")
    assert str(stage.value) == ("params.yaml was not validated (data/validated/prepare.json "
                                "is missing): is it in params.yaml? Run `dvc repro`")


def test_the_models_come_in_the_order_of_params_yaml(validated):
    assert handed.models() == ["b", "a"]
    (validated / "report.json").unlink()
    assert handed.models() == []


def test_a_known_model_gives_its_file_and_an_unknown_one_the_known_ones(validated):
    assert handed.known_model("a") == Path("models/a.keras")
    with pytest.raises(UserError) as unknown:
        handed.known_model("bb")
    assert str(unknown.value) == "unknown model 'bb' (did you mean 'b'?); the pipeline has: b, a"
    (validated / "report.json").unlink()
    with pytest.raises(UserError) as none:
        handed.known_model("a")
    assert str(none.value) == ("unknown model 'a'; the pipeline has not run here yet: run "
                               "`dvc repro` first")
