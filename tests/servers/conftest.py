"""Ray's own multi-node test cluster, shared by the tests that use one."""

from __future__ import annotations

import os

import pytest

from services import TOKEN, unavailable


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A head that runs no work and two one-CPU worker nodes, each its own raylet
    (separate processes on 127.0.0.1), token authentication on."""
    saved = {key: os.environ.get(key) for key in (*TOKEN, "MNIST_ZOO_NODE_CACHE")}
    os.environ.update(TOKEN)  # read when Ray loads; the cluster's processes inherit it
    os.environ["MNIST_ZOO_NODE_CACHE"] = str(tmp_path_factory.mktemp("node-cache"))
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
