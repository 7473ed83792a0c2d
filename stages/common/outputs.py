"""Each stage's outputs and inputs, as dvc.yaml declares them (the one place they are listed).

Read by what has to name them: the restore hint of a failed stage (`common.cli`)
and the clean-up of a model whose block left params.yaml (`pipeline.validate`).
A `foreach` stage's outputs are its `do:` template with `${key}` filled in, so
the outputs of a model no longer in params.yaml can still be found.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from stages.common.paths import DVC_YAML

SECTIONS = ("outs", "metrics", "plots")


def stage_kinds() -> list[str]:
    """The stages of dvc.yaml (a `foreach` stage once), in its order."""
    return list(yaml.safe_load(DVC_YAML.read_text())["stages"])


def _definition(kind: str) -> dict:
    stages = yaml.safe_load(DVC_YAML.read_text())["stages"]
    definition = stages.get(kind, {})
    return definition.get("do", definition)


def of_stage(stage: str) -> tuple[list[Path], list[Path]]:
    """The outputs DVC removes before running `stage` ("train@quickstart"):
    (kept in the DVC cache, not cached). Persisted outputs are kept by DVC: left out."""
    kind, _, key = stage.partition("@")
    cached, uncached = [], []
    for section in SECTIONS:
        for entry in _definition(kind).get(section, []):
            path, options = next(iter(entry.items())) if isinstance(entry, dict) else (entry, {})
            if options.get("persist"):
                continue
            target = uncached if options.get("cache") is False else cached
            target.append(Path(path.replace("${key}", key)))
    return cached, uncached


def deps_of(stage: str) -> list[Path]:
    """The files `stage` ("train@quickstart") depends on, as dvc.yaml lists them."""
    kind, _, key = stage.partition("@")
    return [Path(dep.replace("${key}", key)) for dep in _definition(kind).get("deps", [])]


def of_model(name: str) -> list[Path]:
    """Everything model `name`'s stages write (every `foreach` stage of dvc.yaml), and
    its plots folder: what goes when its block leaves params.yaml."""
    stages = yaml.safe_load(DVC_YAML.read_text())["stages"]
    found = [Path("plots") / name]
    for kind, definition in stages.items():
        if "foreach" in definition:
            cached, uncached = of_stage(f"{kind}@{name}")
            found += cached + uncached
    return found
