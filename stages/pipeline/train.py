"""Stage `train@<model>`: train one zoo model on the prepared tensors.

    python -m stages.pipeline.train quickstart

Reads the model's recipe that `validate` checked (`data/validated/train/<model>.json`:
its block of params.yaml, the seed, the steps per compiled call), seeds,
builds, and trains with the block's loop (`fit`, or the tutorials' custom
`GradientTape` loop) using the prepared validation split for validation.
Writes the model, its summary, the per-epoch history and training metrics;
prints one line for the model, one per epoch, one for the result. A loss that
turns NaN or infinite stops training at once, leaving no model. Killed, it resumes
from its last finished epoch to the same bytes (`stages.modeling.resume`).
"""

from __future__ import annotations

import sys
import time

from stages.common import handed, paths, phases
from stages.common.files import atomic_output, read_history, write_json
from stages.data.mnist import load_prepared
from stages.tools.warm import client as warm_start


def main(argv: list[str] | None = None) -> None:
    """Train, save and report one model."""
    name, recipe = handed.for_model_stage("train", argv, "Train one model of the zoo.")
    with phases.phase("import tensorflow"):
        from stages.modeling import backend, build, loops, resume, saving  # TensorFlow now
        backend.start(recipe["threads"])

    with phases.phase("load data"):
        data = {split: load_prepared(split) for split in ("train", "validation")}
    model = build.build(recipe)
    print(f"train@{name}: {build.summary_line(model)}", flush=True)
    history_csv = paths.of_model("history", name)
    stage = f"train@{name}"
    backup, stage_key = resume.folder(stage), resume.key(stage)
    with atomic_output(history_csv) as csv_tmp, phases.phase("train"):
        start = resume.restore(model, backup, stage_key, csv_tmp)
        if start:
            print(f"resuming {stage} at epoch {start + 1}/{recipe['epochs']} from {backup}",
                  flush=True)
        started = time.perf_counter()
        epochs_run = loops.train(model, recipe, data, csv_tmp, start=start,
                                 extra_callbacks=(resume.Backup(backup, stage_key, csv_tmp),))
        seconds = time.perf_counter() - started
    final = read_history(history_csv)[-1]
    examples = (epochs_run - start) * len(data["train"][1])  # trained in this run
    with phases.phase("write"):
        saving.save(model, paths.model(name))
        with atomic_output(paths.of_model("summary", name)) as tmp:
            tmp.write_text(build.summary_text(model) + "\n")
    write_json(paths.of_model("train_metrics", name), {
        "epochs": epochs_run,
        "train_accuracy": round(final["accuracy"], 6),
        "train_loss": round(final["loss"], 6),
        "val_accuracy": round(final["val_accuracy"], 6),
        "val_loss": round(final["val_loss"], 6),
        "train_seconds": round(seconds, 3),
        "examples_per_second": round(examples / seconds, 1),
        "trainable_params": build.trainable_params(model),
    })
    resume.finished(backup)
    print(f"train@{name}: val_accuracy {final['val_accuracy']:.4f} after {epochs_run} "
          f"epoch(s) in {seconds:.1f}s -> {paths.model(name)}")


if __name__ == "__main__":
    warm_start.run(__spec__.name, lambda: main(sys.argv[1:]))
