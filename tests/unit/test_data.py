"""Unit tests of the data layer: IDX parsing, safe and deterministic file IO,
the checksum-then-rename download path, and the prepare split."""

from __future__ import annotations

import gzip
import hashlib
import io
from typing import ClassVar

import numpy as np
import pytest

from harness import QuietHandler, Server, shipped_params_with
from stages.common.cli import UserError
from stages.common.files import atomic_output, load_npz, save_npz
from stages.config import params_file
from stages.data import fetch, idx, mnist
from stages.pipeline import download, prepare


def test_idx_header_is_big_endian_with_the_mnist_magic_numbers():
    images = np.arange(2 * 28 * 28, dtype=np.uint8).reshape(2, 28, 28)
    blob = idx.encode(images)
    assert blob[:4] == b"\x00\x00\x08\x03"  # 2051, big-endian
    assert blob[4:16] == (2).to_bytes(4, "big") + (28).to_bytes(4, "big") * 2
    assert idx.encode(np.array([7, 1], np.uint8))[:4] == b"\x00\x00\x08\x01"  # 2049
    np.testing.assert_array_equal(idx.parse(blob, "x"), images)
    np.testing.assert_array_equal(idx.parse(gzip.compress(blob), "x.gz"), images)


def test_idx_parses_a_hand_written_label_file():
    blob = bytes([0, 0, 8, 1, 0, 0, 0, 3, 5, 0, 9])
    np.testing.assert_array_equal(idx.parse(blob, "labels"), [5, 0, 9])


@pytest.mark.parametrize(("blob", "message"), [
    (b"\x00\x00\x08\x04" + b"\x00" * 20, "magic number 2052"),
    (bytes([0, 0, 8, 1, 0, 0, 0, 9, 1, 2]), "header says shape (9,)"),
    (bytes([0, 0, 8, 1, 0, 0, 0, 1, 1, 2]), "has 10 bytes"),
    (b"\x00\x00", "too short"),
    (b"\x1f\x8b garbage", "corrupt gzip"),
])
def test_idx_refuses_bad_files(blob, message):
    with pytest.raises(UserError, match=message.replace("(", r"\(").replace(")", r"\)")):
        idx.parse(blob, "bad")


def test_save_npz_is_byte_for_byte_deterministic(tmp_path):
    arrays = {"x": np.arange(12, dtype=np.float32).reshape(3, 4), "y": np.array([1, 2, 3])}
    save_npz(tmp_path / "a.npz", arrays)
    save_npz(tmp_path / "b.npz", arrays)
    assert (tmp_path / "a.npz").read_bytes() == (tmp_path / "b.npz").read_bytes()
    loaded = load_npz(tmp_path / "a.npz", ("x", "y"))
    np.testing.assert_array_equal(loaded["x"], arrays["x"])


def test_load_npz_refuses_pickled_objects(tmp_path):
    np.savez(tmp_path / "evil.npz", x=np.array([{"a": 1}], dtype=object))
    with pytest.raises(UserError, match="pickled Python objects"):
        load_npz(tmp_path / "evil.npz", ("x",))


def test_load_npz_names_missing_arrays_and_corrupt_files(tmp_path):
    save_npz(tmp_path / "a.npz", {"x": np.zeros(2)})
    with pytest.raises(UserError, match="lacks array"):
        load_npz(tmp_path / "a.npz", ("x", "y"))
    (tmp_path / "b.npz").write_bytes((tmp_path / "a.npz").read_bytes()[:40])
    with pytest.raises(UserError, match=r"truncated or corrupt|not a readable"):
        load_npz(tmp_path / "b.npz", ("x",))


