"""Test code: Triton's `onnxruntime` backend, as a Python-based backend.

No build of Triton's ONNX Runtime backend is on any package registry this project can
reach; nvidia-pytriton's tritonserver carries only the Python backend. Triton runs a
Python file named after a backend (`<backend-dir>/onnxruntime/model.py`) for every model
whose config says `platform: "onnxruntime_onnx"`, so the repository the export stage
writes loads unchanged. This file runs the model's `1/model.onnx` in onnxruntime, one
batch per call of `execute` (the requests Triton's dynamic batcher gathered, stacked).
In production, Triton's own ONNX Runtime backend reads the same repository.
"""

import json
import os

import numpy as np
import onnxruntime
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def initialize(self, args):
        config = json.loads(args["model_config"])
        path = os.path.join(args["model_repository"], args["model_version"], "model.onnx")
        self.session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
        [self.input] = [tensor["name"] for tensor in config["input"]]
        [self.output] = [tensor["name"] for tensor in config["output"]]

    def execute(self, requests):
        batches = [pb_utils.get_input_tensor_by_name(request, self.input).as_numpy()
                   for request in requests]
        [answers] = self.session.run([self.output], {self.input: np.concatenate(batches)})
        ends = np.cumsum([len(batch) for batch in batches])[:-1]
        return [pb_utils.InferenceResponse([pb_utils.Tensor(self.output, part)])
                for part in np.split(answers, ends)]
