"""Fetch one file over HTTP(S) or from disk, verified against its sha256.

urllib3 does the HTTP: its `Retry` decides which failures are worth another
attempt (connection errors, stalls, a transfer cut short, 5xx answers; never
a 4xx) and how long to wait before it (0, 1, 2, 4 s ...). We run the attempts
ourselves, rather than inside urllib3, so that an attempt that breaks off
while the body streams is retried too and each retry is one line on stderr.
tqdm (which DVC already ships) shows the progress on a terminal, nothing in logs.
"""

from __future__ import annotations

import hashlib
import sys
import urllib.parse
import urllib.request
from pathlib import Path
from typing import BinaryIO

import urllib3
from tqdm import tqdm
from urllib3.exceptions import (
    HTTPError,
    MaxRetryError,
    NewConnectionError,
    ProtocolError,
    TimeoutError,
)
from urllib3.util import Retry

from stages.common.cli import UserError

CHUNK = 1 << 16
BACKOFF = 0.5  # seconds; urllib3 doubles it from the second retry on


def fetch(source: str, out: BinaryIO, sha256: str, timeout: float, retries: int) -> None:
    """Copy `source` (an http(s):// or file:// URL, or a path) into `out`; check its sha256."""
    scheme = urllib.parse.urlparse(source).scheme
    if scheme in ("http", "https"):
        actual = _download(source, out, timeout, retries)
    elif scheme in ("file", ""):
        actual = _copy(source, out)
    else:
        raise UserError(f"data source {source}: {scheme}:// is not supported; set data.url to "
                        "an http(s):// or file:// URL or a local path")
    if actual != sha256:
        raise UserError(f"checksum mismatch for {source}: expected sha256 {sha256}, got "
                        f"{actual} ({out.tell()} bytes). The file is corrupt or not the "
                        "one pinned; for a mirror, set the matching checksum in params.yaml")


def _copy(source: str, out: BinaryIO) -> str:
    parsed = urllib.parse.urlparse(source)
    path = Path(urllib.request.url2pathname(parsed.path) if parsed.scheme else source)
    if not path.is_file():
        raise UserError(f"data source {source} is not a URL or an existing file; "
                        "set data.url to an http(s):// or file:// URL or a local path")
    with path.open("rb") as stream:
        return _stream(stream, out, path.name, path.stat().st_size)


def _stream(stream, out: BinaryIO, name: str, total: int | None) -> str:
    """Copy chunks into `out` with a progress bar on a terminal; the sha256 of the bytes."""
    digest = hashlib.sha256()
    with tqdm(total=total, desc=f"  {name}", unit="B", unit_scale=True, leave=False,
              disable=None, file=sys.stderr) as progress:
        while chunk := stream.read(CHUNK):
            out.write(chunk)
            digest.update(chunk)
            progress.update(len(chunk))
    return digest.hexdigest()


class _ServerError(HTTPError):
    """A 5xx answer: the server's trouble, worth another attempt."""


def _download(url: str, out: BinaryIO, timeout: float, retries: int) -> str:
    pool = urllib3.PoolManager(headers={"User-Agent": "mnist-zoo"}, retries=False,
                               timeout=urllib3.Timeout(connect=timeout, read=timeout))
    policy = Retry(total=retries, backoff_factor=BACKOFF, status_forcelist=range(500, 600))
    for attempt in range(1, retries + 2):
        out.seek(0)
        out.truncate()
        try:
            return _attempt(pool, url, out, policy)
        except (HTTPError, OSError) as error:
            problem = _describe(error, timeout)
            try:
                policy = policy.increment("GET", url, error=error)
            except (MaxRetryError, HTTPError, OSError):
                raise UserError(f"could not download {url} after {attempt} attempt(s): "
                                f"{problem}. Check the network, or set data.url to a mirror"
                                ) from None
            print(f"  {url}: {problem}; retrying in {policy.get_backoff_time():g}s",
                  file=sys.stderr)
            policy.sleep()
    raise AssertionError("unreachable: the retry policy ends the loop")


def _attempt(pool: urllib3.PoolManager, url: str, out: BinaryIO, policy: Retry) -> str:
    response = pool.request("GET", url, preload_content=False)
    try:
        if policy.is_retry("GET", response.status):
            raise _ServerError(f"HTTP {response.status} {response.reason}")
        if response.status >= 400:
            raise UserError(f"{url}: HTTP {response.status} {response.reason}; check data.url")
        length = response.headers.get("Content-Length")
        return _stream(response, out, url.rsplit("/", 1)[-1], int(length) if length else None)
    finally:
        response.release_conn()


def _describe(error: Exception, timeout: float) -> str:
    """One failed attempt, in words (urllib3 counts a refused connection as a time-out)."""
    if isinstance(error, TimeoutError) and not isinstance(error, NewConnectionError):
        return f"timed out after {timeout:g}s without data"
    if isinstance(error, _ServerError | ProtocolError) and error.args:
        return str(error.args[0])
    return f"{type(error).__name__}: {error}"
