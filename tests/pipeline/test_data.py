"""End to end: `dvc repro download prepare` against a local HTTP mirror, and
every way a download can go wrong (one message, exit 1, no output)."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import shutil
import time
import zipfile
from typing import ClassVar

import numpy as np
import pytest

from harness import Project, QuietHandler, Server, error_lines, run_module, sha256
from stages.common.files import load_npz, save_npz
from stages.data import idx, mnist

RAW = "data/raw/mnist.npz"


def test_repro_downloads_and_prepares_from_http(project, mirror):
    result = project.dvc("repro", "download", "prepare")
    assert "Running stage 'download'" in result.stdout
    assert (project.path / RAW).read_bytes() == (mirror["dir"] / "mnist.npz").read_bytes()
    counts = project.read_json("metrics/data.json")
    assert counts["train"]["examples"] + counts["validation"]["examples"] == 2000
    assert counts["validation"]["examples"] == 200 and counts["test"]["examples"] == 500
    assert all(n == 20 for n in counts["validation"]["per_class"].values())  # stratified
    for split, size in (("train", 1800), ("validation", 200), ("test", 500)):
        arrays = load_npz(project.path / f"data/prepared/{split}.npz", ("x", "y"))
        assert arrays["x"].shape == (size, 28, 28, 1) and arrays["x"].dtype == np.float32
        assert arrays["y"].dtype == np.uint8 and 0 <= arrays["x"].min() <= arrays["x"].max() <= 1
    assert (project.path / "plots/samples.png").read_bytes()[:4] == b"\x89PNG"

    again = project.dvc("repro", "download", "prepare")
    assert "Running stage" not in again.stdout
    assert "didn't change, skipping" in again.stdout
    assert not {"download", "prepare"} & project.stale_stages()


def test_wrong_checksum_fails_cleanly_with_no_output(project):
    project.set_params({"data.sha256": "0" * 64})
    result = project.dvc("repro", "download", check=False)
    assert result.returncode != 0
    [message] = error_lines(result)
    assert "checksum mismatch" in message and "expected sha256 " + "0" * 64 in message
    assert "Traceback" not in result.stderr
    raw_dir = project.path / "data/raw"
    assert not raw_dir.exists() or list(raw_dir.iterdir()) == []


def test_idx_source_gives_the_same_arrays(project, mirror):
    project.set_params({"data.format": "idx", "data.url": mirror["url"],
                        **{f"data.idx_sha256.{k}": v for k, v in mirror["idx_sha256"].items()}})
    project.dvc("repro", "download")
    arrays = load_npz(project.path / RAW, mnist.KEYS)
    for key in mnist.KEYS:
        np.testing.assert_array_equal(arrays[key], mirror["arrays"][key])


@pytest.mark.parametrize("form", ["file_url", "plain_path"])
def test_local_sources_work(project, mirror, form):
    local = mirror["dir"] / "mnist.npz"
    project.set_params({"data.url": local.as_uri() if form == "file_url" else str(local)})
    project.dvc("repro", "download")
    assert (project.path / RAW).read_bytes() == local.read_bytes()


class Misbehaving(QuietHandler):
    """Serves the failure modes a real mirror can show."""

    bodies: ClassVar[dict[str, bytes]] = {}

    def do_GET(self):  # noqa: N802 (the http.server API name)
        if self.path.startswith("/status/"):
            self.send_error(int(self.path.rsplit("/", 1)[-1]))
        elif self.path == "/stall":
            time.sleep(3)
        elif self.path == "/short":  # promises 1000 bytes, sends 10, hangs up
            self.send_response(200)
            self.send_header("Content-Length", "1000")
            self.end_headers()
            self.wfile.write(b"0123456789")
        elif self.path.lstrip("/") in self.bodies:
            body = self.bodies[self.path.lstrip("/")]
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        else:
            self.send_error(404)


def npz_bytes(**arrays) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def bad_mirror(mirror):
    good = (mirror["dir"] / "mnist.npz").read_bytes()
    not_mnist = io.BytesIO()
    with zipfile.ZipFile(not_mnist, "w") as archive:
        archive.writestr("readme.txt", "a valid zip, not MNIST")
    Misbehaving.bodies = {
        "truncated.npz": good[: len(good) // 2],
        "not_mnist.zip": not_mnist.getvalue(),
        "wrong_keys.npz": npz_bytes(images=np.zeros((2, 28, 28), np.uint8)),
        "pickled.npz": npz_bytes(x_train=np.array([{"evil": 1}], dtype=object),
                                 y_train=np.zeros(1), x_test=np.zeros(1), y_test=np.zeros(1)),
        "wrong_shape.npz": npz_bytes(x_train=np.zeros((10, 32, 32), np.uint8),
                                     y_train=np.arange(10, dtype=np.uint8),
                                     x_test=np.zeros((2, 32, 32), np.uint8),
                                     y_test=np.zeros(2, np.uint8)),
        "bad_labels.npz": npz_bytes(x_train=np.zeros((10, 28, 28), np.uint8),
                                    y_train=np.arange(10, dtype=np.uint8) + 3,
                                    x_test=np.zeros((2, 28, 28), np.uint8),
                                    y_test=np.zeros(2, np.uint8)),
    }
    server = Server(mirror["dir"], handler=Misbehaving)
    yield server.url
    server.close()


def checksum_of(name: str) -> str:
    return hashlib.sha256(Misbehaving.bodies[name]).hexdigest()


def download_in(directory):
    """The download stage's command in `directory`, after `validate` handed it its source."""
    run_module(directory, "stages.pipeline.validate", check=True)
    return run_module(directory, "stages.pipeline.download")


