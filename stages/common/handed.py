"""The checked values `validate` hands each stage (data/validated/), and reading them.

`validate` is the only stage that reads params.yaml; every other stage reads
its own file here and depends on it in dvc.yaml, so an edit reruns exactly
the stages whose values it changes.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from stages.common import environment, paths
from stages.common.cli import UserError, did_you_mean


def path(stage: str, model: str | None = None) -> Path:
    """`download.json`, `prepare.json`, `report.json`, or `<stage>/<model>.json` for the
    model stages (train, evaluate, export)."""
    return paths.VALIDATED / stage / f"{model}.json" if model else paths.VALIDATED / f"{stage}.json"


def code(stage: str) -> Path:
    """The fingerprint of the code `stage` runs (`stages.common.code_deps`)."""
    return paths.VALIDATED / "code" / f"{stage}.json"


def read(stage: str, model: str | None = None) -> dict:
    """The values `validate` handed `stage` (for `model`), or a clear error."""
    found = path(stage, model)
    if not found.is_file():
        what = f"no model {model!r} was validated" if model else "params.yaml was not validated"
        raise UserError(f"{what} ({found} is missing): is it in params.yaml? Run `dvc repro`")
    return json.loads(found.read_text())


def for_model_stage(stage: str, argv: list[str] | None, description: str) -> tuple[str, dict]:
    """A model stage's start (train, evaluate, export): the model named on its command
    line, and its values, once the libraries are checked to be the ones `validate`
    recorded (before TensorFlow loads: a wrong one costs no import)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("model", help="a model name under `models:` in params.yaml")
    name = parser.parse_args(argv).model
    values = read(stage, name)
    environment.check_recorded()
    return name, values


def models() -> list[str]:
    """The models `validate` checked, in the order of params.yaml ([] before it ran)."""
    report = path("report")
    return ([model["name"] for model in json.loads(report.read_text())["models"]]
            if report.is_file() else [])


def known_model(name: str) -> Path:
    """The model file of a model the pipeline knows; for any other name, an error naming
    the ones it knows (no TensorFlow needed: commands check before they load it)."""
    known = models()
    if name not in known:
        raise UserError(f"unknown model {name!r}{did_you_mean(name, known)}; "
                        + (f"the pipeline has: {', '.join(known)}" if known else
                           "the pipeline has not run here yet: run `dvc repro` first"))
    return paths.model(name)
