"""Stage `evaluate@<model>`: score one trained model on the held-out test set.

    python -m stages.pipeline.evaluate quickstart

The test split is read here and nowhere else. Writes flat metrics for
`dvc metrics show/diff`, per-class scores beside them, the confusion data
for DVC's `confusion` template, and the pictures people look at: the
confusion matrix, test digits with their predictions, the learning curve.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

from stages.common import handed, paths, phases
from stages.common.files import atomic_output, read_history, write_json
from stages.data.mnist import load_prepared
from stages.modeling import scoring
from stages.reporting import pictures
from stages.tools.warm import client as warm_start


def timed_probabilities(model, x: np.ndarray, batch_size: int) -> tuple[np.ndarray, float]:
    """Class probabilities for `x`, and test images per second at `batch_size`.

    A warm-up pass first (on two batches: the same code path as the whole set), so
    graph tracing is not counted as inference time.
    """
    from stages.modeling.saving import predict_proba

    predict_proba(model, x[:2 * batch_size], batch_size)
    started = time.perf_counter()
    probabilities = predict_proba(model, x, batch_size)
    return probabilities, len(x) / (time.perf_counter() - started)


def write_confusion_csv(path: Path, actual: np.ndarray, predicted: np.ndarray) -> None:
    """One `actual,predicted` row per test image: DVC's confusion template input."""
    with atomic_output(path) as tmp:
        pairs = zip(actual.tolist(), predicted.tolist(), strict=True)
        tmp.write_text("actual,predicted\n" + "".join(f"{a},{p}\n" for a, p in pairs))


def prediction_grid(path: Path, x: np.ndarray, actual: np.ndarray, predicted: np.ndarray
                    ) -> None:
    """The tutorials' closing picture: test digits, predicted vs true, errors in red."""
    wrong = np.flatnonzero(predicted != actual)[:10]
    right = np.flatnonzero(predicted == actual)[: 40 - len(wrong)]
    chosen = np.sort(np.concatenate([wrong, right]))
    pictures.digit_grid(path, x[chosen], [f"{predicted[i]} (true {actual[i]})" if
                                          predicted[i] != actual[i] else str(predicted[i])
                                          for i in chosen],
                        wrong=[bool(predicted[i] != actual[i]) for i in chosen])


def main(argv: list[str] | None = None) -> None:
    """Score the model and write its metrics and pictures."""
    name, config = handed.for_model_stage("evaluate", argv, "Evaluate one trained model.")
    with phases.phase("import tensorflow"):
        from stages.modeling import backend, build, saving  # TensorFlow loads only now
        backend.start(config["threads"])

    with phases.phase("load data"):
        model = saving.load(paths.model(name), set(config["layers"]))
        x_test, y_test = load_prepared("test")
    with phases.phase("evaluate"):
        probabilities, images_per_second = timed_probabilities(model, x_test,
                                                               config["batch_size"])
    predicted = probabilities.argmax(axis=1)
    accuracy = float(np.mean(predicted == y_test))
    matrix = scoring.confusion_matrix(y_test, predicted)
    write_json(paths.of_model("test_metrics", name), {
        "test_accuracy": round(accuracy, 6),
        "test_loss": round(scoring.cross_entropy(probabilities, y_test), 6),
        "macro_f1": round(scoring.macro_f1(matrix), 6),
        "trainable_params": build.trainable_params(model),
        "epochs": config["epochs"],
        "test_images_per_second": round(images_per_second, 1),
    })
    write_json(paths.of_model("per_class", name), scoring.per_class(matrix))
    write_confusion_csv(paths.of_model("confusion", name), y_test, predicted)
    with phases.phase("pictures"):
        pictures.confusion(paths.of_model("confusion_picture", name), matrix,
                           f"{name}: test confusion")
        prediction_grid(paths.of_model("predictions_picture", name), x_test, y_test, predicted)
        pictures.history(paths.of_model("history_picture", name),
                         read_history(paths.of_model("history", name)), name)
    print(f"evaluate@{name}: test accuracy {accuracy:.4f}, loss "
          f"{scoring.cross_entropy(probabilities, y_test):.4f} on {len(y_test):,} images")


if __name__ == "__main__":
    warm_start.run(__spec__.name, lambda: main(sys.argv[1:]))
