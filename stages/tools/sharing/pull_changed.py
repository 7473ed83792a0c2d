"""CI's way to run a branch: what it changed runs, and only what that needs is downloaded.

`dvc repro --pull --allow-missing` skips each unchanged stage without fetching its
outputs, and pulls the inputs of the stages that run. One input it does not fetch: a
folder made of other stages' outputs, which the report reads (`metrics/`). Run with
part of that folder missing, the report would record the hash of a partial folder, so
every file under it that dvc.lock names is pulled first (kilobytes of figures).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

from stages.common.cli import UserError

SHARED_FOLDER = "metrics/"  # the report's dependency on every model's figures


def folder_outputs(lock: Path = Path("dvc.lock")) -> list[str]:
    """The outputs dvc.lock records under the report's folder dependency."""
    stages = (yaml.safe_load(lock.read_text()) or {}).get("stages", {}) if lock.is_file() else {}
    return sorted({out["path"] for stage in stages.values() for out in stage.get("outs", [])
                   if out["path"].startswith(SHARED_FOLDER)})


def pull_changed() -> None:
    """Pull the report's inputs, then `dvc repro --pull --allow-missing`."""
    dvc = str(Path(sys.executable).with_name("dvc"))
    inputs = folder_outputs()  # none (no dvc.lock yet): nothing to pull, not everything
    for command in ([dvc, "pull", "--allow-missing", *inputs] if inputs else None,
                    [dvc, "repro", "--pull", "--allow-missing"]):
        if command and subprocess.run(command).returncode:
            raise UserError(f"`{' '.join(command[:4])} ...` failed (its own lines say why)")
