"""MNIST's facts, in one place: the image and class counts, the Keras `.npz`
layout, the one conversion from its bytes to model input, and the prepared
tensors read back checked (numpy only)."""

from __future__ import annotations

import numpy as np

from stages.common import paths
from stages.common.cli import UserError
from stages.common.files import load_npz

IMAGE_SHAPE = (28, 28)
INPUT_SHAPE = (*IMAGE_SHAPE, 1)  # what every model takes: one grey channel
NUM_CLASSES = 10
KEYS = ("x_train", "y_train", "x_test", "y_test")


def scale(images: np.ndarray) -> np.ndarray:
    """uint8 intensities -> float32 in [0, 1] with a channel axis: (..., 28, 28, 1).

    `prepare` caches it; `predict` and the web page apply it to people's images.
    """
    return (images.astype(np.float32) / 255.0)[..., np.newaxis]


def validate(arrays: dict[str, np.ndarray], source: str) -> None:
    """Raise UserError unless `arrays` is a Keras-layout MNIST dataset."""
    for split in ("train", "test"):
        x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
        where = f"{source}: x_{split}/y_{split}"
        if x.dtype != np.uint8 or y.dtype != np.uint8:
            raise UserError(f"{where} must be uint8, got {x.dtype}/{y.dtype}")
        if x.ndim != 3 or x.shape[1:] != IMAGE_SHAPE:
            raise UserError(f"{where}: images must be (N, 28, 28), got {x.shape}")
        if y.shape != (x.shape[0],):
            raise UserError(f"{where}: expected {x.shape[0]} labels, got shape {y.shape}")
        if x.shape[0] == 0:
            raise UserError(f"{where}: the split is empty")
        if y.max() >= NUM_CLASSES:
            raise UserError(f"{where}: labels must be 0-9, found {int(y.max())}")
    missing = sorted(set(range(NUM_CLASSES)) - set(np.unique(arrays["y_train"]).tolist()))
    if missing:
        raise UserError(f"{source}: the training split has no examples of digit(s) {missing}")


def load_prepared(split: str) -> tuple[np.ndarray, np.ndarray]:
    """One prepared split, checked: x float32 (N, 28, 28, 1) in [0, 1], y 0-9."""
    path = paths.prepared(split)
    arrays = load_npz(path, ("x", "y"))
    x, y = arrays["x"], arrays["y"]
    if x.dtype != np.float32 or x.shape[1:] != INPUT_SHAPE or y.shape != (len(x),):
        raise UserError(f"{path}: expected x float32 (N, 28, 28, 1) and N labels, got "
                        f"{x.dtype} {x.shape} and {y.shape}; rerun `dvc repro prepare`")
    if not np.isfinite(x).all():
        raise UserError(f"{path}: images contain NaN or infinite values; "
                        "rerun `dvc repro prepare` from a valid raw file")
    if x.size and (x.min() < 0 or x.max() > 1):
        raise UserError(f"{path}: pixels must be in [0, 1]; rerun `dvc repro prepare`")
    if y.size and y.max() >= NUM_CLASSES:
        raise UserError(f"{path}: labels must be 0-9; rerun `dvc repro prepare`")
    return x, y
