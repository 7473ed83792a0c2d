"""The HTTP side: the page, its two routes, and the Open Inference Protocol's, hard to knock over.

    GET  /                          the page (page.html: no CDN, nothing else to fetch)
    GET  /api/models                the models, their test accuracies, whether they are in
    POST /api/predict               an image file's bytes -> every model's digit and ten
                                    probabilities (the path `python -m stages.predict` takes)
    GET  /v2, /v2/health/live, /v2/health/ready, /v2/models/{name}, /v2/models/{name}/ready
    POST /v2/models/{name}/infer    digits as MNIST stores them -> probabilities (`protocol`)

Python's standard library serves it: `serve` binds a socket per core on one port, then
forks one process per socket, each taking its connections with a thread per connection,
so both cores answer. What a client can hold is bounded: every socket operation times
out after TIMEOUT seconds (a request line or headers that stall, a body that stalls, an
idle kept-alive connection), a body must arrive within BODY_SECONDS whatever its pace, a
process holds at most CONNECTIONS connections (the next get 503 at once), at most
DECODING images are decoded at a time, and an image is refused from its header when its
pixels would be more than a digit needs (`stages.tools.reading.images`). Every refusal is a 4xx
(503 for a full server) with one line of JSON.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import re
import signal
import socket
import sys
import threading
import time
from pathlib import Path

from stages.common.cli import UserError
from stages.tools.children import die_with_parent
from stages.tools.reading.images import ImageTooLargeError, decode, to_model_input
from stages.tools.serving import protocol
from stages.tools.serving.zoo import Zoo

PAGE = Path(__file__).with_name("page.html")
MAX_UPLOAD = 4 * 1024 * 1024
TIMEOUT = 5.0         # seconds a socket may wait for the other side
BODY_SECONDS = 10.0   # a body takes at most this long, trickled or not
LINGER = 2.0          # seconds a refused request's unread bytes are drained before closing
CONNECTIONS = 64      # per process
DECODING = 1          # images read at once, per process: more only fight for its GIL
V2_MODEL = re.compile(r"^/v2/models/([A-Za-z_]\w*)(?:/versions/1)?(/ready|/infer)?$")


class RefusedError(Exception):
    """A request refused with `status` and a one-line message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class Handler(http.server.BaseHTTPRequestHandler):
    """One connection's requests; the server's zoo answers."""

    server: Server
    protocol_version = "HTTP/1.1"
    body_read = False  # whether the POST being answered had its body read
    timeout = TIMEOUT  # every read and write on the connection

    def log_message(self, *args) -> None:  # a line per request is noise here
        pass

    def setup(self) -> None:
        """No Nagle delay: a reply's headers and body leave at once, not 40 ms apart
        (Nagle's algorithm waiting on the client's delayed acknowledgement)."""
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _send(self, status: int, body: bytes, kind: str, headers: dict | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, data: dict, headers: dict | None = None) -> None:
        self._send(status, json.dumps(data).encode(), "application/json", headers)

    def _refuse(self, status: int, message: str) -> None:
        """A 4xx or 5xx with one line, and the connection closed (said in the headers, so
        that a client's pool does not send its next request down it)."""
        self._json(status, {"error": message}, {"Connection": "close"})
        if self.command == "POST" and not self.body_read:
            self._linger()

    def _linger(self) -> None:
        """Read and drop what the client still sends, for at most LINGER seconds, before
        closing: closing on unread bytes resets the connection, and a client still writing
        a refused body would see a broken pipe instead of our answer (nginx's lingering close)."""
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_WR)
            self.connection.settimeout(LINGER)
            deadline = time.monotonic() + LINGER
            while time.monotonic() < deadline and self.connection.recv(1 << 16):
                pass

    def do_GET(self) -> None:
        zoo, path = self.server.zoo, self.path.split("?", 1)[0]
        if path in ("/", "/index.html"):
            self._send(200, self.server.page, "text/html; charset=utf-8")
        elif path == "/api/models":
            self._json(200, zoo.describe())
        elif path == "/v2":
            self._json(200, protocol.server_metadata())
        elif path == "/v2/health/live":
            self._json(200, {"live": True})
        elif path == "/v2/health/ready":
            self._json(200 if zoo.ready() else 400, {"ready": zoo.ready()})
        elif (found := V2_MODEL.match(path)) and found[2] != "/infer":
            self._model(found[1], found[2] == "/ready")
        else:
            self._refuse(404, f"no such page: {path}")

    def _model(self, name: str, ready_only: bool) -> None:
        zoo = self.server.zoo
        if name not in zoo.names:
            self._refuse(404, f"unknown model {name!r}; the models: {', '.join(zoo.names)}")
        elif ready_only:
            self._json(200 if zoo.ready() else 400, {"name": name, "ready": zoo.ready()})
        else:
            platform = "onnxruntime_onnx" if zoo.runtime == "onnx" else "tensorflow_keras"
            self._json(200, protocol.model_metadata(name, platform))

    def do_POST(self) -> None:
        path, self.body_read = self.path.split("?", 1)[0], False
        try:
            if path == "/api/predict":
                self._predict()
            elif (found := V2_MODEL.match(path)) and found[2] == "/infer":
                self._infer(found[1])
            else:
                raise RefusedError(404, f"no such endpoint: {path}")
        except (RefusedError, protocol.ProtocolError) as refusal:
            self._refuse(refusal.status, str(refusal))

    def _body(self) -> bytes:
        """The request body, if it is announced, small enough and arrives in time."""
        length = self.headers.get("Content-Length")
        if self.headers.get("Transfer-Encoding") or length is None or not length.isdigit():
            raise RefusedError(411, "send the body with its Content-Length")
        if int(length) > MAX_UPLOAD:
            raise RefusedError(413, f"the body is {int(length) / 2**20:.1f} MB; the limit is "
                               f"{MAX_UPLOAD / 2**20:.0f} MB")
        deadline, chunks, left = time.monotonic() + BODY_SECONDS, [], int(length)
        try:
            while left:
                if time.monotonic() > deadline:
                    raise RefusedError(408, f"the body took more than {BODY_SECONDS:g}s to arrive")
                chunk = self.rfile.read1(min(left, 1 << 16))
                if not chunk:
                    raise RefusedError(400, "the body ended before its Content-Length")
                chunks.append(chunk)
                left -= len(chunk)
        except TimeoutError:
            raise RefusedError(408, f"the body stalled for {TIMEOUT:g}s") from None
        self.body_read = True
        return b"".join(chunks)

    def _ready_zoo(self) -> Zoo:
        zoo = self.server.zoo
        if not zoo.loaded.wait(timeout=30) or zoo.error:
            raise RefusedError(503, zoo.error or "the models are still loading; try again")
        return zoo

    def _predict(self) -> None:
        data = self._body()
        zoo = self._ready_zoo()
        started = time.perf_counter()
        try:
            with self.server.decoding:
                x = to_model_input(decode(data, "the upload"), "the upload")
        except ImageTooLargeError as error:
            raise RefusedError(413, str(error)) from None
        except UserError as error:
            status = 422 if str(error).startswith("no digit") else 415
            raise RefusedError(status, str(error)) from None
        self._json(200, {"models": zoo.answer(x),
                         "milliseconds": round(1000 * (time.perf_counter() - started), 1)})

    def _infer(self, name: str) -> None:
        zoo = self.server.zoo
        if name not in zoo.names:
            raise RefusedError(404, f"unknown model {name!r}; the models: {', '.join(zoo.names)}")
        images, request = protocol.parse_infer(self._body(),
                                               self.headers.get(protocol.HEADER_LENGTH))
        zoo = self._ready_zoo()
        body, headers = protocol.infer_response(name, request, zoo.probabilities(name, images))
        kind = "application/octet-stream" if headers else "application/json"
        self._send(200, body, kind, headers)


