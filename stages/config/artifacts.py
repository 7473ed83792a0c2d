"""The model registry: one DVC artifact per model, derived from params.yaml.

DVC's artifacts live in dvc.yaml's `artifacts:` section, which DVC's
templating can fill in but not repeat per model (no `foreach` there), so the
`validate` stage writes it: one entry per block under `models:`, its path the
trained `.keras` file, its description the block's tutorial. Written with
DVC's own YAML round-trip (comments and the rest of dvc.yaml stay as they
are), and only when it changes. `dvc artifacts get <repo> <model>` then
fetches a model without cloning the pipeline; GTO's git tags give versions
and stages (docs/serving.md#a-registry-dvc-artifacts-gto-tags).
"""

from __future__ import annotations

from pathlib import Path

from stages.common import paths
from stages.config.params_file import Params


def wanted(params: Params) -> dict[str, dict]:
    """The `artifacts:` section params.yaml implies."""
    return {name: {"path": str(paths.model(name)), "type": "model",
                   "desc": spec.tutorial or f"mnist-zoo model {name}",
                   "labels": ["mnist", "keras", spec.loop]}
            for name, spec in params.models.items()}


def sync(params: Params, path: Path = paths.DVC_YAML) -> bool:
    """Make dvc.yaml's `artifacts:` the models of params.yaml; True if it changed."""
    from dvc.utils.serialize import modify_yaml

    section = wanted(params)
    with modify_yaml(path) as data:
        if data.get("artifacts") == section:
            return False
        data["artifacts"] = section
    return True
