"""MNIST's facts, in one place: the image and class counts, the Keras `.npz`
layout, and the one conversion from its bytes to model input (numpy only)."""

from __future__ import annotations

import numpy as np

from stages.common.cli import UserError

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
