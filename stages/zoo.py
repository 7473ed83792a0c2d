"""Keras models from params: build, compile, save byte-for-byte, load safely.

The one module that turns a validated `ModelSpec` into a Keras model, and the
one place that writes and reads `.keras` files. Keras stamps the save date and
the current time into every `.keras` zip; `save` rewrites the archive with
those removed, so an unchanged retrain gives the same bytes and DVC does not
rerun evaluation for nothing.
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ["TF_ENABLE_ONEDNN_OPTS"] = "1"  # oneDNN's CPU kernels, whatever the shell says

import keras
import numpy as np
import tensorflow as tf

from stages.cli import UserError
from stages.dataio import FIXED_ZIP_TIME, atomic_output
from stages.params import ALLOWED_LAYERS, ModelSpec
from stages.shapes import CLASSES, INPUT_SHAPE

# Measured on 2 cores (README, Benchmarks): each op on one thread, two ops at a time,
# trains these small models 1.1-2.5x faster than TensorFlow's default of one pool
# per core for both. One thread per op also makes the bits independent of the
# machine's core count.
INTRA_OP_THREADS, INTER_OP_THREADS = 1, 2
try:
    tf.config.threading.set_intra_op_parallelism_threads(INTRA_OP_THREADS)
    tf.config.threading.set_inter_op_parallelism_threads(INTER_OP_THREADS)
except RuntimeError:  # TensorFlow ran an op before this module was imported
    if (tf.config.threading.get_intra_op_parallelism_threads(),
            tf.config.threading.get_inter_op_parallelism_threads()) != (
            INTRA_OP_THREADS, INTER_OP_THREADS):
        raise RuntimeError("TensorFlow started before stages.zoo could set its thread "
                           "counts, on which results depend: import stages.zoo first") from None


def _construct(namespace, name: str, args: dict, where: str):
    """Instantiate a Keras class by name, naming the params key if it fails."""
    try:
        return getattr(namespace, name)(**args)
    except (TypeError, ValueError) as error:
        raise UserError(f"params.yaml: {where}: Keras refused {name}({args}): {error}") from None


def build(spec: ModelSpec, seed: int, steps_per_execution: int = 1) -> keras.Model:
    """A compiled model for `spec`, seeded right before its weights are made.

    Clearing the session first resets Keras's layer-name counters, so the saved
    config is the same whether the model is the first built in a process or not.
    """
    keras.backend.clear_session()
    keras.utils.set_random_seed(seed)
    layers = [_construct(keras.layers, name, args, f"models.{spec.name}.layers[{i}]")
              for i, (name, args) in enumerate(spec.layers)]
    try:
        model = keras.Sequential([keras.Input(shape=INPUT_SHAPE), *layers], name=spec.name)
    except (TypeError, ValueError) as error:
        raise UserError(f"params.yaml: models.{spec.name}.layers do not fit together on "
                        f"28x28x1 input: {error}") from None
    if tuple(model.output_shape) != (None, CLASSES):
        raise UserError(f"params.yaml: models.{spec.name}.layers must end in {CLASSES} outputs, "
                        f"one per digit, but the model gives shape {model.output_shape[1:]}")
    model.compile(
        optimizer=_construct(keras.optimizers, *spec.optimizer, f"models.{spec.name}.optimizer"),
        loss=_construct(keras.losses, *spec.loss, f"models.{spec.name}.loss"),
        metrics=["accuracy"],
        steps_per_execution=steps_per_execution,
    )
    return model


def trainable_params(model: keras.Model) -> int:
    """Number of trainable weights, as the tutorials report it."""
    return int(sum(np.prod(w.shape) for w in model.trainable_weights))


def save(model: keras.Model, path: str | os.PathLike) -> None:
    """Save as `.keras` with the save date and zip timestamps removed, atomically."""
    with tempfile.TemporaryDirectory() as scratch, atomic_output(path) as tmp:
        raw = Path(scratch) / "model.keras"
        model.save(raw)
        with zipfile.ZipFile(raw) as source, zipfile.ZipFile(tmp, "w") as target:
            for entry in sorted(source.namelist()):
                data = source.read(entry)
                if entry == "metadata.json":
                    metadata = json.loads(data)
                    metadata.pop("date_saved", None)
                    data = json.dumps(metadata, sort_keys=True).encode()
                elif entry == "config.json":
                    data = json.dumps(_renumber_shared_ids(json.loads(data), {})).encode()
                info = zipfile.ZipInfo(entry, date_time=FIXED_ZIP_TIME)
                info.compress_type = zipfile.ZIP_DEFLATED
                target.writestr(info, data)


def _renumber_shared_ids(node, seen: dict):
    """Replace `shared_object_id`s (Python `id()`s, new every run) by 1, 2, ...

    Keras only uses them to tell which config entries are the same object, so
    numbering them in order of first appearance keeps their meaning.
    """
    if isinstance(node, dict):
        return {key: (seen.setdefault(value, len(seen) + 1) if key == "shared_object_id"
                      else _renumber_shared_ids(value, seen)) for key, value in node.items()}
    if isinstance(node, list):
        return [_renumber_shared_ids(item, seen) for item in node]
    return node


def check_layers(path: Path) -> None:
    """Refuse a `.keras` file whose config names layers off the allow-list."""
    try:
        with zipfile.ZipFile(path) as archive:
            config = json.loads(archive.read("config.json"))
    except (OSError, KeyError, zipfile.BadZipFile, json.JSONDecodeError) as error:
        raise UserError(f"{path} is not a readable .keras model ({error}); "
                        "retrain it with `dvc repro`") from None
    for layer in config.get("config", {}).get("layers", []):
        name, module = layer.get("class_name"), layer.get("module")
        if name not in ALLOWED_LAYERS | {"InputLayer"} or module != "keras.layers":
            raise UserError(f"{path} contains layer {module}.{name}, which is not an "
                            "allowed Keras built-in layer; refusing to load it")


def load(path: str | os.PathLike) -> keras.Model:
    """Load a `.keras` model with Keras's safe mode and the layer allow-list."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path} does not exist: train it first "
                        f"(dvc repro train@{path.stem})")
    check_layers(path)
    try:
        return keras.saving.load_model(path, safe_mode=True)
    except Exception as error:  # Keras raises many types for a bad archive
        raise UserError(f"{path} could not be loaded ({type(error).__name__}: {error}); "
                        f"retrain it with `dvc repro train@{path.stem}`") from None


def outputs_logits(model: keras.Model) -> bool:
    """True when the model was trained on a from-logits loss."""
    loss = model.loss
    config = loss.get_config() if hasattr(loss, "get_config") else {}
    return bool(config.get("from_logits", False))


def predict_proba(model: keras.Model, x: np.ndarray, batch_size: int) -> np.ndarray:
    """Class probabilities, whether the model ends in softmax or in logits."""
    outputs = model.predict(x, batch_size=batch_size, verbose=0).astype(np.float64)
    if outputs_logits(model):
        outputs = np.exp(outputs - outputs.max(axis=1, keepdims=True))
        outputs /= outputs.sum(axis=1, keepdims=True)
    return outputs
