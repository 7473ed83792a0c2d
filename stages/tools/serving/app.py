"""The HTTP side: the page, its two routes, and the Open Inference Protocol's, hard to knock over.

    GET  /                          the page (page.html: no CDN, nothing else to fetch)
    GET  /api/models                the models, their test accuracies, whether they are in
    POST /api/predict               an image file's bytes -> every model's digit and ten
                                    probabilities (the path `python -m stages.predict` takes)
    GET  /v2, /v2/health/live, /v2/health/ready, /v2/models/{name}, /v2/models/{name}/ready
    POST /v2/models/{name}/infer    digits as MNIST stores them -> probabilities (`protocol`)
    GET  /openapi.json              the v2 routes described (openapi.json), for clients and fuzzers

A Starlette app under Hypercorn's asyncio server, one process per core (`serve`): an
open connection is a few kilobytes on an event loop, not a thread, so idle or trickling
sockets cost almost nothing and never keep a real request out. What a client can hold
is bounded by time, not by count: a connection must complete a request's headers within
TIMEOUT seconds of opening or of its last answer (Hypercorn's keep-alive timer runs
until the headers are in), a body must keep coming (TIMEOUT) and arrive within
BODY_SECONDS; bodies held in memory are bounded by BODY_BUDGET a process (503 beyond:
the one refusal that says "busy"). The work is bounded too: at most DECODING images
decoded at a time and WORKING model calls, in threads beside the loop. Every refusal
is a 4xx (503 for a full server) with one line of JSON.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from stages.common.cli import UserError
from stages.tools.reading.images import ImageTooLargeError, decode, to_model_input
from stages.tools.serving import protocol
from stages.tools.serving.zoo import Zoo

HERE = Path(__file__).parent
MAX_UPLOAD = 4 * 1024 * 1024
TIMEOUT = 5.0           # seconds a connection may stay silent: idle, in its headers or body
BODY_SECONDS = 10.0     # a body takes at most this long, trickled or not
BODY_BUDGET = 64 * 2**20  # bytes of bodies a process holds at once
LINGER = 2.0            # seconds a refused request's unread body is read and dropped
DECODING = 1            # images read at once, per process: more only fight for its GIL
WORKING = 4             # model calls at once, per process
SMALL_BATCH = 8         # digits a v2 request may send to be answered on the loop itself


class RefusedError(Exception):
    """A request refused with `status` and a one-line message."""

    def __init__(self, status: int, message: str, headers: dict | None = None) -> None:
        super().__init__(message)
        self.status, self.headers = status, headers


def refusal(status: int, message: str, headers: dict | None = None) -> JSONResponse:
    """A 4xx or 5xx with one line; the connection closed where the body went unread."""
    return JSONResponse({"error": message}, status,
                        {"Cache-Control": "no-store", **(headers or {})})


class Limits:
    """A process's bounds on memory and work, shared by its requests."""

    def __init__(self) -> None:
        self.held = 0  # body bytes reserved
        self.decoding = threading.BoundedSemaphore(DECODING)
        self.working = asyncio.Semaphore(WORKING)

    async def body(self, request: Request) -> bytes:
        """The request body, if it is announced, small enough and arrives in time."""
        length = request.headers.get("content-length")
        if request.headers.get("transfer-encoding") or length is None or not length.isdigit():
            raise RefusedError(411, "send the body with its Content-Length")
        if int(length) > MAX_UPLOAD:
            raise RefusedError(413, f"the body is {int(length) / 2**20:.1f} MB; the limit is "
                                    f"{MAX_UPLOAD / 2**20:.0f} MB")
        if self.held + int(length) > BODY_BUDGET:
            raise RefusedError(503, "the server is busy: try again", {"Retry-After": "1"})
        self.held += int(length)
        request.scope["body_started"] = True
        try:
            return await self._read(request, int(length))
        finally:
            self.held -= int(length)

    @staticmethod
    async def _read(request: Request, length: int) -> bytes:
        chunks, stream = [], request.stream().__aiter__()
        try:
            async with asyncio.timeout(BODY_SECONDS) as whole:
                while True:
                    async with asyncio.timeout(TIMEOUT):
                        try:
                            chunks.append(await stream.__anext__())
                        except StopAsyncIteration:
                            break
        except TimeoutError:
            if whole.expired():
                raise RefusedError(408, f"the body took more than {BODY_SECONDS:g}s to "
                                        "arrive") from None
            raise RefusedError(408, f"the body stalled for {TIMEOUT:g}s") from None
        body = b"".join(chunks)
        if len(body) != length:
            raise RefusedError(400, "the body ended before its Content-Length")
        return body

    async def work(self, function, *args, small: bool = False):
        """`function(*args)` in a thread, at most WORKING at once, so the loop keeps
        answering; `small` work (a few digits through a model: a fraction of a millisecond)
        is done at once, where handing it to a thread would cost more than it does."""
        if small:
            return function(*args)
        async with self.working:
            return await asyncio.to_thread(function, *args)


def _zoo(request: Request) -> Zoo:
    return request.app.state.zoo


async def _ready_zoo(request: Request) -> Zoo:
    zoo = _zoo(request)
    if not zoo.loaded.is_set():  # the first requests wait for the models, up to 30 s
        await asyncio.to_thread(zoo.loaded.wait, 30)
    if not zoo.loaded.is_set() or zoo.error:
        raise RefusedError(503, zoo.error or "the models are still loading; try again")
    return zoo


