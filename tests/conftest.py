"""Shared fixtures for every tier: synthetic data, a local HTTP mirror, prepared
workspaces for running stages in-process, and end-to-end DVC projects
(helpers/harness.py). Nothing here imports TensorFlow: a test that builds a
model imports it itself."""

from __future__ import annotations

import contextlib
import fcntl
import gzip
import os
import shutil
import signal
import time
from pathlib import Path

import pytest
import yaml

from harness import ROOT, UNIT_MODELS, Project, Server, sha256
from stages.common.files import save_npz
from stages.data import idx
from stages.tools.reading.font_digits import make_dataset

E2E_TRAIN, E2E_TEST = 2000, 500
ENVIRONMENT_FILES = ("requirements.txt", ".python-version")  # what `validate` checks


def pytest_configure(config) -> None:
    """Commands the tests start get Ctrl-C as in a terminal. A shell without job control
    starts a background command (`.ci/run &`) with SIGINT ignored, every child inherits
    that, and a Python started so never raises KeyboardInterrupt: the Ctrl-C tests then
    fail for a reason no user meets. A handler here is reset to the default at exec."""
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(scope="session")
def mirror(tmp_path_factory) -> dict:
    """A synthetic MNIST served over HTTP as `mnist.npz` and as the four IDX files."""
    directory = tmp_path_factory.mktemp("mirror")
    arrays = make_dataset(E2E_TRAIN, E2E_TEST, seed=1)
    save_npz(directory / "mnist.npz", arrays)
    idx_sha256 = {}
    idx_arrays = {"train_images": arrays["x_train"], "train_labels": arrays["y_train"],
                  "test_images": arrays["x_test"], "test_labels": arrays["y_test"]}
    for key, filename in idx.FILES.items():
        (directory / filename).write_bytes(gzip.compress(idx.encode(idx_arrays[key]), mtime=0))
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


@contextlib.contextmanager
def built_once(tmp_path_factory, name: str):
    """A folder shared by every test process of this run (pytest-xdist workers share the
    parent of their base temp), locked while in use: the first process to get it builds
    what goes in it, the others find it built."""
    base = tmp_path_factory.getbasetemp()
    shared = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / name
    shared.mkdir(parents=True, exist_ok=True)
    with open(shared.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield shared


@pytest.fixture(scope="session")
def reproduced_data(tmp_path_factory) -> dict:
    """The synthetic MNIST of `reproduced`, as a file:// URL every test process can read
    for the whole run (a worker's HTTP mirror stops with the worker)."""
    with built_once(tmp_path_factory, "reproduced-data") as folder:
        path = folder / "mnist.npz"
        if not path.exists():
            save_npz(path, make_dataset(E2E_TRAIN, E2E_TEST, seed=1))
    return {"url": path.as_uri(), "sha256": sha256(path)}


@pytest.fixture(scope="session")
def reproduced(tmp_path_factory, reproduced_data) -> Project:
    """A project after one full `dvc repro`, committed. Copy it before changing it.
    Built once per test run and copied into each test process, untouched in between."""
    with built_once(tmp_path_factory, "reproduced") as folder:
        master, seconds = folder / "project", folder / "repro_seconds"
        if not seconds.exists():
            shutil.rmtree(master, ignore_errors=True)
            built = Project.create(master, reproduced_data["url"], reproduced_data["sha256"])
            started = time.perf_counter()
            built.repro()
            built.commit("full repro")
            seconds.write_text(str(time.perf_counter() - started))
        project = Project(master).copy(tmp_path_factory.mktemp("reproduced") / "project")
    project.repro_seconds = float(seconds.read_text())
    return project


@pytest.fixture
def reproduced_copy(reproduced, tmp_path) -> Project:
    """A private copy of the reproduced project, free to change."""
    return reproduced.copy(tmp_path / "copy")


@pytest.fixture(scope="session")
def workspace(tmp_path_factory) -> Path:
    """A directory holding three models' params (one epoch each), validated, and prepared
    synthetic data, for running the stages' entry points in-process."""
    from stages.pipeline import prepare, validate

    directory = tmp_path_factory.mktemp("workspace")
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["models"] = {name: {**params["models"][name], "epochs": 1} for name in UNIT_MODELS}
    (directory / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    for name in (*ENVIRONMENT_FILES, "dvc.yaml"):
        shutil.copy(ROOT / name, directory / name)
    save_npz(directory / "data/raw/mnist.npz", make_dataset(3000, 500, seed=2))
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
    """An empty working directory holding a copy of the project's params.yaml (and the
    files `validate` reads beside it)."""
    for name in ("params.yaml", "dvc.yaml", *ENVIRONMENT_FILES):
        shutil.copy(ROOT / name, tmp_path / name)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture(scope="session")
def trained(workspace) -> Path:
    """The workspace after train, evaluate, export and report through the stages' real
    entry points (one epoch each)."""
    from stages.pipeline import evaluate, export, report, train

    with contextlib.chdir(workspace):
        for name in UNIT_MODELS:
            train.main([name])
            evaluate.main([name])
            export.main([name])
        report.main()
    return workspace
