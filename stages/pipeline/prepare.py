"""Stage `prepare`: validate the raw arrays and cache model-ready tensors.

    python -m stages.pipeline.prepare

numpy only (no TensorFlow), so it starts fast. Pixels become float32 in
[0, 1] with a channel axis (N, 28, 28, 1); a stratified validation split is
held out of the training set; labels stay integers (models that want one-hot
labels get them at training time).
"""

from __future__ import annotations

import numpy as np

from stages.common import handed, paths, phases
from stages.common.cli import run
from stages.common.files import load_npz, save_npz, write_json
from stages.data import mnist
from stages.reporting import pictures


def stratified_split(labels: np.ndarray, fraction: float, seed: int
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, validation): `fraction` of each class held out, seeded."""
    rng = np.random.default_rng(seed)
    held_out = []
    for digit in range(mnist.NUM_CLASSES):
        members = np.flatnonzero(labels == digit)
        count = round(fraction * len(members))
        held_out.append(rng.permutation(members)[:count])
    validation = np.sort(np.concatenate(held_out))
    train = np.setdiff1d(np.arange(len(labels)), validation)
    return train, validation


def split_counts(labels: np.ndarray) -> dict:
    """Examples in a split, in total and per class (for metrics/data.json)."""
    per_class = np.bincount(labels, minlength=mnist.NUM_CLASSES)
    return {"examples": len(labels),
            "per_class": {str(d): int(n) for d, n in enumerate(per_class)}}


def main() -> None:
    """Validate, scale, split, and write the tensors, counts and sample grid."""
    config = handed.read("prepare")
    with phases.phase("load data"):
        raw = load_npz(paths.RAW, mnist.KEYS)
        mnist.validate(raw, str(paths.RAW))
    train_idx, val_idx = stratified_split(raw["y_train"], config["validation_fraction"],
                                          config["seed"])
    splits = {
        "train": (raw["x_train"][train_idx], raw["y_train"][train_idx]),
        "validation": (raw["x_train"][val_idx], raw["y_train"][val_idx]),
        "test": (raw["x_test"], raw["y_test"]),
    }
    with phases.phase("write"):
        for name, (images, labels) in splits.items():
            save_npz(paths.prepared(name), {"x": mnist.scale(images), "y": labels})
    write_json(paths.DATA_METRICS, {name: split_counts(y) for name, (_, y) in splits.items()})
    images, labels = splits["train"]
    with phases.phase("pictures"):
        pictures.digit_grid(paths.SAMPLES_PLOT, mnist.scale(images[:40]),
                            [str(y) for y in labels[:40]])
    print("prepare: " + ", ".join(f"{name} {len(y):,}" for name, (_, y) in splits.items())
          + f" images -> {paths.PREPARED}/")


if __name__ == "__main__":
    run(main)