def _known(zoo: Zoo, name: str) -> None:
    if name not in zoo.names:
        raise RefusedError(404, f"unknown model {name!r}; the models: {', '.join(zoo.names)}")


async def page(request: Request) -> Response:
    return Response(request.app.state.page, media_type="text/html; charset=utf-8",
                    headers={"Cache-Control": "no-store"})


async def openapi(request: Request) -> Response:
    return Response(request.app.state.openapi, media_type="application/json")


async def models(request: Request) -> JSONResponse:
    return JSONResponse(_zoo(request).describe())


async def server_metadata(request: Request) -> JSONResponse:
    return JSONResponse(protocol.server_metadata())


async def live(request: Request) -> JSONResponse:
    return JSONResponse({"live": True})


async def ready(request: Request) -> JSONResponse:
    zoo = _zoo(request)
    return JSONResponse({"ready": zoo.ready()}, 200 if zoo.ready() else 400)


async def model_metadata(request: Request) -> JSONResponse:
    zoo, name = _zoo(request), request.path_params["name"]
    _known(zoo, name)
    platform = "onnxruntime_onnx" if zoo.runtime == "onnx" else "tensorflow_keras"
    return JSONResponse(protocol.model_metadata(name, platform))


async def model_ready(request: Request) -> JSONResponse:
    zoo, name = _zoo(request), request.path_params["name"]
    _known(zoo, name)
    return JSONResponse({"name": name, "ready": zoo.ready()}, 200 if zoo.ready() else 400)


def _read_image(data: bytes, decoding: threading.BoundedSemaphore):
    try:
        with decoding:
            return to_model_input(decode(data, "the upload"), "the upload")
    except ImageTooLargeError as error:
        raise RefusedError(413, str(error)) from None
    except UserError as error:
        status = 422 if str(error).startswith("no digit") else 415
        raise RefusedError(status, str(error)) from None


async def predict(request: Request) -> JSONResponse:
    limits: Limits = request.app.state.limits
    data = await limits.body(request)
    zoo = await _ready_zoo(request)
    started = time.perf_counter()
    answers = await limits.work(lambda: zoo.answer(_read_image(data, limits.decoding)))
    return JSONResponse({"models": answers,
                         "milliseconds": round(1000 * (time.perf_counter() - started), 1)},
                        headers={"Cache-Control": "no-store"})


async def infer(request: Request) -> Response:
    limits: Limits = request.app.state.limits
    name = request.path_params["name"]
    _known(_zoo(request), name)
    body = await limits.body(request)
    images, asked = protocol.parse_infer(body, request.headers.get(protocol.HEADER_LENGTH))
    zoo = await _ready_zoo(request)
    probabilities = await limits.work(zoo.probabilities, name, images,
                                      small=len(images) <= SMALL_BATCH)
    body, headers = protocol.infer_response(name, asked, probabilities)
    kind = "application/octet-stream" if headers else "application/json"
    return Response(body, media_type=kind, headers=headers)


async def _linger(request: Request) -> None:
    """Read and drop what the client still sends, for at most LINGER seconds, before
    answering: closing on unread bytes resets the connection, and a client still writing
    a refused body would see a broken pipe instead of our answer (nginx's lingering close)."""
    async def drop() -> None:
        async for _ in request.stream():
            pass

    if request.method == "POST" and not request.scope.get("body_started"):
        with contextlib.suppress(TimeoutError, ClientDisconnect):
            await asyncio.wait_for(drop(), LINGER)


async def _refused(request: Request, error: RefusedError | protocol.ProtocolError) -> Response:
    await _linger(request)
    return refusal(error.status, str(error), getattr(error, "headers", None))


async def _http_error(request: Request, error: HTTPException) -> Response:
    what = "page" if request.method == "GET" else "endpoint"
    message = {404: f"no such {what}: {request.url.path}",
               405: f"{request.method} is not allowed on {request.url.path}"}
    await _linger(request)
    return refusal(error.status_code, message.get(error.status_code, str(error.detail)),
                   error.headers)


def _described(zoo: Zoo) -> bytes:
    """The API document (openapi.json) with this server's models as the names a path takes."""
    document = json.loads((HERE / "openapi.json").read_text())
    document["components"]["parameters"]["Model"]["schema"]["enum"] = zoo.names
    return json.dumps(document).encode()


def create(zoo: Zoo) -> Starlette:
    """The app answering with `zoo`'s models; the page and the API document read once."""
    model = "/v2/models/{name:str}"
    routes = [Route("/", page), Route("/index.html", page), Route("/openapi.json", openapi),
              Route("/api/models", models), Route("/api/predict", predict, methods=["POST"]),
              Route("/v2", server_metadata), Route("/v2/health/live", live),
              Route("/v2/health/ready", ready)]
    for version in ("", "/versions/1"):
        routes += [Route(model + version, model_metadata),
                   Route(model + version + "/ready", model_ready),
                   Route(model + version + "/infer", infer, methods=["POST"])]
    app = Starlette(routes=routes, exception_handlers={
        RefusedError: _refused, protocol.ProtocolError: _refused, HTTPException: _http_error})
    app.state.zoo, app.state.limits = zoo, Limits()
    app.state.page = (HERE / "page.html").read_bytes()
    app.state.openapi = _described(zoo)
    return app
