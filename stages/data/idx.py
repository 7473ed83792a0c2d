"""The classic IDX files MNIST was first published as (numpy only)."""

from __future__ import annotations

import gzip
import zlib

import numpy as np

from stages.common.cli import UserError

IMAGES_MAGIC = 2051
LABELS_MAGIC = 2049
FILES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}


def parse(blob: bytes, name: str) -> np.ndarray:
    """Decode one (optionally gzipped) IDX file of unsigned bytes."""
    if blob[:2] == b"\x1f\x8b":
        try:
            blob = gzip.decompress(blob)
        except (OSError, EOFError, zlib.error) as error:
            raise UserError(f"{name}: corrupt gzip data ({error})") from None
    if len(blob) < 8:
        raise UserError(f"{name}: {len(blob)} bytes is too short for an IDX header")
    magic = int.from_bytes(blob[:4], "big")
    if magic not in (IMAGES_MAGIC, LABELS_MAGIC):
        raise UserError(f"{name}: not an MNIST IDX file (magic number {magic}, expected "
                        f"{IMAGES_MAGIC} for images or {LABELS_MAGIC} for labels)")
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    if len(blob) < header:
        raise UserError(f"{name}: header of {header} bytes is truncated")
    shape = tuple(int.from_bytes(blob[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected = header + int(np.prod(shape))
    if len(blob) != expected:
        raise UserError(f"{name}: header says shape {shape} ({expected} bytes) but the file "
                        f"has {len(blob)} bytes; it is truncated or corrupt")
    return np.frombuffer(blob, dtype=np.uint8, offset=header).reshape(shape)


def to_keras_layout(blobs: dict[str, bytes]) -> dict[str, np.ndarray]:
    """The four IDX files as the Keras-layout arrays."""
    arrays = {key: parse(blobs[key], FILES[key]) for key in FILES}
    for key, want in (("train_images", 3), ("test_images", 3),
                      ("train_labels", 1), ("test_labels", 1)):
        if arrays[key].ndim != want:
            raise UserError(f"{FILES[key]}: expected {want}-D data, got shape {arrays[key].shape}")
    return {"x_train": arrays["train_images"], "y_train": arrays["train_labels"],
            "x_test": arrays["test_images"], "y_test": arrays["test_labels"]}


def encode(array: np.ndarray) -> bytes:
    """uint8 images (N, 28, 28) or labels (N,) as an uncompressed IDX file."""
    magic = IMAGES_MAGIC if array.ndim == 3 else LABELS_MAGIC
    header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in array.shape)
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()
