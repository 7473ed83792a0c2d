"""Every trained model, loaded once, answering for one image at a time.

The web page asks it for each drawing and each dropped file. TensorFlow and the
models load in a background thread, so the page is up at once and says
"loading" until they are in; Keras models are called under one lock (one
inference at a time: a few milliseconds each, and TensorFlow's state stays
simple).
"""

from __future__ import annotations

import json
import threading
import time

import numpy as np

from stages.common import handed, paths
from stages.common.cli import UserError


class Zoo:
    """The pipeline's trained models and their test accuracies."""

    def __init__(self) -> None:
        self.names = [name for name in handed.models() if paths.model(name).is_file()]
        if not self.names:
            raise UserError("no trained model here: run `dvc repro` (or `make pipeline`) first")
        self.accuracy = {name: self._accuracy(name) for name in self.names}
        self.models: dict = {}
        self.error: str | None = None
        self.lock = threading.Lock()
        self.loaded = threading.Event()
        self.load_seconds = 0.0

    @staticmethod
    def _accuracy(name: str) -> float | None:
        metrics = paths.of_model("test_metrics", name)
        return json.loads(metrics.read_text()).get("test_accuracy") if metrics.is_file() else None

    def load_in_background(self) -> None:
        threading.Thread(target=self._load, name="load-models", daemon=True).start()

    def _load(self) -> None:
        started = time.perf_counter()
        try:
            from stages.modeling import saving

            self.models = {name: saving.load_trained(name) for name in self.names}
            for model in self.models.values():  # the first call traces: do it now
                saving.predict_proba(model, np.zeros((1, 28, 28, 1), np.float32), 1)
        except UserError as error:
            self.error = str(error)
        self.load_seconds = time.perf_counter() - started
        self.loaded.set()

    def describe(self) -> dict:
        """What the page shows before any drawing: the models and whether they are in."""
        return {"ready": self.loaded.is_set() and not self.error, "error": self.error,
                "models": [{"name": name, "test_accuracy": self.accuracy[name]}
                           for name in self.names]}

    def answer(self, x: np.ndarray) -> list[dict]:
        """Every model's digit and ten probabilities for one (28, 28, 1) input."""
        from stages.modeling.saving import predict_proba

        with self.lock:
            found = {name: predict_proba(model, x[np.newaxis], 1)[0]
                     for name, model in self.models.items()}
        return [{"name": name, "digit": int(probabilities.argmax()),
                 "probabilities": [round(float(p), 4) for p in probabilities]}
                for name, probabilities in found.items()]
