"""`.keras` files: written byte-for-byte reproducibly, read back safely.

Keras stamps the save date into every `.keras` file and Python object ids
into its config; `save` rewrites the archive without them, so an unchanged
retrain gives the same bytes and DVC does not rerun evaluation for nothing.
`load` reads a model with Keras's safe mode after checking that its config
names only the Keras built-in layers its block in params.yaml names.
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from stages.common import handed
from stages.common.cli import UserError
from stages.common.files import FIXED_ZIP_TIME, atomic_output
from stages.modeling.backend import keras
from stages.modeling.onnx_session import softmax

# Images per call when a model only predicts (validation while training, export
# parity): one large batch costs less than many of the model's own size and gives
# the same figures. Evaluation's batch is a param of its own (`evaluate.batch_size`),
# because it is also what its throughput figure is measured at.
INFERENCE_BATCH = 1000


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


def check_layers(path: Path, allowed: set[str]) -> None:
    """Refuse a `.keras` file whose config names layers other than `allowed` Keras
    built-ins (the ones its block in params.yaml names)."""
    try:
        with zipfile.ZipFile(path) as archive:
            config = json.loads(archive.read("config.json"))
    except (OSError, KeyError, zipfile.BadZipFile, json.JSONDecodeError) as error:
        raise UserError(f"{path} is not a readable .keras model ({error}); "
                        "retrain it with `dvc repro`") from None
    known = {getattr(keras.layers, name).__name__ for name in allowed}  # MaxPool2D: MaxPooling2D
    for layer in config.get("config", {}).get("layers", []):
        name, module = layer.get("class_name"), layer.get("module")
        if name not in {*known, "InputLayer"} or module != "keras.layers":
            raise UserError(f"{path} contains layer {module}.{name}, which its model block "
                            "does not name; refusing to load it")


def load(path: str | os.PathLike, allowed: set[str]) -> keras.Model:
    """Load a `.keras` model with Keras's safe mode, refusing any layer but `allowed`."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path} does not exist: train it first "
                        f"(dvc repro train@{path.stem})")
    check_layers(path, allowed)
    try:
        return keras.saving.load_model(path, safe_mode=True)
    except Exception as error:  # Keras raises many types for a bad archive
        raise UserError(f"{path} could not be loaded ({type(error).__name__}: {error}); "
                        f"retrain it with `dvc repro train@{path.stem}`") from None


def load_trained(name: str) -> keras.Model:
    """A model the pipeline trained, checked against the layers its block names."""
    return load(handed.known_model(name), set(handed.read("export", name)["layers"]))


def outputs_logits(model: keras.Model) -> bool:
    """True when the model was trained on a from-logits loss."""
    loss = model.loss
    config = loss.get_config() if hasattr(loss, "get_config") else {}
    return bool(config.get("from_logits", False))


def predict_proba(model: keras.Model, x: np.ndarray, batch_size: int) -> np.ndarray:
    """Class probabilities, whether the model ends in softmax or in logits. A few images
    (`predict`, the web page) go through one direct call, without `predict`'s
    per-call set-up; many (the test set) through `predict` in batches."""
    if len(x) <= batch_size:
        outputs = np.asarray(model(x, training=False), dtype=np.float64)
    else:
        outputs = model.predict(x, batch_size=batch_size, verbose=0).astype(np.float64)
    return softmax(outputs) if outputs_logits(model) else outputs
