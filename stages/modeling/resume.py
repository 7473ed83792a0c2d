"""Training that survives being killed: a backup after every epoch, resumed to the same bytes.

DVC deletes a stage's outputs before it runs it, and `persist: true` would turn off its
run-cache, so the backup lives outside them, in DVC's own untracked tmp folder
(`.dvc/tmp/resume/train@<model>/`), or under `MNIST_ZOO_RESUME_DIR` when that is set (a
sweep's trial: its clone is thrown away, the node's folder is not). After each epoch it
holds every variable of the model (weights, and the dropout layers' seed-generator
states that Keras's own `BackupAndRestore` leaves out: keras#22490) and of its
optimizer, and the history so far. The loops derive each epoch's order from the seed and
the epoch's number (`epoch_seed`), so a resumed epoch sees the images in the order the
uninterrupted one did. The backup is keyed by the bytes of every file the stage depends
on (params, code, data, library versions): one made from anything else is said to be
ignored and removed. It is removed when the stage finishes.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import numpy as np

from stages.common import outputs
from stages.common.files import atomic_output, write_json
from stages.modeling.backend import keras

PROGRESS = "progress.json"  # written last: it names the epoch's files, all complete


def folder(stage: str) -> Path:
    """Where `stage`'s backup lives (read when asked: a warm process serves many runs)."""
    return Path(os.environ.get("MNIST_ZOO_RESUME_DIR") or ".dvc/tmp/resume") / stage


def epoch_seed(seed: int, epoch: int) -> int:
    """The shuffle seed of one epoch: from the run's seed and the epoch alone."""
    return int(np.random.default_rng([seed, epoch]).integers(2**31 - 1))


def key(stage: str) -> str:
    """What the stage's result depends on, hashed: every dependency's bytes."""
    digest = hashlib.sha256()
    for path in outputs.deps_of(stage):
        digest.update(str(path).encode() + b"\0")
        if path.is_file():  # (run outside DVC, a dependency may be missing: so be it)
            with path.open("rb") as stream:
                while chunk := stream.read(1 << 22):
                    digest.update(chunk)
    return digest.hexdigest()


def _variables(model: keras.Model) -> list:
    if not model.optimizer.built:  # its slots exist before the first step
        model.optimizer.build(model.trainable_variables)
    return [*model.variables, *model.optimizer.variables]


class Backup(keras.callbacks.Callback):
    """After each epoch: every variable and the history so far, then the epoch's number."""

    def __init__(self, folder: Path, stage_key: str, history_csv: Path) -> None:
        super().__init__()
        self.folder, self.key, self.history_csv = folder, stage_key, history_csv

    def on_epoch_end(self, epoch, logs=None):
        if self.model.stop_training:  # diverged: nothing worth resuming from
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        state = self.folder / f"state-{epoch + 1}.npz"
        with atomic_output(state) as tmp, tmp.open("wb") as stream:
            np.savez(stream, *[np.asarray(v.numpy()) for v in _variables(self.model)])
        history = self.folder / f"history-{epoch + 1}.csv"
        with atomic_output(history) as tmp:
            shutil.copyfile(self.history_csv, tmp)
        write_json(self.folder / PROGRESS, {"key": self.key, "epochs_done": epoch + 1})
        for old in self.folder.glob("*-*.*"):
            if old.name not in (state.name, history.name):
                old.unlink()


def restore(model: keras.Model, folder: Path, stage_key: str, history_csv: Path) -> int:
    """The epochs a sound backup in `folder` had finished (0 if none), with `model`'s and
    its optimizer's variables and the history file set back to that moment."""
    try:
        progress = json.loads((folder / PROGRESS).read_text())
    except (OSError, ValueError):
        shutil.rmtree(folder, ignore_errors=True)  # none, or killed before its first epoch
        return 0
    done = progress["epochs_done"]
    variables = _variables(model)
    with np.load(folder / f"state-{done}.npz") as saved:
        values = [saved[f"arr_{i}"] for i in range(len(saved.files))]
    if progress["key"] != stage_key or [v.shape for v in values] != [
            tuple(v.shape) for v in variables]:
        print(f"a backup in {folder} from other params, code, data or library versions is "
              "ignored (and removed)", flush=True)
        shutil.rmtree(folder)
        return 0
    for variable, value in zip(variables, values, strict=True):
        variable.assign(value)
    shutil.copyfile(folder / f"history-{done}.csv", history_csv)
    return done


def finished(folder: Path) -> None:
    """The stage's outputs are written: its backup goes."""
    shutil.rmtree(folder, ignore_errors=True)
