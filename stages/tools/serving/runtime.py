"""A trained model as something that answers: its ONNX export through onnxruntime, or Keras.

The export stage writes each model as ONNX and proves it on the whole test set
(every digit equal to Keras's, every probability within 1e-4; `exports/<m>.json`).
Answering from that file takes onnxruntime, a few milliseconds to start and no
TensorFlow: that is the default. `keras` loads the `.keras` file with TensorFlow,
for a model that has no ONNX export (a layer ONNX cannot express).
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from stages.common import handed, paths
from stages.common.cli import UserError
from stages.common.files import read_json
from stages.modeling.onnx_session import onnx_runner, softmax

RUNTIMES = ("onnx", "keras")


class OnnxModel:
    """The model's ONNX export in onnxruntime, as the export stage checked it."""

    def __init__(self, name: str) -> None:
        report = read_json(paths.of_model("export_report", name)).get("onnx", {})
        if "file" not in report or "outputs" not in report:
            why = report.get("error") or f"run `dvc repro export@{name}`"
            raise UserError(f"model {name} has no ONNX export ({why}); use --runtime keras")
        self.run = onnx_runner(Path(report["file"]))
        self.logits = report["outputs"] == "logits"

    def probabilities(self, x: np.ndarray) -> np.ndarray:
        """(N, 28, 28, 1) float32 in [0, 1] -> (N, 10) float32 probabilities."""
        outputs = self.run(x)
        return (softmax(outputs) if self.logits else outputs).astype(np.float32)


class KerasModel:
    """The `.keras` file in Keras (TensorFlow imported), checked as the pipeline checks it;
    one call at a time."""

    def __init__(self, name: str) -> None:
        from stages.modeling import backend, saving  # TensorFlow loads only now

        backend.start(handed.read("export", name)["threads"])
        self.saving = saving
        self.model = saving.load_trained(name)
        self.lock = threading.Lock()

    def probabilities(self, x: np.ndarray) -> np.ndarray:
        with self.lock:
            return self.saving.predict_proba(self.model, x, len(x)).astype(np.float32)


def load(name: str, runtime: str) -> OnnxModel | KerasModel:
    """Model `name` (one the pipeline knows and trained) in `runtime`."""
    handed.known_model(name)
    if not paths.model(name).is_file():
        raise UserError(f"{paths.model(name)} does not exist: train it first "
                        f"(dvc repro train@{name})")
    return OnnxModel(name) if runtime == "onnx" else KerasModel(name)
