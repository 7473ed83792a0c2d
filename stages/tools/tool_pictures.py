"""The tools' own pictures: a sweep's grid, a search's convergence, two revisions' curves.

Drawn as the pipeline draws its own (`stages.reporting.pictures`: bare Figures,
PNG bytes that depend only on the data).
"""

from __future__ import annotations

import os
from collections import defaultdict

import numpy as np
from matplotlib.figure import Figure

from stages.reporting.pictures import save_png


def _sort_key(value: str) -> tuple:
    try:
        return (0, float(value), "")
    except ValueError:
        return (1, 0.0, value)


def sweep(path: str | os.PathLike, keys: list[str], rows: list[dict], title: str) -> None:
    """Test accuracy against the first swept key's values, one line per setting of
    the other keys, one panel per swept model."""
    models = list(rows[0]["accuracy"])
    fig = Figure(figsize=(5.5 * len(models), 4))
    for ax, model in zip(np.atleast_1d(fig.subplots(1, len(models))), models, strict=True):
        lines = defaultdict(list)
        for row in rows:
            lines[tuple(row["values"][1:])].append((row["values"][0], row["accuracy"][model]))
        for rest, points in lines.items():
            points.sort(key=lambda point: _sort_key(point[0]))
            label = ", ".join(f"{key.rsplit('.', 1)[-1]}={value}"
                              for key, value in zip(keys[1:], rest, strict=True))
            ax.plot([p[0] for p in points], [p[1] for p in points], "o-", label=label or None)
        ax.set(xlabel=keys[0].rsplit(".", 1)[-1], ylabel="test accuracy",
               title=f"{title}: {model}")
        ax.grid(alpha=0.3)
        if len(lines) > 1:
            ax.legend(fontsize=8)
    fig.tight_layout()
    save_png(fig, path)


def convergence(path: str | os.PathLike, values: list[float | None], higher_is_better: bool,
                title: str) -> None:
    """A search converging: each trial's figure in the order trials ended (a stopped one's
    at the epoch it was stopped), and the best so far."""
    fig = Figure(figsize=(7, 4))
    ax = fig.subplots()
    best, so_far = None, []
    for value in values:
        if value is not None:
            best = value if best is None else (max if higher_is_better else min)(best, value)
        so_far.append(best)
    trials = range(1, len(values) + 1)
    ax.plot([t for t, v in zip(trials, values, strict=True) if v is not None],
            [v for v in values if v is not None], "o", color="#4c78a8", alpha=0.6,
            label="a trial")
    ax.step(trials, [v if v is not None else float("nan") for v in so_far], where="post",
            color="#e45756", label="best so far")
    ax.set(xlabel="trials ended", ylabel=title.rsplit(": ", 1)[-1].split(" of ")[0],
           title=title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    save_png(fig, path)


def compared_history(path: str | os.PathLike, base: list[dict], here: list[dict], title: str,
                     base_label: str) -> None:
    """Validation accuracy and loss per epoch on two sides of a comparison: the base
    dashed, this branch solid."""
    fig = Figure(figsize=(9, 3.5))
    axes = fig.subplots(1, 2)
    for ax, metric in zip(axes, ("val_accuracy", "val_loss"), strict=True):
        for rows, style, label in ((base, "o--", base_label), (here, "o-", "this branch")):
            if rows:
                ax.plot([r["epoch"] for r in rows], [r[metric] for r in rows], style,
                        label=label)
        ax.set(xlabel="epoch", ylabel=metric.replace("_", " "), title=f"{title}: {metric}")
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    save_png(fig, path)
