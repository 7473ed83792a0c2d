"""Stage `report`: the leaderboard and learning curves of the whole zoo.

Reads the metrics and per-epoch history of exactly the models in params.yaml
(its DVC dependency is the whole `metrics/` folder, so a model added to
params.yaml is waited for without editing dvc.yaml) and writes
`reports/summary.json`, `reports/leaderboard.md` (a GitHub-ready table, the
comment CI posts on pull requests), and two tables DVC draws (dvc.yaml, top
level): `plots/leaderboard.csv` (test accuracy against training time) and
`plots/learning_curves.csv` (every model's epochs, one line per model).
"""

from __future__ import annotations

import csv

from stages import params, paths
from stages.cli import run
from stages.dataio import atomic_output, read_history, read_json, write_json

CURVE_COLUMNS = ("model", "epoch", "accuracy", "loss", "val_accuracy", "val_loss")
LEADERBOARD_COLUMNS = ("model", "train_seconds", "test_accuracy")

COLUMNS = ("rank", "model", "tutorial", "params", "epochs", "train s", "test accuracy",
           "test loss", "macro F1", "tutorial reports")


def collect(config: params.Params) -> list[dict]:
    """One row per model, best test accuracy first (ties by name)."""
    rows = []
    for name, spec in config.models.items():
        test, train = read_json(paths.test_metrics(name)), read_json(paths.train_metrics(name))
        rows.append({
            "model": name, "tutorial": spec.tutorial,
            "tutorial_accuracy": spec.tutorial_accuracy,
            "trainable_params": test["trainable_params"], "epochs": test["epochs"],
            "train_seconds": train["train_seconds"],
            "test_accuracy": test["test_accuracy"], "test_loss": test["test_loss"],
            "macro_f1": test["macro_f1"],
        })
    return sorted(rows, key=lambda row: (-row["test_accuracy"], row["model"]))


def markdown(rows: list[dict]) -> str:
    """The leaderboard as a Markdown table that reads well on GitHub."""
    lines = ["## mnist-zoo leaderboard", "",
             "Test-set scores of every model, best first. *Tutorial reports* is the "
             "accuracy the source tutorial quotes on real MNIST.", "",
             "| " + " | ".join(COLUMNS) + " |",
             "|" + "|".join(["---:", ":---", ":---"] + ["---:"] * 6 + ["---:"]) + "|"]
    for rank, row in enumerate(rows, start=1):
        cells = (rank, f"`{row['model']}`", row["tutorial"], f"{row['trainable_params']:,}",
                 row["epochs"], f"{row['train_seconds']:.1f}",
                 f"**{100 * row['test_accuracy']:.2f}%**", f"{row['test_loss']:.4f}",
                 f"{row['macro_f1']:.4f}", row["tutorial_accuracy"] or "n/a")
        lines.append("| " + " | ".join(str(cell).replace("|", "\\|") for cell in cells) + " |")
    return "\n".join(lines) + "\n"


def write_csv(path, columns: tuple[str, ...], rows) -> None:
    """A table for DVC's plots: the named columns of each row."""
    with atomic_output(path) as tmp, tmp.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, columns, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def learning_curves(config: params.Params) -> list[dict]:
    """Every model's per-epoch figures, one row per model and epoch (from 1), in the
    order of params.yaml, which the charts' legend follows."""
    return [{**row, "model": name, "epoch": row["epoch"] + 1}
            for name in config.models for row in read_history(paths.history(name))]


def main() -> None:
    """Write the summary JSON, the Markdown leaderboard and the tables DVC draws."""
    config = params.load()
    rows = collect(config)
    write_csv(paths.LEARNING_CURVES, CURVE_COLUMNS, learning_curves(config))
    write_csv(paths.LEADERBOARD_CSV, LEADERBOARD_COLUMNS, rows)
    write_json(paths.SUMMARY, {"best_model": rows[0]["model"],
                               "best_test_accuracy": rows[0]["test_accuracy"],
                               "leaderboard": rows})
    with atomic_output(paths.LEADERBOARD) as tmp:
        tmp.write_text(markdown(rows))
    print(markdown(rows))


if __name__ == "__main__":
    run(main)
