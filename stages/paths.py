"""Where every pipeline file lives. dvc.yaml declares the same paths.

Stages import their paths from here rather than from each other, so a stage
module's code is a dependency of that stage alone.
"""

from __future__ import annotations

from pathlib import Path

RAW = Path("data/raw/mnist.npz")
PREPARED = Path("data/prepared")
DATA_METRICS = Path("metrics/data.json")
SAMPLES_PLOT = Path("plots/samples.png")
SUMMARY = Path("metrics/summary.json")
LEADERBOARD = Path("reports/leaderboard.md")
LEADERBOARD_PLOT = Path("plots/leaderboard.png")


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


def test_metrics(name: str) -> Path:
    """Flat test metrics, one `dvc metrics show` row per model."""
    return Path("metrics") / f"{name}.json"


def per_class(name: str) -> Path:
    """Per-class precision, recall and F1, beside the flat metrics."""
    return Path("metrics") / f"{name}.per_class.json"


def plot(name: str, filename: str) -> Path:
    """A per-model plot file: history.csv/png, confusion.csv/png, predictions.png."""
    return Path("plots") / name / filename
