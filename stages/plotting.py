"""Every matplotlib picture the pipeline draws, in one place.

Uses the non-interactive Agg backend and PNG output, whose bytes depend only
on the data (PNG carries no timestamp), so plots are DVC-cache friendly.
"""

from __future__ import annotations

import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from stages.dataio import atomic_output

PNG_METADATA = {"Software": None}


def _save(fig, path: str | os.PathLike) -> None:
    with atomic_output(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100, metadata=PNG_METADATA)
    plt.close(fig)


def digit_grid(path: str | os.PathLike, images: np.ndarray, titles: list[str],
               wrong: list[bool] | None = None, columns: int = 10) -> None:
    """A labelled grid of digits; titles of `wrong` entries are drawn in red."""
    rows = int(np.ceil(len(images) / columns))
    fig, axes = plt.subplots(rows, columns, figsize=(columns * 1.1, rows * 1.3))
    for index, ax in enumerate(np.atleast_1d(axes).ravel()):
        ax.axis("off")
        if index < len(images):
            ax.imshow(images[index].squeeze(), cmap="gray_r", vmin=0, vmax=1)
            color = "red" if wrong and wrong[index] else "black"
            ax.set_title(titles[index], fontsize=8, color=color)
    fig.tight_layout()
    _save(fig, path)


def history(path: str | os.PathLike, rows: list[dict], title: str) -> None:
    """Loss and accuracy per epoch, train vs validation."""
    epochs = [row["epoch"] for row in rows]
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.5))
    for ax, metric in zip(axes, ("loss", "accuracy"), strict=True):
        ax.plot(epochs, [r[metric] for r in rows], "o-", label="train")
        ax.plot(epochs, [r[f"val_{metric}"] for r in rows], "o-", label="validation")
        ax.set(xlabel="epoch", ylabel=metric, title=f"{title}: {metric}")
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    _save(fig, path)


def confusion(path: str | os.PathLike, matrix: np.ndarray, title: str) -> None:
    """Confusion matrix counts with labelled axes."""
    fig, ax = plt.subplots(figsize=(5.5, 5))
    ax.imshow(matrix, cmap="Blues")
    classes = range(matrix.shape[0])
    ax.set(xticks=classes, yticks=classes, xlabel="predicted", ylabel="actual", title=title)
    threshold = matrix.max() / 2
    for (actual, predicted), count in np.ndenumerate(matrix):
        ax.text(predicted, actual, str(count), ha="center", va="center", fontsize=7,
                color="white" if count > threshold else "black")
    fig.tight_layout()
    _save(fig, path)


def leaderboard(path: str | os.PathLike, rows: list[dict]) -> None:
    """Test accuracy against training time, one labelled point per model."""
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for row in rows:
        ax.scatter(row["train_seconds"], row["test_accuracy"])
        ax.annotate(row["model"], (row["train_seconds"], row["test_accuracy"]),
                    textcoords="offset points", xytext=(5, 4), fontsize=8)
    ax.set(xlabel="training time (s)", ylabel="test accuracy",
           title="mnist-zoo: accuracy vs training time")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    _save(fig, path)
