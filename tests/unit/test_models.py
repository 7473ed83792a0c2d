"""The tutorial models: exact sizes, real training through the stage entry point,
byte-identical retraining, divergence handling."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from harness import UNIT_MODELS, shipped_recipe
from stages.common import handed, paths
from stages.common.cli import UserError
from stages.pipeline import train

TUTORIAL_PARAMS = {"cnn_sgd": 542_230, "mlp_dropout": 407_050, "mlp_rmsprop": 407_050,
                   "quickstart": 101_770, "simple_dense": 25_450, "simple_cnn": 173_738,
                   "embedding": 76_394}


@pytest.mark.parametrize(("name", "count"), TUTORIAL_PARAMS.items())
def test_each_model_has_the_tutorials_parameter_count(name, count):
    from stages.modeling import build

    assert build.trainable_params(build.build(shipped_recipe(name))) == count


@pytest.mark.parametrize("name", UNIT_MODELS)
def test_training_writes_the_model_its_history_and_figures(trained, name):
    figures = json.loads((trained / paths.of_model("train_metrics", name)).read_text())
    assert figures["epochs"] == 1
    assert figures["val_accuracy"] > 0.5  # chance is 0.1
    assert figures["trainable_params"] == TUTORIAL_PARAMS[name]
    assert figures["train_seconds"] > 0 and figures["examples_per_second"] > 0
    history = (trained / paths.of_model("history", name)).read_text().splitlines()
    assert history[0] == "epoch,accuracy,loss,val_accuracy,val_loss" and len(history) == 2
    assert (trained / paths.of_model("history_picture", name)).read_bytes()[:4] == b"\x89PNG"
    assert "Trainable params" in (trained / paths.of_model("summary", name)).read_text()


def test_training_prints_one_line_for_the_model_one_per_epoch_and_the_result(
        trained, in_workspace, capsys):
    train.main(["quickstart"])
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == ("train@quickstart: 4 layers (Flatten -> Dense -> Dropout -> Dense), "
                        "101,770 parameters")
    assert lines[1].startswith("train@quickstart epoch 1/1: accuracy ")
    assert lines[2].startswith("train@quickstart: val_accuracy ") and len(lines) == 3


@pytest.mark.parametrize("name", ["quickstart", "simple_dense"])  # fit and gradient_tape
def test_retraining_with_the_same_seed_gives_identical_bytes(trained, in_workspace, name):
    before = (in_workspace / paths.model(name)).read_bytes()
    history = (in_workspace / paths.of_model("history", name)).read_bytes()
    train.main([name])
    assert (in_workspace / paths.model(name)).read_bytes() == before
    assert (in_workspace / paths.of_model("history", name)).read_bytes() == history


def test_embedding_sees_the_exact_integer_intensity_of_each_pixel():
    """The cached tensors hold k/255 as float32; the model must look up row k."""
    from stages.modeling import build
    from stages.modeling.backend import keras

    model = build.build(shipped_recipe("embedding"))
    embedding = next(layer for layer in model.layers if isinstance(layer, keras.layers.Embedding))
    table = np.zeros((256, 3), np.float32)
    table[:, 0] = np.arange(256)
    embedding.set_weights([table])
    lookup = keras.Model(model.inputs[0], embedding.output)
    intensities = np.arange(784) % 256
    x = (intensities.astype(np.float32) / 255.0).reshape(1, 28, 28, 1)
    looked_up = np.asarray(lookup(x))[..., 0].reshape(-1)
    np.testing.assert_array_equal(looked_up, intensities)


def test_a_diverging_run_stops_with_a_clear_message_and_no_model(workspace, tmp_path,
                                                               monkeypatch):
    shutil.copytree(workspace / "data", tmp_path / "data")
    shutil.copy(workspace / "dvc.yaml", tmp_path)
    recipe = tmp_path / handed.path("train", "cnn_sgd")
    values = json.loads(recipe.read_text())
    recipe.write_text(json.dumps({**values, "optimizer": ["SGD", {"learning_rate": 1e12}]}))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UserError, match=r"model cnn_sgd diverged: loss became (nan|inf) in "
                                        r"epoch 1, batch \d+.*no model was saved"):
        train.main(["cnn_sgd"])
    assert not (tmp_path / paths.model("cnn_sgd")).exists()
    assert not (tmp_path / paths.of_model("history", "cnn_sgd")).exists()
    assert not (tmp_path / ".dvc/tmp/resume/train@cnn_sgd").exists()  # nothing to resume


def test_a_non_finite_validation_score_also_counts_as_divergence():
    """A finite training loss with an infinite validation loss must not slip through."""
    from stages.modeling.backend import keras
    from stages.modeling.loops import StopOnDivergence

    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    model.compile(loss="mse")  # as build does; compiling defines `stop_training`
    guard = StopOnDivergence()
    guard.set_model(model)
    guard.on_epoch_begin(0)
    guard.on_train_batch_end(0, {"loss": 0.5})
    assert guard.where is None and not guard.model.stop_training
    guard.on_epoch_end(0, {"loss": 0.5, "val_loss": float("inf")})
    assert guard.where == "val_loss became inf in epoch 1" and guard.model.stop_training
