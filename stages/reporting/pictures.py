"""Every matplotlib picture the pipeline draws, in one place.

Draws on bare `Figure`s (Agg, no pyplot: less to import, no global figure
state) and writes PNGs, whose bytes depend only on the data (PNG carries no
timestamp), so plots are DVC-cache friendly.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import numpy as np

from stages.common.files import atomic_output

if TYPE_CHECKING:
    from matplotlib.figure import Figure


PNG_METADATA = {"Software": None}
GAP, LABEL = 4, 12  # pixels between digits, and above each for its label
# Fixed margins, where `tight_layout` measured every label first: a third of a picture's
# time, and an evaluation draws two of them while the leaderboard waits.
HISTORY_MARGINS = {"left": 0.08, "right": 0.98, "bottom": 0.16, "top": 0.89, "wspace": 0.22}
CONFUSION_MARGINS = {"left": 0.1, "right": 0.97, "bottom": 0.11, "top": 0.93}


def _figure(**size) -> Figure:
    """A bare figure; matplotlib loads only now (a stage's warm start client imports this
    module and never draws)."""
    from matplotlib.figure import Figure

    return Figure(**size)


def save_png(fig: Figure, path: str | os.PathLike) -> None:
    with atomic_output(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100, metadata=PNG_METADATA)


def digit_grid(path: str | os.PathLike, images: np.ndarray, titles: list[str],
               wrong: list[bool] | None = None, columns: int = 10) -> None:
    """A labelled grid of digits; titles of `wrong` entries are drawn in red.

    The digits are tiled into one image drawn on one axes: a figure of forty
    axes takes about ten times as long to draw."""
    rows = int(np.ceil(len(images) / columns))
    cell_w, cell_h, top = 28 + GAP, 28 + GAP + LABEL, LABEL  # pixels per cell, label above
    canvas = np.zeros((rows * cell_h, columns * cell_w), np.float32)
    fig = _figure(figsize=(columns * 1.1, rows * 1.3))
    ax = fig.subplots()
    for index, image in enumerate(images):
        row, column = divmod(index, columns)
        y, x = row * cell_h + top, column * cell_w + GAP // 2
        canvas[y:y + 28, x:x + 28] = image.reshape(28, 28)
        ax.text(x + 14, y - 1, titles[index], ha="center", va="bottom", fontsize=8,
                color="red" if wrong and wrong[index] else "black")
    ax.imshow(canvas, cmap="gray_r", vmin=0, vmax=1, interpolation="nearest")
    ax.axis("off")
    fig.subplots_adjust(left=0, right=1, bottom=0, top=1)
    save_png(fig, path)


def history(path: str | os.PathLike, rows: list[dict], title: str) -> None:
    """Loss and accuracy per epoch, train vs validation."""
    epochs = [row["epoch"] for row in rows]
    fig = _figure(figsize=(9, 3.5))
    axes = fig.subplots(1, 2)
    for ax, metric in zip(axes, ("loss", "accuracy"), strict=True):
        ax.plot(epochs, [r[metric] for r in rows], "o-", label="train")
        ax.plot(epochs, [r[f"val_{metric}"] for r in rows], "o-", label="validation")
        ax.set(xlabel="epoch", ylabel=metric, title=f"{title}: {metric}")
        ax.grid(alpha=0.3)
        ax.legend()
    fig.subplots_adjust(**HISTORY_MARGINS)
    save_png(fig, path)


def confusion(path: str | os.PathLike, matrix: np.ndarray, title: str) -> None:
    """Confusion matrix counts with labelled axes."""
    fig = _figure(figsize=(5.5, 5))
    ax = fig.subplots()
    ax.imshow(matrix, cmap="Blues")
    classes = range(matrix.shape[0])
    ax.set(xticks=classes, yticks=classes, xlabel="predicted", ylabel="actual", title=title)
    threshold = matrix.max() / 2
    for (actual, predicted), count in np.ndenumerate(matrix):
        ax.text(predicted, actual, str(count), ha="center", va="center", fontsize=7,
                color="white" if count > threshold else "black")
    fig.subplots_adjust(**CONFUSION_MARGINS)
    save_png(fig, path)
