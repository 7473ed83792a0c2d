"""Every trained model of the pipeline, loaded once, answering for images.

The models are the ones `validate` lists and the pipeline trained (a model added to
params.yaml is here after `dvc repro`), each in its runtime (`serving.runtime`:
ONNX by default). They load in a background thread, so the page is up at once and
says "loading" until they are in.
"""

from __future__ import annotations

import threading
import time

import numpy as np

from stages.common import handed, paths
from stages.common.cli import UserError
from stages.common.files import read_json
from stages.tools.serving import runtime


class Zoo:
    """The pipeline's trained models, their test accuracies, and the runtime answering."""

    def __init__(self, runtime_name: str = "onnx") -> None:
        self.names = [name for name in handed.models() if paths.model(name).is_file()]
        if not self.names:
            raise UserError("no trained model here: run `dvc repro` (or `make pipeline`) first")
        self.runtime = runtime_name
        self.accuracy = {name: self._accuracy(name) for name in self.names}
        self.models: dict = {}
        self.error: str | None = None
        self.loaded = threading.Event()
        self.load_seconds = 0.0

    @staticmethod
    def _accuracy(name: str) -> float | None:
        metrics = paths.of_model("test_metrics", name)
        return read_json(metrics).get("test_accuracy") if metrics.is_file() else None

    def load_in_background(self) -> None:
        threading.Thread(target=self.load, name="load-models", daemon=True).start()

    def load(self) -> None:
        started = time.perf_counter()
        try:
            self.models = {name: runtime.load(name, self.runtime) for name in self.names}
            for model in self.models.values():  # the first call prepares: do it now
                model.probabilities(np.zeros((1, 28, 28, 1), np.float32))
        except UserError as error:
            self.error = str(error)
        except Exception as error:
            self.error = f"the models could not be loaded: {type(error).__name__}: {error}"
        self.load_seconds = time.perf_counter() - started
        self.loaded.set()

    def ready(self) -> bool:
        return self.loaded.is_set() and not self.error

    def describe(self) -> dict:
        """What the page shows before any drawing: the models and whether they are in."""
        return {"ready": self.ready(), "error": self.error, "runtime": self.runtime,
                "models": [{"name": name, "test_accuracy": self.accuracy[name]}
                           for name in self.names]}

    def probabilities(self, name: str, x: np.ndarray) -> np.ndarray:
        """Model `name`'s (N, 10) probabilities for (N, 28, 28, 1) inputs."""
        return self.models[name].probabilities(x)

    def answer(self, x: np.ndarray) -> list[dict]:
        """Every model's digit and ten probabilities for one (28, 28, 1) input."""
        found = {name: model.probabilities(x[np.newaxis])[0]
                 for name, model in self.models.items()}
        return [{"name": name, "digit": int(probabilities.argmax()),
                 "probabilities": [round(float(p), 4) for p in probabilities]}
                for name, probabilities in found.items()]
