"""Serve the zoo: a page to draw on, and the Open Inference Protocol for programs (`make serve`).

    python -m stages.serve [--port 8000] [--host 127.0.0.1] [--runtime onnx|keras]
                           [--processes N]

The page at / shows every trained model's answer as you draw; programs call
/v2/models/<model>/infer (KServe's v2 REST protocol: Triton's and MLServer's clients
work). The models answer from their ONNX exports through onnxruntime (`--runtime
keras`: the Keras files, through TensorFlow, for a model with no export). Serves on
127.0.0.1 unless told otherwise: `--host 0.0.0.0` lets anyone on your network in,
and says so. Works with no network: nothing comes from a CDN (`stages.tools.serving`).
"""

from __future__ import annotations

import os

# Before numpy loads: OpenBLAS's own threads, spinning beside the server's connection
# threads, made concurrent requests 3x slower (docs/serving.md, Load).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import sys

from stages.common.cli import UserError, run
from stages.tools.serving.runtime import RUNTIMES
from stages.tools.serving.zoo import Zoo


def main(argv: list[str] | None = None) -> None:
    """Bind, fork one answering process per core, serve until Ctrl-C."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=8000, help="the port (default 8000)")
    parser.add_argument("--host", default="127.0.0.1",
                        help="the address to listen on (default 127.0.0.1: this machine only)")
    parser.add_argument("--runtime", choices=RUNTIMES, default="onnx",
                        help="onnx (the exports, onnxruntime) or keras (TensorFlow)")
    parser.add_argument("--processes", type=int, default=os.cpu_count() or 1,
                        help="answering processes (default: one per core)")
    args = parser.parse_args(argv)
    try:
        from stages.tools.serving.processes import listen, serve
    except ModuleNotFoundError as error:
        raise UserError(f"the server needs {error.name}: run `make serve` (or `pip install "
                        "-r requirements-serve.txt`)") from None
    names = Zoo(args.runtime).names  # no models: one line, before anything listens
    sockets = listen(args.host, args.port, max(1, args.processes))
    host, port = sockets[0].getsockname()[:2]
    print(f"serve: {len(names)} models ({', '.join(names)}) from {args.runtime} at "
          f"http://{host}:{port}/ and /v2/models/<model>/infer (Ctrl-C stops)", flush=True)
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(f"serve: listening on {args.host}: anyone who can reach this machine can use it",
              flush=True)
    serve(sockets, args.runtime)


if __name__ == "__main__":
    run(lambda: main(sys.argv[1:]))
