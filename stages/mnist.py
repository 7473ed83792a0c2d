"""The MNIST data layout: Keras `.npz` keys, the IDX format, and validation.

Both the download and the prepare stage check arrays here, so a file of the
wrong layout is refused with the same message wherever it turns up.
"""

from __future__ import annotations

import gzip
import zlib

import numpy as np

from stages.cli import UserError

KEYS = ("x_train", "y_train", "x_test", "y_test")
IMAGE_SHAPE = (28, 28)
NUM_CLASSES = 10
IDX_IMAGES_MAGIC = 2051
IDX_LABELS_MAGIC = 2049
IDX_FILES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}


def scale(images: np.ndarray) -> np.ndarray:
    """uint8 intensities -> float32 in [0, 1] with a channel axis: (..., 28, 28, 1).

    The one conversion from MNIST bytes to model input: `prepare` caches it,
    `predict` applies it to users' images.
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


def parse_idx(blob: bytes, name: str) -> np.ndarray:
    """Decode one (optionally gzipped) IDX file of unsigned bytes."""
    if blob[:2] == b"\x1f\x8b":
        try:
            blob = gzip.decompress(blob)
        except (OSError, EOFError, zlib.error) as error:
            raise UserError(f"{name}: corrupt gzip data ({error})") from None
    if len(blob) < 8:
        raise UserError(f"{name}: {len(blob)} bytes is too short for an IDX header")
    magic = int.from_bytes(blob[:4], "big")
    if magic not in (IDX_IMAGES_MAGIC, IDX_LABELS_MAGIC):
        raise UserError(
            f"{name}: not an MNIST IDX file (magic number {magic}, expected "
            f"{IDX_IMAGES_MAGIC} for images or {IDX_LABELS_MAGIC} for labels)"
        )
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    if len(blob) < header:
        raise UserError(f"{name}: header of {header} bytes is truncated")
    shape = tuple(int.from_bytes(blob[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected = header + int(np.prod(shape))
    if len(blob) != expected:
        raise UserError(
            f"{name}: header says shape {shape} ({expected} bytes) but the file "
            f"has {len(blob)} bytes; it is truncated or corrupt"
        )
    return np.frombuffer(blob, dtype=np.uint8, offset=header).reshape(shape)


def from_idx(blobs: dict[str, bytes]) -> dict[str, np.ndarray]:
    """Turn the four IDX files into the Keras-layout arrays."""
    arrays = {key: parse_idx(blobs[key], IDX_FILES[key]) for key in IDX_FILES}
    for key, want in (("train_images", 3), ("test_images", 3),
                      ("train_labels", 1), ("test_labels", 1)):
        if arrays[key].ndim != want:
            raise UserError(f"{IDX_FILES[key]}: expected {want}-D data, "
                            f"got shape {arrays[key].shape}")
    return {
        "x_train": arrays["train_images"], "y_train": arrays["train_labels"],
        "x_test": arrays["test_images"], "y_test": arrays["test_labels"],
    }


def to_idx(array: np.ndarray) -> bytes:
    """Encode uint8 images (N, 28, 28) or labels (N,) as an uncompressed IDX file."""
    magic = IDX_IMAGES_MAGIC if array.ndim == 3 else IDX_LABELS_MAGIC
    header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in array.shape)
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()
