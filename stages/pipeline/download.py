"""Stage `download`: fetch MNIST into `data/raw/mnist.npz` (numpy only).

    python -m stages.pipeline.download

Sources (`data:` in params.yaml): Keras's canonical `.npz`, the four classic
IDX files under a base URL, or either from a `file://` URL or a local path.
Every file is checked against its pinned sha256 and validated as MNIST
before it is moved into place (`stages.data.fetch` does the transfer).
"""

from __future__ import annotations

import io

from stages.common import handed, paths, phases
from stages.common.cli import run
from stages.common.files import atomic_output, load_npz, save_npz
from stages.data import idx, mnist
from stages.data.fetch import fetch


def download_npz(source: dict) -> None:
    """The Keras `.npz`: verified and validated, then moved into place as is."""
    with atomic_output(paths.RAW) as tmp:
        with tmp.open("wb") as out:
            fetch(source["url"], out, source["sha256"], source["timeout_seconds"],
                  source["retries"])
        mnist.validate(load_npz(tmp, mnist.KEYS), source["url"])


def download_idx(source: dict) -> None:
    """The four IDX files: each verified, then converted to the Keras layout."""
    base = source["url"] if source["url"].endswith("/") else source["url"] + "/"
    blobs = {}
    for key, filename in idx.FILES.items():
        buffer = io.BytesIO()
        fetch(base + filename, buffer, source["idx_sha256"][key], source["timeout_seconds"],
              source["retries"])
        blobs[key] = buffer.getvalue()
    arrays = idx.to_keras_layout(blobs)
    mnist.validate(arrays, base)
    save_npz(paths.RAW, arrays)


def main() -> None:
    """Fetch the configured source and write `data/raw/mnist.npz`."""
    source = handed.read("download")
    with phases.phase("download"):
        (download_npz if source["format"] == "npz" else download_idx)(source)
    print(f"download: {source['format']} from {source['url']} -> {paths.RAW}")


if __name__ == "__main__":
    run(main)
