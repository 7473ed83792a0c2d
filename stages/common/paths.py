"""Where the pipeline's files live, by name, as dvc.yaml declares them.

dvc.yaml is the source: each path here is one of its stages' deps or outputs,
a model's written as dvc.yaml writes it with `${key}` for the model's name
(tests/unit/test_dvc_yaml.py checks both ways: every path here is in dvc.yaml,
and every output dvc.yaml declares is named here). The lists of outputs per
stage are read from dvc.yaml itself (`stages.common.outputs`).
"""

from __future__ import annotations

from pathlib import Path

DVC_YAML = Path("dvc.yaml")
PARAMS = Path("params.yaml")
REQUIREMENTS = Path("requirements.txt")
PYTHON_VERSION = Path(".python-version")
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

# Each model's files: the template dvc.yaml's `foreach` stages write them to.
PER_MODEL = {
    "model": "models/${key}.keras",                  # train: the trained model
    "summary": "models/${key}.summary.txt",          # train: Keras's summary, as text
    "history": "metrics/history/${key}.csv",         # train: per-epoch figures (CSVLogger)
    "train_metrics": "metrics/train/${key}.json",    # train: final scores, wall time, size
    "test_metrics": "metrics/${key}.json",           # evaluate: one `dvc metrics` row
    "per_class": "metrics/${key}.per_class.json",    # evaluate: per-digit scores
    "confusion": "plots/${key}/confusion.csv",       # evaluate: DVC's confusion chart
    "confusion_picture": "plots/${key}/confusion.png",
    "predictions_picture": "plots/${key}/predictions.png",
    "history_picture": "plots/${key}/history.png",
    "export": "exports/${key}",                      # export: SavedModel, LiteRT, ONNX
    "export_report": "exports/${key}.json",          # export: sizes, times, parity
}


def of_model(kind: str, name: str) -> Path:
    """Model `name`'s file of `kind` (a key of PER_MODEL): `of_model("model", "cnn_sgd")`."""
    return Path(PER_MODEL[kind].replace("${key}", name))


def model(name: str) -> Path:
    """The trained model: what evaluate, export, predict and the registry read."""
    return of_model("model", name)


def prepared(split: str) -> Path:
    """One prepared split: train, validation or test."""
    return PREPARED / f"{split}.npz"
