"""Stage `validate`: check params.yaml and the environment before any other stage runs.

    python -m stages.pipeline.validate

DVC deletes a stage's outputs before it runs the stage's command, so a check
inside `train@<model>` comes too late: a typo would already have cost the last
good model. Every other stage depends on this one's outputs, and they are
`persist` (DVC leaves them in place), so a bad edit stops `dvc repro`,
`dvc exp run` or a queued experiment here, with one line, and every earlier
output stays as it was.

It is the only stage that reads params.yaml. It hands each stage exactly the
checked values that stage uses, in `data/validated/` (`config.params_file.for_stages`):
`download.json`, `prepare.json`, `report.json`, `train/<model>.json`,
`evaluate/<model>.json`, `export/<model>.json`, `environment.json` (the
library versions the model stages depend on), and `code/<stage>.json`: the
modules each stage runs, fingerprinted (`common.code_deps`), its code dependency.
It depends on all of stages/: any edit reruns it, and what it writes decides what
else reruns (an edit of the schema code, or of a command, reruns it alone). It
keeps dvc.yaml's `artifacts:` (the model registry) in step with the models
(`config.artifacts`), and removes every output of a model that is no longer in
params.yaml (DVC leaves outputs of stages that no longer exist behind).
"""

from __future__ import annotations

import os
import shutil

from stages.common import code_deps, environment, handed, outputs, paths
from stages.common.cli import run
from stages.common.files import write_json
from stages.config import artifacts, params_file
from stages.tools.warm import client as warm_start


def remove_model(name: str) -> None:
    """Delete what model `name`'s stages wrote and were handed: its block left params.yaml."""
    for path in [*outputs.of_model(name), *paths.VALIDATED.glob(f"*/{name}.json")]:
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)


def main() -> None:
    """Validate, hand each stage its values, and clear out removed models."""
    if os.environ.get("DVC_STAGE"):  # a run: the model stages after it find TensorFlow in
        warm_start.start_ahead()
    params = params_file.load(paths.PARAMS)
    versions = environment.pinned()
    environment.check(versions, paths.REQUIREMENTS)
    write_json(paths.ENVIRONMENT, versions)
    for (stage, model), values in params_file.for_stages(params).items():
        write_json(handed.path(stage, model), values)
    for stage in outputs.stage_kinds():
        if stage != "validate":  # which depends on all of stages/
            write_json(handed.code(stage), code_deps.fingerprint(f"stages.pipeline.{stage}"))
    known = {path.stem for path in paths.VALIDATED.glob("train/*.json")}
    for name in sorted(known - set(params.models)):
        remove_model(name)
        print(f"validate: {name} is no longer in params.yaml; removed its outputs")
    if artifacts.sync(params):
        print(f"validate: dvc.yaml's artifacts are now the {len(params.models)} models "
              "(commit dvc.yaml)")
    print(f"validate: params.yaml and the {', '.join(versions)} versions are good; "
          f"{len(params.models)} models")


if __name__ == "__main__":
    run(main)
