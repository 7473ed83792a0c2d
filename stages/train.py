"""Stage `train@<model>`: train one zoo model on the prepared tensors.

    python -m stages.train quickstart

Reads `models.<model>` from params.yaml, seeds, builds, and trains with the
block's loop (`fit`, or the tutorials' custom `GradientTape` loop) using the
prepared validation split for validation. Writes the model, its summary, the
per-epoch history (CSV for `dvc plots`, PNG for people) and training metrics.
A loss that turns NaN or infinite stops training at once, leaving no model.
"""

from __future__ import annotations

import argparse
import sys
import time

from stages import environment, params, paths, plotting, timing
from stages.cli import run
from stages.dataio import atomic_output, load_prepared, read_history, read_json, write_json


def parse_args(argv: list[str] | None = None) -> str:
    """The model name from the command line."""
    parser = argparse.ArgumentParser(description="Train one model of the zoo.")
    parser.add_argument("model", help="a model name under `models:` in params.yaml")
    return parser.parse_args(argv).model


def main(argv: list[str] | None = None) -> None:
    """Validate params, then train, save and report one model."""
    name = parse_args(argv)
    config = params.load()
    spec = config.model(name)
    environment.check(read_json(paths.ENVIRONMENT), paths.ENVIRONMENT)
    with timing.phase("import tensorflow"):
        from stages import fitting, zoo  # TensorFlow loads only once params are known good

    with timing.phase("load data"):
        data = {split: load_prepared(split) for split in ("train", "validation")}
    model = zoo.build(spec, config.seed, config.train.steps_per_execution)
    summary = fitting.summary_text(model)
    print(summary)
    history_csv = paths.history(name)
    with atomic_output(history_csv) as csv_tmp, timing.phase("train"):
        started = time.perf_counter()
        epochs_run = fitting.train(model, spec, data, config.seed, csv_tmp)
        seconds = time.perf_counter() - started
    rows = read_history(history_csv)
    final = rows[-1]
    examples = epochs_run * len(data["train"][1])
    with timing.phase("write"):
        zoo.save(model, paths.model(name))
        with atomic_output(paths.model_summary(name)) as tmp:
            tmp.write_text(summary + "\n")
    write_json(paths.train_metrics(name), {
        "epochs": epochs_run,
        "train_accuracy": round(final["accuracy"], 6),
        "train_loss": round(final["loss"], 6),
        "val_accuracy": round(final["val_accuracy"], 6),
        "val_loss": round(final["val_loss"], 6),
        "train_seconds": round(seconds, 3),
        "examples_per_second": round(examples / seconds, 1),
        "trainable_params": zoo.trainable_params(model),
    })
    with timing.phase("pictures"):
        plotting.history(paths.plot(name, "history.png"), rows, name)
    print(f"train@{name}: val_accuracy {final['val_accuracy']:.4f} in {seconds:.1f}s; "
          f"wrote {paths.model(name)}")


if __name__ == "__main__":
    run(lambda: main(sys.argv[1:]))
