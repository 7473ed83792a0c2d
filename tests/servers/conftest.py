"""What the server tests share: Ray's multi-node test cluster, a team, an S3 store."""

from __future__ import annotations

import os

import pytest

from harness import run
from services import TOKEN, S3Server, unavailable


@pytest.fixture
def team(reproduced, tmp_path):
    """The user's clone (results of a full run committed), its git remote `origin` (a
    bare repository) and its DVC remote (a directory, committed in .dvc/config),
    which holds the run-cache: sweep trials take what they do not change from it."""
    origin = tmp_path / "origin.git"
    run(["git", "init", "-q", "--bare", "-b", "main", origin], tmp_path)
    project = reproduced.copy(tmp_path / "user")
    project.dvc("remote", "add", "-d", "storage", tmp_path / "dvc-remote")
    project.commit("the team's DVC remote")
    project.git("remote", "add", "origin", str(origin))
    project.git("push", "-q", "origin", "HEAD:refs/heads/main")
    project.dvc("push", "--run-cache")
    return {"project": project, "origin": origin}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A head that runs no work and two one-CPU worker nodes, each its own raylet
    (separate processes on 127.0.0.1), token authentication on."""
    saved = {key: os.environ.get(key) for key in (*TOKEN, "MNIST_ZOO_NODE_DIR")}
    os.environ.update(TOKEN)  # read when Ray loads; the cluster's processes inherit it
    os.environ["MNIST_ZOO_NODE_DIR"] = str(tmp_path_factory.mktemp("node-cache"))
    try:
        from ray.cluster_utils import Cluster
    except ImportError:
        unavailable("Ray is not installed (pip install -r requirements-ray.txt)")
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0})
    for _ in range(2):
        cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    yield cluster
    cluster.shutdown()
    for key, value in saved.items():
        os.environ.pop(key) if value is None else os.environ.__setitem__(key, value)


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory):
    """SeaweedFS on 127.0.0.1: the team tests' S3 remote, Triton's model store."""
    server = S3Server(tmp_path_factory.mktemp("seaweedfs"))
    print(f"\n[s3] SeaweedFS ready in {server.start_seconds:.1f}s")
    yield server
    server.stop()