class Server(http.server.ThreadingHTTPServer):
    """A thread per connection, up to CONNECTIONS; the page read once, the models shared."""

    daemon_threads = True
    request_queue_size = 128

    def __init__(self, listening: socket.socket, zoo: Zoo) -> None:
        super().__init__(listening.getsockname()[:2], Handler, bind_and_activate=False)
        self.socket.close()
        self.socket = listening
        self.zoo, self.page = zoo, PAGE.read_bytes()
        self.slots = threading.BoundedSemaphore(CONNECTIONS)
        self.decoding = threading.BoundedSemaphore(DECODING)

    def process_request(self, request, client_address) -> None:
        if not self.slots.acquire(blocking=False):
            body = json.dumps({"error": "the server is busy: try again"}).encode()
            with contextlib.suppress(OSError):
                request.sendall(b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: "
                                b"application/json\r\nRetry-After: 1\r\nConnection: close\r\n"
                                + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request, client_address) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.slots.release()


def listen(host: str, port: int, processes: int) -> list[socket.socket]:
    """A listening socket per process on one port, bound before any process is forked
    (SO_REUSEPORT: the kernel spreads the connections evenly between them, where one
    shared socket lets whichever process wakes first take them all)."""
    try:
        with socket.create_server((host, port)) as probe:  # nobody else listens there
            port = probe.getsockname()[1]
        return [socket.create_server((host, port), backlog=256, reuse_port=True)
                for _ in range(processes)]
    except OSError as error:
        raise UserError(f"cannot listen on {host}:{port} ({error.strerror}): is another "
                        "server using it? Choose another with --port") from None


def serve(sockets: list[socket.socket], runtime: str) -> None:
    """Fork a process per socket that loads the models and answers on it; end them all on
    Ctrl-C or a terminate signal."""
    zoo = Zoo(runtime)  # checks there are models before anything forks
    children = []
    for listening in sockets:
        pid = os.fork()
        if pid == 0:  # a process of its own: its models, its threads
            die_with_parent(signal.SIGTERM)
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            zoo.load_in_background()
            Server(listening, zoo).serve_forever()
            os._exit(0)
        children.append(pid)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # a terminate ends them too
    try:
        while children:
            pid, _ = os.wait()
            children.remove(pid)
    except KeyboardInterrupt:
        pass
    finally:
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        for listening in sockets:
            listening.close()
        sys.stdout.flush()