def test_atomic_output_leaves_nothing_behind_on_error(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("previous good output")
    with pytest.raises(RuntimeError), atomic_output(target) as tmp:
        tmp.write_text("half written")
        raise RuntimeError("killed")
    assert target.read_text() == "previous good output"
    assert list(tmp_path.iterdir()) == [target]


def test_fetch_verifies_the_checksum(mirror):
    out = io.BytesIO()
    fetch.fetch(mirror["npz_url"], out, mirror["npz_sha256"], timeout=5, retries=0)
    assert hashlib.sha256(out.getvalue()).hexdigest() == mirror["npz_sha256"]
    with pytest.raises(UserError, match=r"checksum mismatch.*expected sha256 0{64}"):
        fetch.fetch(mirror["npz_url"], io.BytesIO(), "0" * 64, timeout=5, retries=0)


def data_source(**changes) -> dict:
    """The shipped `data:` block as `validate` hands it to download, some keys changed."""
    data = params_file.validate(shipped_params_with("data.retries", 0)).data.model_dump()
    return {**data, **changes}


def test_download_writes_nothing_when_the_checksum_is_wrong(mirror, scratch):
    data = data_source(url=mirror["npz_url"], sha256="f" * 64)
    with pytest.raises(UserError, match="checksum mismatch"):
        download.download_npz(data)
    assert not (scratch / "data/raw").exists() or not any((scratch / "data/raw").iterdir())


def test_download_idx_builds_the_keras_layout(mirror, scratch):
    download.download_idx(data_source(url=mirror["url"], idx_sha256=mirror["idx_sha256"]))
    arrays = load_npz(scratch / "data/raw/mnist.npz", mnist.KEYS)
    for key in mnist.KEYS:
        np.testing.assert_array_equal(arrays[key], mirror["arrays"][key])


def test_validate_refuses_wrong_layouts():
    good = {"x_train": np.zeros((20, 28, 28), np.uint8),
            "y_train": np.arange(20, dtype=np.uint8) % 10,
            "x_test": np.zeros((5, 28, 28), np.uint8), "y_test": np.zeros(5, np.uint8)}
    mnist.validate(good, "good")
    for change, message in [({"y_train": np.full(20, 11, np.uint8)}, "labels must be 0-9"),
                            ({"x_test": np.zeros((5, 32, 32), np.uint8)}, r"\(N, 28, 28\)"),
                            ({"x_train": np.zeros((20, 28, 28), np.float32)}, "must be uint8"),
                            ({"y_test": np.zeros(4, np.uint8)}, "expected 5 labels")]:
        with pytest.raises(UserError, match=message):
            mnist.validate({**good, **change}, "bad")


def test_stratified_split_is_stratified_deterministic_and_disjoint():
    labels = np.repeat(np.arange(10), [100, 50, 80, 120, 90, 60, 70, 110, 100, 40]).astype(np.uint8)
    np.random.default_rng(0).shuffle(labels)
    train, validation = prepare.stratified_split(labels, 0.1, seed=3)
    assert not set(train) & set(validation)
    assert len(train) + len(validation) == len(labels)
    expected = np.round(0.1 * np.bincount(labels))
    np.testing.assert_array_equal(np.bincount(labels[validation], minlength=10), expected)
    again = prepare.stratified_split(labels, 0.1, seed=3)
    np.testing.assert_array_equal(again[1], validation)
    other = prepare.stratified_split(labels, 0.1, seed=4)
    assert not np.array_equal(other[1], validation)


def test_scale_adds_the_channel_axis_and_keeps_intensities_exact():
    images = np.arange(256, dtype=np.uint8).reshape(1, 16, 16).repeat(1, 0)
    scaled = mnist.scale(np.pad(images, ((0, 0), (6, 6), (6, 6))))
    assert scaled.dtype == np.float32 and scaled.shape == (1, 28, 28, 1)
    assert scaled.min() == 0 and scaled.max() == 1
    np.testing.assert_array_equal(np.rint(scaled[0, 6:22, 6:22, 0] * 255), images[0])


def test_atomic_output_gives_ordinary_file_permissions(tmp_path):
    with atomic_output(tmp_path / "out.txt") as tmp:
        tmp.write_text("done")
    (tmp_path / "plain.txt").write_text("made with open()")
    mode = (tmp_path / "out.txt").stat().st_mode & 0o777
    assert mode == (tmp_path / "plain.txt").stat().st_mode & 0o777


class FlakyOnce(QuietHandler):
    """Answers 503 to the first request for each path, then serves the file."""

    seen: ClassVar[set[str]] = set()

    def do_GET(self):  # noqa: N802 (the http.server API name)
        if self.path not in self.seen:
            self.seen.add(self.path)
            self.send_error(503)
        else:
            super().do_GET()


def test_fetch_retries_a_server_error_and_says_so_once(mirror, capsys):
    FlakyOnce.seen.clear()  # every run of this test starts with a server that fails once
    server = Server(mirror["dir"], handler=FlakyOnce)
    try:
        out = io.BytesIO()
        fetch.fetch(server.url + "mnist.npz", out, mirror["npz_sha256"], timeout=5, retries=2)
    finally:
        server.close()
    assert hashlib.sha256(out.getvalue()).hexdigest() == mirror["npz_sha256"]
    [line] = capsys.readouterr().err.splitlines()
    assert line.endswith("mnist.npz: HTTP 503 Service Unavailable; retrying in 0s")


def test_fetch_never_retries_a_client_error(mirror):
    with pytest.raises(UserError, match=r"HTTP 404 File not found; check data.url"):
        fetch.fetch(mirror["url"] + "missing.npz", io.BytesIO(), "0" * 64, timeout=5,
                    retries=3)


def test_idx_takes_empty_files_of_exactly_a_header():
    assert idx.parse(bytes([0, 0, 8, 1, 0, 0, 0, 0]), "labels").shape == (0,)
    assert idx.parse(bytes([0, 0, 8, 3]) + bytes(4) + bytes([0, 0, 0, 28] * 2),
                     "images").shape == (0, 28, 28)


def test_idx_reads_every_byte_of_each_dimension():
    """Dimensions past 2**24 are read whole (a header claiming them is then too long)."""
    big = bytes([0, 0, 8, 3, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 1, 7])
    with pytest.raises(UserError, match=r"header says shape \(1, 16777216, 1\)"):
        idx.parse(big, "images")
    with pytest.raises(UserError, match=r"header says shape \(16777216,\)"):
        idx.parse(bytes([0, 0, 8, 1, 1, 0, 0, 0, 9]), "labels")


def test_idx_names_a_truncated_header():
    with pytest.raises(UserError) as error:
        idx.parse(bytes([0, 0, 8, 3]) + bytes(8), "x.idx")
    assert str(error.value) == "x.idx: header of 16 bytes is truncated"


def test_idx_layout_names_the_file_at_fault():
    blobs = {key: idx.encode(np.zeros((2, 28, 28) if "images" in key else (2,), np.uint8))
             for key in idx.FILES}
    assert idx.to_keras_layout(blobs)["x_train"].shape == (2, 28, 28)
    with pytest.raises(UserError) as wrong:
        idx.to_keras_layout({**blobs, "test_labels": blobs["test_images"]})
    assert str(wrong.value) == ("t10k-labels-idx1-ubyte.gz: expected 1-D data, got shape "
                                "(2, 28, 28)")
    with pytest.raises(UserError, match=r"^train-labels-idx1-ubyte\.gz: 2 bytes"):
        idx.to_keras_layout({**blobs, "train_labels": b"\x00\x00"})


def test_idx_encodes_any_integer_array_as_bytes():
    assert idx.encode(np.array([1, 2], np.int64)) == bytes([0, 0, 8, 1, 0, 0, 0, 2, 1, 2])
