"""The download (stages/data/fetch.py) against real HTTP servers on 127.0.0.1: what it
sends, what it retries and how it says so, what it refuses in one line, and the bytes it
keeps when an attempt breaks off."""

from __future__ import annotations

import hashlib
import io
import socket
import sys
import threading
import time
from typing import ClassVar

import pytest

from harness import QuietHandler, Server
from stages.common.cli import UserError
from stages.data import fetch

BODY = bytes(range(256)) * 1024  # 256 kB: several chunks
SHA = hashlib.sha256(BODY).hexdigest()
HINT = ". Check the network, or set data.url to a mirror"


class Recording(QuietHandler):
    """Serves the file; keeps every request's path and User-Agent."""

    seen: ClassVar[list[tuple[str, str]]] = []

    def do_GET(self):  # noqa: N802 (the http.server API name)
        self.seen.append((self.path, self.headers.get("User-Agent", "")))
        self.answer()

    def answer(self):
        super().do_GET()


class Unavailable(Recording):
    def answer(self):
        self.send_error(503)


class CutShortOnce(Recording):
    """The first answer promises the whole file and sends half of it."""

    def answer(self):
        if len(self.seen) > 1:
            return super().answer()
        self.send_response(200)
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY[: len(BODY) // 2])
        self.close_connection = True


class Answers(Recording):
    """Answers every request with `status` (class attribute)."""

    status = 400

    def answer(self):
        self.send_error(self.status)


class NoLength(Recording):
    """HTTP/1.0, the body's end told by closing the connection: no Content-Length."""

    def answer(self):
        self.send_response(200)
        self.end_headers()
        self.wfile.write(BODY)
        self.close_connection = True


class Silent(Recording):
    def answer(self):
        time.sleep(1.5)


@pytest.fixture
def served(tmp_path):
    """A folder holding data.bin, and a function serving it with a handler."""
    (tmp_path / "data.bin").write_bytes(BODY)
    Recording.seen.clear()
    servers = []

    def serve(handler=Recording) -> str:
        servers.append(Server(tmp_path, handler=handler))
        return servers[-1].url + "data.bin"

    yield serve
    for server in servers:
        server.close()


def fetched(source: str, sha256: str = SHA, retries: int = 0, timeout: float = 5) -> bytes:
    out = io.BytesIO()
    fetch.fetch(source, out, sha256, timeout=timeout, retries=retries)
    return out.getvalue()


def test_a_local_path_and_a_file_url_are_copied_and_checked(tmp_path):
    path = tmp_path / "data.bin"
    path.write_bytes(BODY)
    assert fetched(str(path)) == BODY
    assert fetched(path.as_uri()) == BODY


def test_a_missing_file_or_another_scheme_is_one_line(tmp_path):
    missing = str(tmp_path / "nothing.npz")
    with pytest.raises(UserError) as error:
        fetched(missing)
    assert str(error.value) == (f"data source {missing} is not a URL or an existing file; "
                                "set data.url to an http(s):// or file:// URL or a local path")
    with pytest.raises(UserError) as scheme:
        fetched("ftp://mirror/mnist.npz")
    assert str(scheme.value) == ("data source ftp://mirror/mnist.npz: ftp:// is not "
                                 "supported; set data.url to an http(s):// or file:// URL or a "
                                 "local path")


def test_a_wrong_checksum_names_both_and_the_size(tmp_path):
    path = tmp_path / "data.bin"
    path.write_bytes(BODY)
    with pytest.raises(UserError) as error:
        fetched(str(path), sha256="0" * 64)
    assert str(error.value) == (
        f"checksum mismatch for {path}: expected sha256 {'0' * 64}, got {SHA} "
        f"({len(BODY)} bytes). The file is corrupt or not the one pinned; for a mirror, set "
        "the matching checksum in params.yaml")


def test_one_request_says_who_asks(served):
    url = served()
    assert fetched(url) == BODY
    assert Recording.seen == [("/data.bin", "mnist-zoo")]


def test_a_server_error_is_retried_with_growing_waits_then_refused(served, capsys):
    url = served(Unavailable)
    with pytest.raises(UserError) as error:
        fetched(url, retries=2)
    assert str(error.value) == (f"could not download {url} after 3 attempt(s): HTTP 503 "
                                f"Service Unavailable{HINT}")
    assert len(Recording.seen) == 3
    assert capsys.readouterr().err.splitlines() == [
        f"  {url}: HTTP 503 Service Unavailable; retrying in 0s",
        f"  {url}: HTTP 503 Service Unavailable; retrying in 1s"]


def test_a_client_error_is_never_retried(served):
    url = served()[: -len("data.bin")] + "missing.npz"
    with pytest.raises(UserError) as error:
        fetched(url, retries=3)
    assert str(error.value) == f"{url}: HTTP 404 File not found; check data.url"
    assert len(Recording.seen) == 1


def test_a_body_cut_short_is_fetched_again_from_the_start(served, capsys):
    url = served(CutShortOnce)
    assert fetched(url, retries=1) == BODY  # the half of the first attempt is gone
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith(f"  {url}: Connection broken: IncompleteRead")
    assert line.endswith("; retrying in 0s")


def test_a_silent_server_times_out_in_the_time_given(served):
    url = served(Silent)
    started = time.monotonic()
    with pytest.raises(UserError) as error:
        fetched(url, timeout=0.3)
    assert time.monotonic() - started < 1.4
    assert str(error.value) == (f"could not download {url} after 1 attempt(s): timed out "
                                f"after 0.3s without data{HINT}")


def test_nothing_listening_is_named():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/data.bin"
    with pytest.raises(UserError) as error:
        fetched(url)
    assert str(error.value).startswith(f"could not download {url} after 1 attempt(s): "
                                       "NewConnectionError: ")
    assert "Failed to establish a new connection" in str(error.value)


def test_https_is_spoken_to_an_https_url():
    """A plain HTTP port asked for TLS: the TLS handshake fails (it was tried)."""
    with pytest.raises(UserError, match=r"^could not download https://127\.0\.0\.1:"):
        fetched("https://127.0.0.1:9/data.bin", timeout=1)


def test_a_bad_request_is_refused_at_once_and_a_500_retried(served):
    url = served(Answers)
    with pytest.raises(UserError) as error:
        fetched(url, retries=2)
    assert str(error.value) == f"{url}: HTTP 400 Bad Request; check data.url"
    assert len(Recording.seen) == 1
    Answers.status = 500
    try:
        with pytest.raises(UserError, match="after 2 attempt"):
            fetched(url, retries=1)
    finally:
        Answers.status = 400
    assert len(Recording.seen) == 3


def test_a_body_without_a_length_is_read_to_its_end(served):
    assert fetched(served(NoLength)) == BODY


def test_a_connection_never_accepted_times_out_too():
    """A listening socket whose queue is full drops new connections: the connect waits."""
    found: list[str] = []

    def attempt(url: str) -> None:
        try:
            fetched(url, timeout=0.3)
        except UserError as error:
            found.append(str(error))

    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        queued = [socket.socket() for _ in range(3)]
        for filler in queued:  # never accepted: the queue fills, later ones wait
            filler.setblocking(False)
            filler.connect_ex(("127.0.0.1", port))
        thread = threading.Thread(target=attempt, args=(f"http://127.0.0.1:{port}/x",),
                                  daemon=True)
        thread.start()
        thread.join(5)
        for filler in queued:
            filler.close()
    assert found, "the connect was not bounded by the time-out"
    assert "timed out after 0.3s without data" in found[0]


def test_a_path_is_a_path_even_when_it_looks_like_a_url(tmp_path):
    path = tmp_path / "a%20b#1.bin"
    path.write_bytes(BODY)
    assert fetched(str(path)) == BODY


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("how", ["file", "http"])
def test_a_terminal_sees_the_progress_and_then_a_clean_line(served, tmp_path, monkeypatch,
                                                            how):
    """The file's name and size (from disk, or the answer's Content-Length)."""
    url = served() if how == "http" else str(tmp_path / "data.bin")
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert fetched(url) == BODY
    shown = terminal.getvalue()
    assert shown.startswith("\r  data.bin:") and "/262k [" in shown and "B/s]" in shown
    assert shown.rsplit("\r", 2)[-2].strip() == ""  # the bar is cleared after, not left
