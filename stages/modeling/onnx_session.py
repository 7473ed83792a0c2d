"""An ONNX export in onnxruntime, as the export stage checks it and the server answers with it.

No TensorFlow here: the server and `predict` import this alone. One thread per call
(a stage's parallelism is its TensorFlow params; the server's, its processes), the
graph optimized once, at load.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np


def onnx_runner(path: Path) -> Callable[[np.ndarray], np.ndarray]:
    """The ONNX file as a function of a batch of images to its raw outputs."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    options.log_severity_level = 3
    session = onnxruntime.InferenceSession(str(path), options,
                                           providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return lambda x: session.run(None, {name: x})[0]


def softmax(outputs: np.ndarray) -> np.ndarray:
    """Class probabilities from logits in float64, as Keras's softmax makes them."""
    shifted = np.exp(outputs.astype(np.float64) - outputs.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)
