"""Where every pipeline file lives, for the code that reads and writes it.

dvc.yaml declares the same files as each stage's dependencies and outputs;
the lists of outputs per stage are read from dvc.yaml itself (`outputs`).
"""

from __future__ import annotations

import json
from pathlib import Path

from stages.common.cli import UserError, did_you_mean

PARAMS = Path("params.yaml")
VALIDATED = Path("data/validated")
ENVIRONMENT = VALIDATED / "environment.json"
RAW = Path("data/raw/mnist.npz")
PREPARED = Path("data/prepared")
DATA_METRICS = Path("metrics/data.json")
SAMPLES_PLOT = Path("plots/samples.png")
SUMMARY = Path("reports/summary.json")
LEADERBOARD = Path("reports/leaderboard.md")
LEADERBOARD_CSV = Path("plots/leaderboard.csv")
LEARNING_CURVES = Path("plots/learning_curves.csv")


def validated(stage: str, model: str | None = None) -> Path:
    """The checked params one stage reads, written by `validate`: `download.json`,
    `prepare.json`, `report.json`, or `train/<model>.json`, `evaluate/<model>.json`."""
    return VALIDATED / stage / f"{model}.json" if model else VALIDATED / f"{stage}.json"


def validated_models() -> list[str]:
    """The models `validate` checked, in the order of params.yaml ([] before it ran)."""
    report = validated("report")
    return ([model["name"] for model in json.loads(report.read_text())["models"]]
            if report.is_file() else [])


def trained_model(name: str) -> Path:
    """The model file of a model the pipeline knows; for any other name, an error naming
    the ones it knows (no TensorFlow needed: commands check before they load it)."""
    known = validated_models()
    if name not in known:
        raise UserError(f"unknown model {name!r}{did_you_mean(name, known)}; "
                        + (f"the pipeline has: {', '.join(known)}" if known else
                           "the pipeline has not run here yet: run `dvc repro` first"))
    return model(name)


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


def export(name: str) -> Path:
    """The model in the formats that leave the pipeline: SavedModel, LiteRT, ONNX."""
    return Path("exports") / name


def export_report(name: str) -> Path:
    """Each export's file, size, time and parity with the Keras model."""
    return Path("exports") / f"{name}.json"


def plot(name: str, filename: str) -> Path:
    """A per-model picture or plot file: history.png, confusion.csv/png, predictions.png."""
    return Path("plots") / name / filename
