"""The drawing page's HTTP side: the standard library's threading server, three routes.

    GET  /              the page (stages/serving/page.html: no CDN, nothing else to fetch)
    GET  /api/models    the models, their test accuracies, whether they are loaded
    POST /api/predict   an image's bytes (a PNG of the canvas, a dropped file) ->
                        every model's digit and ten probabilities

The body is the image itself, not a multipart form: nothing to parse but the
image, which goes through the same path as `python -m stages.predict`
(`stages.data.images`). Bad requests get a 4xx and a one-line JSON message:
an upload over MAX_UPLOAD bytes (413, refused before it is read), a body that
is not an image (415), an image with no digit on it (422), an unknown route
(404); 503 while the models are still loading.
"""

from __future__ import annotations

import http.server
import json
import time
from pathlib import Path

from stages.common.cli import UserError
from stages.data.images import decode, to_model_input
from stages.serving.zoo import Zoo

PAGE = Path(__file__).with_name("page.html")
MAX_UPLOAD = 4 * 1024 * 1024
DRAIN = 64 * 1024 * 1024  # beyond this, an oversized upload is cut off, not read


class Handler(http.server.BaseHTTPRequestHandler):
    """One request; the server's `zoo` answers."""

    server: Server
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:  # one line per request is noise here
        pass

    def _send(self, status: int, body: bytes, kind: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, data: dict) -> None:
        self._send(status, json.dumps(data).encode(), "application/json")

    def do_GET(self) -> None:
        if self.path in ("/", "/index.html"):
            self._send(200, self.server.page, "text/html; charset=utf-8")
        elif self.path == "/api/models":
            self._json(200, self.server.zoo.describe())
        else:
            self._json(404, {"error": f"no such page: {self.path}"})

    def do_POST(self) -> None:
        if self.path != "/api/predict":
            self._json(404, {"error": f"no such endpoint: {self.path}"})
            return
        length = self.headers.get("Content-Length")
        if length is None or not length.isdigit():
            self.close_connection = True
            self._json(411, {"error": "send the image as the request body, with its length"})
            return
        if int(length) > MAX_UPLOAD:
            self.close_connection = True
            self._json(413, {"error": f"the image is {int(length) / 2**20:.1f} MB; the limit is "
                                      f"{MAX_UPLOAD / 2**20:.0f} MB"})
            self._discard(int(length))
            return
        data = self.rfile.read(int(length))
        zoo = self.server.zoo
        if not zoo.loaded.wait(timeout=60) or zoo.error:
            self._json(503, {"error": zoo.error or "the models are still loading; try again"})
            return
        started = time.perf_counter()
        try:
            x = to_model_input(decode(data, "the upload"), "the upload")
        except UserError as error:
            status = 422 if str(error).startswith("no digit") else 415
            self._json(status, {"error": str(error)})
            return
        self._json(200, {"models": zoo.answer(x),
                         "milliseconds": round(1000 * (time.perf_counter() - started), 1)})


    def _discard(self, length: int) -> None:
        """Read (and drop) what the client is still sending, up to DRAIN bytes, so that a
        client that writes its whole body before reading the answer gets to read it."""
        self.connection.settimeout(5)
        left = min(length, DRAIN)
        try:
            while left > 0 and (chunk := self.rfile.read(min(left, 1 << 16))):
                left -= len(chunk)
        except OSError:
            pass


class Server(http.server.ThreadingHTTPServer):
    """A thread per request (fifty people drawing at once is fifty threads), the page
    read once, the models shared."""

    daemon_threads = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], zoo: Zoo) -> None:
        super().__init__(address, Handler)
        self.zoo, self.page = zoo, PAGE.read_bytes()
