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

RUNTIMES = ("onnx", "keras")


def softmax(outputs: np.ndarray) -> np.ndarray:
    """Class probabilities from logits, as Keras makes them (float64, then float32)."""
    shifted = np.exp(outputs.astype(np.float64) - outputs.max(axis=1, keepdims=True))
    return (shifted / shifted.sum(axis=1, keepdims=True)).astype(np.float32)


class OnnxModel:
    """The model's ONNX export in onnxruntime: one thread per call (the server's threads
    and processes are the parallelism), the graph optimized once, at load."""

    def __init__(self, name: str) -> None:
        import onnxruntime

        report = read_json(paths.of_model("export_report", name)).get("onnx", {})
        if "file" not in report or "outputs" not in report:
            why = report.get("error") or f"run `dvc repro export@{name}`"
            raise UserError(f"model {name} has no ONNX export ({why}); use --runtime keras")
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = options.inter_op_num_threads = 1
        options.log_severity_level = 3
        self.session = onnxruntime.InferenceSession(str(Path(report["file"])), options,
                                                    providers=["CPUExecutionProvider"])
        self.input = self.session.get_inputs()[0].name
        self.logits = report["outputs"] == "logits"

    def probabilities(self, x: np.ndarray) -> np.ndarray:
        """(N, 28, 28, 1) float32 in [0, 1] -> (N, 10) float32 probabilities."""
        [outputs] = self.session.run(None, {self.input: x})
        return softmax(outputs) if self.logits else outputs.astype(np.float32)


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
