"""The zoo side by side: the leaderboard and every model's learning curve.

Rows come from each model's metrics files; the order of params.yaml is kept
wherever a chart draws them, so that every chart gives a model the same
colour (Vega colours models in the order it first meets them).
"""

from __future__ import annotations

from stages.common import paths
from stages.common.files import read_history, read_json

CURVE_COLUMNS = ("model", "epoch", "accuracy", "loss", "val_accuracy", "val_loss")
CHART_COLUMNS = ("model", "train_seconds", "test_accuracy")
TABLE_COLUMNS = ("rank", "model", "tutorial", "params", "epochs", "train s", "test accuracy",
                 "test loss", "macro F1", "tutorial reports")


def rows(models: list[dict]) -> list[dict]:
    """One row per model (`models`: its name and tutorial facts), in the order given."""
    found = []
    for facts in models:
        name = facts["name"]
        test = read_json(paths.of_model("test_metrics", name))
        train = read_json(paths.of_model("train_metrics", name))
        found.append({
            "model": name, "tutorial": facts["tutorial"],
            "tutorial_accuracy": facts["tutorial_accuracy"],
            "trainable_params": test["trainable_params"], "epochs": test["epochs"],
            "train_seconds": train["train_seconds"],
            "test_accuracy": test["test_accuracy"], "test_loss": test["test_loss"],
            "macro_f1": test["macro_f1"],
        })
    return found


def ranked(table: list[dict]) -> list[dict]:
    """Best test accuracy first (ties by name)."""
    return sorted(table, key=lambda row: (-row["test_accuracy"], row["model"]))


def markdown(table: list[dict]) -> str:
    """The ranked leaderboard as a Markdown table that reads well on GitHub."""
    lines = ["## mnist-zoo leaderboard", "",
             "Test-set scores of every model, best first. *Tutorial reports* is the "
             "accuracy the source tutorial quotes on real MNIST.", "",
             "| " + " | ".join(TABLE_COLUMNS) + " |",
             "|" + "|".join(["---:", ":---", ":---"] + ["---:"] * 7) + "|"]
    for rank, row in enumerate(ranked(table), start=1):
        cells = (rank, f"`{row['model']}`", row["tutorial"], f"{row['trainable_params']:,}",
                 row["epochs"], f"{row['train_seconds']:.1f}",
                 f"**{100 * row['test_accuracy']:.2f}%**", f"{row['test_loss']:.4f}",
                 f"{row['macro_f1']:.4f}", row["tutorial_accuracy"] or "n/a")
        lines.append("| " + " | ".join(str(cell).replace("|", "\\|") for cell in cells) + " |")
    return "\n".join(lines) + "\n"


def learning_curves(models: list[str]) -> list[dict]:
    """Every model's per-epoch figures, one row per model and epoch (from 1)."""
    return [{**row, "model": name, "epoch": row["epoch"] + 1}
            for name in models for row in read_history(paths.of_model("history", name))]
