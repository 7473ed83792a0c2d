"""The one Ray stack of `stages.repro --address` and `stages.sweep`: connecting, shipping our
code to the nodes, each node's own folder, and a failed task's one line.

The nodes need the project's Python environment but not this checkout: the
modules that run there are shipped by value. Each node keeps one folder
(MNIST_ZOO_NODE_DIR, default ~/.cache/mnist-zoo-nodes/<node>): a DVC cache that
its scratch copies and its sweep trials share, and its mirrors of git remotes; beside
them, `resume/` holds the backups of sweep trials killed mid-training, for whichever
node on the machine runs the trial again.
"""

from __future__ import annotations

import os
from pathlib import Path

from stages.common.cli import UserError
from stages.tools import children


def connect(address: str | None, *shipped):
    """Ray, on the cluster at `address` or (None) a new local instance of our own, never
    a cluster that happens to run here; `shipped` modules (and this one) go to the
    nodes by value."""
    try:
        import ray
    except ImportError:
        raise UserError("Ray is not installed: pip install -r requirements-ray.txt") from None
    if address:
        ray.init(address=address, logging_level="ERROR", log_to_driver=False)
    else:
        ray.init(address="local", num_cpus=os.cpu_count(), logging_level="ERROR",
                 log_to_driver=False)
    import stages.tools.ray_cluster as this

    for module in (this, children, *shipped):
        ray.cloudpickle.register_pickle_by_value(module)
    return ray


def machine_dir() -> Path:
    """The folder the nodes on this machine share (called on a node)."""
    return Path(os.environ.get("MNIST_ZOO_NODE_DIR", Path.home() / ".cache" / "mnist-zoo-nodes"))


def node_dir() -> Path:
    """This node's folder (called on the node): several nodes may share a machine."""
    import ray

    node = machine_dir() / ray.get_runtime_context().get_node_id()[:12]
    node.mkdir(parents=True, exist_ok=True)
    return node


def node_cache() -> Path:
    """The DVC cache this node's scratch copies and trials share."""
    return node_dir() / "dvc-cache"


def task_error(error: BaseException, own: type[Exception] | None = None) -> str:
    """A failed Ray task's one line: the task's own error (of type `own`) if it raised
    one, else the last line of Ray's message, not its traceback."""
    cause = getattr(error, "cause", None)
    if own is not None and isinstance(cause, own):
        return str(cause)
    return children.error_line(str(error), "the task failed")