@pytest.mark.parametrize(("path", "message"), [
    ("status/404", "HTTP 404"),
    ("status/500", "after 2 attempt(s): HTTP 500"),
    ("stall", "timed out after 1s without data"),
    ("short", "IncompleteRead"),
    ("truncated.npz", "truncated or corrupt"),
    ("not_mnist.zip", "lacks array(s) x_train, y_train, x_test, y_test"),
    ("wrong_keys.npz", "lacks array(s)"),
    ("pickled.npz", "holds pickled Python objects"),
    ("wrong_shape.npz", "images must be (N, 28, 28)"),
    ("bad_labels.npz", "labels must be 0-9, found 12"),
])
def test_bad_downloads_fail_with_one_message_and_no_output(scratch, bad_mirror, path, message):
    project = Project(scratch)
    digest = checksum_of(path) if path in Misbehaving.bodies else "0" * 64
    project.set_params({"data.url": bad_mirror + path, "data.sha256": digest,
                        "data.timeout_seconds": 1, "data.retries": 1})
    result = download_in(scratch)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    [line] = error_lines(result)
    assert message in line
    raw_dir = scratch / "data/raw"
    assert not raw_dir.exists() or list(raw_dir.iterdir()) == []


@pytest.mark.parametrize(("corrupt", "message"), [
    (lambda blob: b"\x00\x00\x08\x05" + blob[4:], "magic number 2053"),
    (lambda blob: blob[:4] + (999).to_bytes(4, "big") + blob[8:],
     "header says shape (999, 28, 28)"),
])
def test_bad_idx_files_fail_with_one_message(scratch, mirror, tmp_path, corrupt, message):
    local = tmp_path / "idx"
    shutil.copytree(mirror["dir"], local)
    images = local / idx.FILES["test_images"]
    images.write_bytes(gzip.compress(corrupt(gzip.decompress(images.read_bytes())), mtime=0))
    project = Project(scratch)
    project.set_params({"data.format": "idx", "data.url": str(local),
                        **{f"data.idx_sha256.{k}": sha256(local / f)
                           for k, f in idx.FILES.items()}})
    result = download_in(scratch)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    [line] = error_lines(result)
    assert message in line
    assert not (scratch / RAW).exists()


def test_prepare_refuses_bad_raw_data_and_keeps_earlier_outputs(project, mirror):
    project.dvc("repro", "download", "prepare")
    good = (project.path / "data/prepared/train.npz").read_bytes()
    arrays = load_npz(project.path / RAW, mnist.KEYS)
    arrays["y_train"] = arrays["y_train"].copy()
    arrays["y_train"][0] = 10
    (project.path / RAW).unlink()
    save_npz(project.path / RAW, arrays)
    result = project.python("-m", "stages.pipeline.prepare", check=False)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "labels must be 0-9, found 10" in result.stderr
    assert (project.path / "data/prepared/train.npz").read_bytes() == good
    assert json.loads((project.path / "metrics/data.json").read_text())["test"]["examples"] == 500
