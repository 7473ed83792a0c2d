"""Stage `report`: the leaderboard and learning curves of the whole zoo.

    python -m stages.pipeline.report

Reads the metrics and per-epoch history of exactly the models `validate`
lists (its DVC dependency is the whole `metrics/` folder, so a model added to
params.yaml is waited for without editing dvc.yaml) and writes
`reports/summary.json`, `reports/leaderboard.md` (a GitHub-ready table, the
comment CI posts on pull requests), and two tables DVC draws (dvc.yaml, top
level): `plots/leaderboard.csv` (test accuracy against training time) and
`plots/learning_curves.csv` (every model's epochs, one line per model).
"""

from __future__ import annotations

from stages.common import handed, paths
from stages.common.cli import run
from stages.common.files import write_csv, write_json, write_text
from stages.reporting import leaderboard


def main() -> None:
    """Write the summary JSON, the Markdown leaderboard and the tables DVC draws."""
    models = handed.read("report")["models"]
    table = leaderboard.rows(models)
    best = leaderboard.ranked(table)
    write_csv(paths.LEARNING_CURVES, leaderboard.CURVE_COLUMNS,
              leaderboard.learning_curves([m["name"] for m in models]))
    write_csv(paths.LEADERBOARD_CSV, leaderboard.CHART_COLUMNS, table)
    write_json(paths.SUMMARY, {"best_model": best[0]["model"],
                               "best_test_accuracy": best[0]["test_accuracy"],
                               "leaderboard": best})
    text = leaderboard.markdown(table)
    write_text(paths.LEADERBOARD, text)
    print(text)
    print(f"report: best {best[0]['model']} at {100 * best[0]['test_accuracy']:.2f}% of "
          f"{len(table)} models -> {paths.LEADERBOARD}")


if __name__ == "__main__":
    run(main)
