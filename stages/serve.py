"""A page to draw a digit on, with every trained model's answer as you draw (`make serve`).

    python -m stages.serve [--port 8000] [--host 127.0.0.1]

Serves on 127.0.0.1 unless told otherwise: `--host 0.0.0.0` lets anyone on your
network draw, and says so. The page is up at once; the models load behind it
(a few seconds for TensorFlow), and it works with no network at all: nothing
comes from a CDN. Drawings and dropped files take the same path as
`python -m stages.predict` (`stages.serving`).
"""

from __future__ import annotations

import argparse
import sys

from stages.common.cli import UserError, run
from stages.serving.app import Server
from stages.serving.zoo import Zoo


def main(argv: list[str] | None = None) -> None:
    """Load the models in the background and serve until Ctrl-C."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=8000, help="the port (default 8000)")
    parser.add_argument("--host", default="127.0.0.1",
                        help="the address to listen on (default 127.0.0.1: this machine only)")
    args = parser.parse_args(argv)
    zoo = Zoo()
    try:
        server = Server((args.host, args.port), zoo)
    except OSError as error:
        raise UserError(f"cannot listen on {args.host}:{args.port} ({error.strerror}): "
                        "is another server using it? Choose another with --port") from None
    zoo.load_in_background()
    host, port = server.server_address[:2]
    print(f"serve: {len(zoo.names)} models ({', '.join(zoo.names)}) at http://{host}:{port}/"
          " (Ctrl-C stops)", flush=True)
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(f"serve: listening on {args.host}: anyone who can reach this machine can use "
              "the page", flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()


if __name__ == "__main__":
    run(lambda: main(sys.argv[1:]))
