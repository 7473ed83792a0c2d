"""Stage `validate`: check params.yaml and the environment before any other stage runs.

DVC deletes a stage's outputs before it runs the stage's command, so a check
inside `train@<model>` comes too late: a typo would already have cost the last
good model. Every other stage depends on this one, directly or through its
inputs, and this stage's own outputs are `persist` (DVC leaves them in place),
so a bad edit stops `dvc repro`, `dvc exp run` or a queued experiment here,
with one line, and every earlier output stays as it was.

Writes `data/validated/`:
  models/<name>.json   each model's validated block; train@<name> depends on
                       its own file, so editing one model reruns that model alone
  data.json            the validated data source (download depends on it)
  environment.json     the library versions train and evaluate depend on
and removes every output of a model that is no longer in params.yaml (DVC
leaves outputs of stages that no longer exist behind; nothing should read them).
"""

from __future__ import annotations

import shutil

from stages import environment, params, paths
from stages.cli import run
from stages.dataio import write_json


def remove_outputs(name: str) -> None:
    """Delete what model `name`'s stages wrote: its block left params.yaml."""
    for path in paths.model_outputs(name):
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)


def main() -> None:
    """Validate, hand each model its block, and clear out removed models."""
    config = params.load()
    versions = environment.pinned()
    environment.check(versions, environment.REQUIREMENTS)
    write_json(paths.ENVIRONMENT, versions)
    write_json(paths.VALIDATED_DATA, config.data.model_dump())
    for name, spec in config.models.items():
        write_json(paths.validated_model(name), spec.model_dump(mode="json", warnings=False))
    known = {path.stem for path in paths.VALIDATED_MODELS.glob("*.json")}
    for name in sorted(known - set(config.models)):
        remove_outputs(name)
        print(f"validate: {name} is no longer in params.yaml; removed its outputs")
    print(f"validate: params.yaml and {', '.join(versions)} versions are good; "
          f"{len(config.models)} models")


if __name__ == "__main__":
    run(main)
