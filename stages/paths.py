"""Where every pipeline file lives. dvc.yaml declares the same paths.

Stages import their paths from here rather than from each other, so a stage
module's code is a dependency of that stage alone.
"""

from __future__ import annotations

from pathlib import Path

VALIDATED = Path("data/validated")
VALIDATED_DATA = VALIDATED / "data.json"
VALIDATED_MODELS = VALIDATED / "models"
ENVIRONMENT = VALIDATED / "environment.json"
RAW = Path("data/raw/mnist.npz")
PREPARED = Path("data/prepared")
DATA_METRICS = Path("metrics/data.json")
SAMPLES_PLOT = Path("plots/samples.png")
SUMMARY = Path("reports/summary.json")
LEADERBOARD = Path("reports/leaderboard.md")
LEADERBOARD_CSV = Path("plots/leaderboard.csv")
LEARNING_CURVES = Path("plots/learning_curves.csv")


def validated_model(name: str) -> Path:
    """The validated `models.<name>` block: train@<name> depends on it alone."""
    return VALIDATED_MODELS / f"{name}.json"


def prepared(split: str) -> Path:
    """One prepared split: train, validation or test."""
    return PREPARED / f"{split}.npz"


def model(name: str) -> Path:
    """The trained model (evaluate and predict read it)."""
    return Path("models") / f"{name}.keras"


def model_summary(name: str) -> Path:
    """The Keras model summary as text."""
    return Path("models") / f"{name}.summary.txt"


def train_metrics(name: str) -> Path:
    """Training figures: final scores, wall time, throughput, parameter count."""
    return Path("metrics/train") / f"{name}.json"


def history(name: str) -> Path:
    """Per-epoch training and validation figures (Keras CSVLogger)."""
    return Path("metrics/history") / f"{name}.csv"


def test_metrics(name: str) -> Path:
    """Flat test metrics, one `dvc metrics show` row per model."""
    return Path("metrics") / f"{name}.json"


def per_class(name: str) -> Path:
    """Per-class precision, recall and F1, beside the flat metrics."""
    return Path("metrics") / f"{name}.per_class.json"


def plot(name: str, filename: str) -> Path:
    """A per-model picture or plot file: history.png, confusion.csv/png, predictions.png."""
    return Path("plots") / name / filename


def stage_outputs(stage: str) -> tuple[list[Path], list[Path]]:
    """The outputs DVC removes before running `stage` ("train@quickstart"), as
    dvc.yaml declares them: (kept in the DVC cache, committed to git)."""
    kind, _, name = stage.partition("@")
    outputs = {
        "download": ([RAW], []),
        "prepare": ([*(prepared(s) for s in ("train", "validation", "test")), DATA_METRICS,
                     SAMPLES_PLOT], []),
        "train": ([model(name), model_summary(name), history(name), train_metrics(name),
                   plot(name, "history.png")], []),
        "evaluate": ([per_class(name), test_metrics(name), plot(name, "confusion.csv"),
                      plot(name, "confusion.png"), plot(name, "predictions.png")], []),
        "report": ([], [SUMMARY, LEADERBOARD, LEARNING_CURVES, LEADERBOARD_CSV]),
    }
    return outputs.get(kind, ([], []))  # validate's outputs persist: DVC keeps them


def model_outputs(name: str) -> list[Path]:
    """Everything a model's stages write, and its plots folder: what goes when its
    block leaves params.yaml."""
    train, evaluate = stage_outputs(f"train@{name}"), stage_outputs(f"evaluate@{name}")
    return [validated_model(name), *train[0], *train[1], *evaluate[0], *evaluate[1],
            Path("plots") / name]
