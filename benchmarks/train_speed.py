"""Seconds per epoch: the train stage's loop vs a plain `model.fit` script.

    .venv/bin/python -m benchmarks.train_speed [--train 6000] [--epochs 3]

Both sides train the same model (built from params.yaml) on the same synthetic
arrays with the same batch size and validation split. "stage" is
`stages.modeling.loops.train` with its callbacks (CSV history, NaN guard, epoch log)
and params.yaml's `train.steps_per_execution`; for gradient_tape models that is
the tutorials' custom loop. "plain" is Keras defaults:
`model.fit(x, y, validation_data=..., verbose=0)`. Prints the median seconds
per epoch, leaving out the first epoch (graph tracing), and the ratio.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

from stages.config import params_file
from stages.data import mnist
from stages.modeling import build, loops
from stages.modeling.backend import keras
from stages.pipeline import prepare
from stages.tools.reading.font_digits import make_dataset

ROOT = Path(__file__).resolve().parent.parent


class EpochTimer(keras.callbacks.Callback):
    """Wall time of each epoch after the first."""

    def __init__(self) -> None:
        super().__init__()
        self.seconds: list[float] = []

    def on_epoch_begin(self, epoch, logs=None):
        self.started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self.started)

    def per_epoch(self) -> float:
        return statistics.median(self.seconds[1:] or self.seconds)


def stage_seconds(recipe: dict, data) -> float:
    timer = EpochTimer()
    model = build.build(recipe)
    with tempfile.TemporaryDirectory() as tmp, contextlib.redirect_stdout(io.StringIO()):
        loops.train(model, recipe, data, Path(tmp) / "history.csv", extra_callbacks=(timer,))
    return timer.per_epoch()


def plain_seconds(recipe: dict, data) -> float:
    timer = EpochTimer()
    (x, y), (x_val, y_val) = data["train"], data["validation"]
    if build.one_hot(recipe):
        y, y_val = (keras.utils.to_categorical(v, mnist.NUM_CLASSES) for v in (y, y_val))
    plain = {**recipe, "steps_per_execution": 1}
    build.build(plain).fit(x, y, batch_size=recipe["batch_size"], epochs=recipe["epochs"],
                           validation_data=(x_val, y_val), verbose=0, callbacks=[timer])
    return timer.per_epoch()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--train", type=int, default=6000)
    parser.add_argument("--epochs", type=int, default=4)
    args = parser.parse_args()
    handed = params_file.for_stages(params_file.load(ROOT / "params.yaml"))
    raw = make_dataset(args.train, 10, seed=0)
    train_idx, val_idx = prepare.stratified_split(raw["y_train"], 0.1, 0)
    x = mnist.scale(raw["x_train"])
    data = {"train": (x[train_idx], raw["y_train"][train_idx]),
            "validation": (x[val_idx], raw["y_train"][val_idx])}
    print(f"{len(train_idx)} training + {len(val_idx)} validation images, {args.epochs} "
          f"epochs, {os.cpu_count()} CPU cores; median s/epoch after the first\n")
    print(f"{'model':13} {'loop':14} {'stage s/epoch':>13} {'plain fit':>10} {'ratio':>6}")
    for (stage, name), values in handed.items():
        if stage != "train":
            continue
        recipe = json.loads(json.dumps({**values, "epochs": args.epochs}))
        ours, plain = stage_seconds(recipe, data), plain_seconds(recipe, data)
        print(f"{name:13} {recipe['loop']:14} {ours:13.2f} {plain:10.2f} {ours / plain:6.2f}",
              flush=True)


if __name__ == "__main__":
    main()
