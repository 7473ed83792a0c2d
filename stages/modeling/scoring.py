"""Classification scores from a confusion matrix (numpy only).

Everything per class is derived from the one confusion matrix, so the
per-class figures and the confusion plot can never disagree.
"""

from __future__ import annotations

import numpy as np

from stages.data.mnist import NUM_CLASSES


def confusion_matrix(actual: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    """Counts [actual, predicted] for the ten digits."""
    pairs = actual.astype(np.int64) * NUM_CLASSES + predicted.astype(np.int64)
    return np.bincount(pairs, minlength=NUM_CLASSES**2).reshape(NUM_CLASSES, NUM_CLASSES)


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    return np.divide(numerator, denominator, out=np.zeros(len(numerator)),
                     where=denominator > 0)


def per_class(matrix: np.ndarray) -> dict[str, dict[str, float]]:
    """Precision, recall, F1 and support for each digit."""
    hits = np.diag(matrix).astype(float)
    precision = _ratio(hits, matrix.sum(axis=0))
    recall = _ratio(hits, matrix.sum(axis=1))
    f1 = _ratio(2 * precision * recall, precision + recall)
    return {str(digit): {"precision": round(float(precision[digit]), 6),
                         "recall": round(float(recall[digit]), 6),
                         "f1": round(float(f1[digit]), 6),
                         "support": int(matrix[digit].sum())}
            for digit in range(NUM_CLASSES)}


def macro_f1(matrix: np.ndarray) -> float:
    """Unweighted mean of the per-class F1 scores."""
    return float(np.mean([scores["f1"] for scores in per_class(matrix).values()]))


def cross_entropy(probabilities: np.ndarray, labels: np.ndarray) -> float:
    """Mean negative log-probability of the true class."""
    chosen = probabilities[np.arange(len(labels)), labels.astype(np.int64)]
    return float(-np.mean(np.log(np.clip(chosen, 1e-12, 1.0))))
