"""Stage `download`: fetch MNIST into `data/raw/mnist.npz` (numpy only).

Sources (see `data:` in params.yaml): Keras's canonical `.npz`, the four
classic IDX files under a base URL, or either from a `file://` URL or a local
path. Every file is streamed with a time-out and retries, checked against its
pinned sha256, and validated as MNIST before it is moved into place.
"""

from __future__ import annotations

import hashlib
import http.client
import io
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import BinaryIO

from stages import mnist, params, paths, timing
from stages.cli import UserError, run
from stages.dataio import atomic_output, load_npz, save_npz

CHUNK = 1 << 16


class Progress:
    """Download progress on stderr: a live line on a terminal, quarters in logs."""

    def __init__(self, name: str, total: int) -> None:
        self.name, self.total, self.done, self.shown = name, total, 0, -1
        self.live = sys.stderr.isatty()

    def advance(self, count: int) -> None:
        self.done += count
        if not self.total:
            return
        percent = 100 * self.done // self.total
        step = percent if self.live else percent // 25 * 25
        if step != self.shown:
            self.shown = step
            end = "\r" if self.live and percent < 100 else "\n"
            print(f"  {self.name}: {self.done / 1e6:.1f}/{self.total / 1e6:.1f} MB "
                  f"({percent}%)", end=end, file=sys.stderr, flush=True)


def _open(source: str, timeout: float):
    """Open an http(s)/file URL or a plain local path for streaming."""
    if urllib.parse.urlparse(source).scheme in ("http", "https", "file"):
        request = urllib.request.Request(source, headers={"User-Agent": "mnist-zoo"})
        return urllib.request.urlopen(request, timeout=timeout)
    path = Path(source)
    if not path.is_file():
        raise UserError(f"data source {source} is not a URL or an existing file; "
                        "set data.url to an http(s):// or file:// URL or a local path")
    return path.open("rb")


def _copy_once(source: str, out: BinaryIO, timeout: float) -> str:
    """Stream `source` into `out` once; return the sha256 of what was read."""
    digest = hashlib.sha256()
    with _open(source, timeout) as stream:
        length = getattr(stream, "headers", {}).get("Content-Length")
        expected = int(length) if length else 0
        progress = Progress(source.rsplit("/", 1)[-1] or source, expected)
        while chunk := stream.read(CHUNK):
            out.write(chunk)
            digest.update(chunk)
            progress.advance(len(chunk))
    if expected and progress.done != expected:
        raise http.client.IncompleteRead(b"", expected - progress.done)
    return digest.hexdigest()


def fetch(source: str, out: BinaryIO, sha256: str, timeout: float, retries: int) -> None:
    """Download `source` into `out`, retrying network faults, then verify sha256."""
    for attempt in range(retries + 1):
        out.seek(0)
        out.truncate()
        try:
            actual = _copy_once(source, out, timeout)
            break
        except urllib.error.HTTPError as error:
            if error.code < 500:
                raise UserError(f"{source}: HTTP {error.code} {error.reason}; "
                                "check data.url") from None
            problem = f"HTTP {error.code} {error.reason}"
        except (urllib.error.URLError, OSError, http.client.HTTPException) as error:
            reason = getattr(error, "reason", error)
            problem = (f"timed out after {timeout:g}s without data"
                       if isinstance(reason, TimeoutError) else
                       f"{type(error).__name__}: {reason}")
        if attempt < retries:
            wait = 2**attempt
            print(f"  {source}: {problem}; retrying in {wait}s", file=sys.stderr)
            time.sleep(wait)
    else:
        raise UserError(f"could not download {source} after {retries + 1} attempt(s): "
                        f"{problem}. Check the network, or set data.url to a mirror")
    if actual != sha256:
        raise UserError(f"checksum mismatch for {source}: expected sha256 {sha256}, got "
                        f"{actual} ({out.tell()} bytes). The file is corrupt or not the "
                        "one pinned; for a mirror, set the matching checksum in params.yaml")


def download_npz(data: params.Data) -> None:
    """The Keras `.npz`: verified and validated, then moved into place as is."""
    with atomic_output(paths.RAW) as tmp:
        with tmp.open("wb") as out:
            fetch(data.url, out, data.sha256, data.timeout_seconds, data.retries)
        mnist.validate(load_npz(tmp, mnist.KEYS), data.url)


def download_idx(data: params.Data) -> None:
    """The four IDX files: each verified, then converted to the Keras layout."""
    base = data.url if data.url.endswith("/") else data.url + "/"
    blobs = {}
    for key, filename in mnist.IDX_FILES.items():
        buffer = io.BytesIO()
        fetch(base + filename, buffer, getattr(data.idx_sha256, key),
              data.timeout_seconds, data.retries)
        blobs[key] = buffer.getvalue()
    arrays = mnist.from_idx(blobs)
    mnist.validate(arrays, base)
    save_npz(paths.RAW, arrays)


def main() -> None:
    """Fetch the configured source and write `data/raw/mnist.npz`."""
    data = params.load().data
    print(f"download: {data.format} from {data.url}")
    with timing.phase("download"):
        (download_npz if data.format == "npz" else download_idx)(data)
    print(f"download: wrote {paths.RAW}")


if __name__ == "__main__":
    run(main)
