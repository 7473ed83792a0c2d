"""Shared fixtures: synthetic data, a local HTTP mirror, prepared workspaces,
and end-to-end DVC projects (see harness.py)."""

from __future__ import annotations

import contextlib
import gzip
import shutil
import time
from pathlib import Path

import pytest
import yaml

from harness import MODELS, ROOT, Project, Server, sha256
from stages import mnist, zoo  # noqa: F401 (sets TensorFlow's threads before any test uses it)
from stages.dataio import save_npz
from stages.synthetic import make_dataset

E2E_TRAIN, E2E_TEST = 2000, 500
ENVIRONMENT_FILES = ("requirements.txt", ".python-version")  # what `validate` checks


@pytest.fixture(scope="session")
def mirror(tmp_path_factory) -> dict:
    """A synthetic MNIST served over HTTP as `mnist.npz` and as the four IDX files."""
    directory = tmp_path_factory.mktemp("mirror")
    arrays = make_dataset(E2E_TRAIN, E2E_TEST, seed=1)
    save_npz(directory / "mnist.npz", arrays)
    idx_sha256 = {}
    idx_arrays = {"train_images": arrays["x_train"], "train_labels": arrays["y_train"],
                  "test_images": arrays["x_test"], "test_labels": arrays["y_test"]}
    for key, filename in mnist.IDX_FILES.items():
        (directory / filename).write_bytes(gzip.compress(mnist.to_idx(idx_arrays[key]), mtime=0))
        idx_sha256[key] = sha256(directory / filename)
    server = Server(directory)
    yield {"dir": directory, "url": server.url, "arrays": arrays,
           "npz_url": server.url + "mnist.npz", "npz_sha256": sha256(directory / "mnist.npz"),
           "idx_sha256": idx_sha256}
    server.close()


@pytest.fixture
def project(tmp_path, mirror) -> Project:
    """A fresh committed project whose params point at the HTTP mirror."""
    return Project.create(tmp_path / "project", mirror["npz_url"], mirror["npz_sha256"])


@pytest.fixture(scope="session")
def reproduced(tmp_path_factory, mirror) -> Project:
    """A project after one full `dvc repro`, committed. Copy it before changing it."""
    project = Project.create(tmp_path_factory.mktemp("reproduced") / "project",
                             mirror["npz_url"], mirror["npz_sha256"])
    started = time.perf_counter()
    project.dvc("repro")
    project.repro_seconds = time.perf_counter() - started
    project.commit("full repro")
    return project


@pytest.fixture
def reproduced_copy(reproduced, tmp_path) -> Project:
    """A private copy of the reproduced project, free to change."""
    return reproduced.copy(tmp_path / "copy")


@pytest.fixture(scope="session")
def workspace(tmp_path_factory) -> Path:
    """A directory with the project's params (1 epoch each) and prepared synthetic data,
    for running stage entry points in-process."""
    directory = tmp_path_factory.mktemp("workspace")
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    for block in params["models"].values():
        block["epochs"] = 1
    (directory / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    for name in ENVIRONMENT_FILES:
        shutil.copy(ROOT / name, directory / name)
    save_npz(directory / "data/raw/mnist.npz", make_dataset(3000, 500, seed=2))
    from stages import prepare, validate

    with contextlib.chdir(directory):
        validate.main()
        prepare.main()
    return directory


@pytest.fixture
def in_workspace(workspace, monkeypatch) -> Path:
    """Run the test with the shared workspace as the working directory."""
    monkeypatch.chdir(workspace)
    return workspace


@pytest.fixture
def scratch(tmp_path, monkeypatch) -> Path:
    """An empty working directory holding a copy of the project's params.yaml."""
    for name in ("params.yaml", *ENVIRONMENT_FILES):
        shutil.copy(ROOT / name, tmp_path / name)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture(scope="session")
def trained(workspace) -> Path:
    """The workspace after running train, evaluate and report for every model
    through the stages' real entry points (one epoch each)."""
    from stages import evaluate, report, train

    with contextlib.chdir(workspace):
        for name in MODELS:
            train.main([name])
            evaluate.main([name])
        report.main()
    return workspace
