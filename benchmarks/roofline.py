"""This machine's arithmetic floor for training the zoo, and each model's distance from it.

    .venv/bin/python -m benchmarks.roofline [--data fashion|synthetic] [--repeats 5]

1. **The peak**: the fp32 GFLOP/s TensorFlow reaches here on the threads a train stage
   uses (params.yaml's `tensorflow:`), the best of `--repeats` runs each: a 1024^3
   matmul, and the tutorials' shapes at their batch sizes (a dense layer, 32x784 @
   784x512; a 3x3 convolution of 32 filters over a batch of 28x28 images).
2. **The work**: each model's training FLOPs, counted from its Keras layers: the
   forward multiply-adds of an image (Dense: inputs x units at each position; Conv2D:
   output pixels x kernel x input channels x filters; the rest counted as free) x 2
   FLOPs x 3 (the forward product and the backward pass's two) x the training images
   x the epochs. The floor: that work at the matmul peak.
3. **The time**: each model trained as its train stage trains it
   (`stages.modeling.loops.train`: params.yaml's loop, epochs, batch size, callbacks,
   validation), and, apart, one epoch of its compiled training steps alone (the same
   batches already in memory, looped inside one `tf.function`: no input pipeline, no
   Python between steps, no callbacks, no validation), times the epochs: "steps". The
   rest of the training seconds is the input pipeline, Python between calls, callbacks
   and validation.

Prints the tables and writes benchmarks/results/roofline.json (commit, CPU, cores).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks import results
from stages.config import params_file
from stages.data import mnist
from stages.pipeline import prepare
from stages.tools.reading.font_digits import make_dataset
from tests.helpers import real_data

ROOT = Path(__file__).resolve().parent.parent


def best_gflops(run, flops: float, repeats: int) -> float:
    """The best of `repeats` timed calls of `run` (after one untimed), in GFLOP/s."""
    run()
    best = math.inf
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - started)
    return flops / best / 1e9


def peaks(repeats: int) -> dict[str, float]:
    """GFLOP/s of a large matmul and of the tutorials' layer shapes, on this process's
    threads."""
    import tensorflow as tf

    rng = np.random.default_rng(0)

    def tensor(*shape):
        return tf.constant(rng.random(shape, dtype=np.float32))

    a, b = tensor(1024, 1024), tensor(1024, 1024)
    x, w = tensor(32, 784), tensor(784, 512)
    images, kernel = tensor(128, 28, 28, 1), tensor(3, 3, 1, 32)
    def looped(op, inputs, times: int):
        """`op` `times` times in one call, one after another, each on inputs that depend
        on the step (so TensorFlow cannot compute it once and reuse it)."""
        def body(step, total):
            return step + 1, total + tf.reduce_sum(op(inputs + tf.cast(step, tf.float32)))

        @tf.function
        def run():  # one step at a time: the loop's own parallelism would use a second core
            return tf.while_loop(lambda step, _: step < times, body,
                                 (tf.constant(0), tf.constant(0.0)), parallel_iterations=1)[1]
        return lambda: run().numpy()

    matmul = looped(lambda m: tf.linalg.matmul(m, b), a, 4)
    dense = looped(lambda m: tf.linalg.matmul(m, w), x, 200)
    conv = looped(lambda m: tf.nn.conv2d(m, kernel, 1, "VALID"), images, 20)
    return {"matmul 1024^3": best_gflops(matmul, 4 * 2 * 1024**3, repeats),
            "dense 32x784 @ 784x512": best_gflops(dense, 200 * 2 * 32 * 784 * 512, repeats),
            "conv 128x28x28x1, 32 3x3 filters": best_gflops(
                conv, 20 * 2 * 128 * 26 * 26 * 9 * 32, repeats)}


def forward_macs(model) -> int:
    """Multiply-adds of one image's forward pass, from the layers that do arithmetic."""
    import keras

    total = 0
    for layer in model.layers:
        inputs, outputs = layer.input.shape, layer.output.shape
        if isinstance(layer, keras.layers.Dense):
            total += math.prod(outputs[1:-1]) * inputs[-1] * layer.units
        elif isinstance(layer, keras.layers.Conv2D):
            kh, kw = layer.kernel_size
            total += (math.prod(outputs[1:-1]) * kh * kw * inputs[-1] // layer.groups
                      * layer.filters)
    return total


def data_for(kind: str) -> dict:
    """54,000 training and 6,000 validation images, split as `prepare` splits them."""
    if kind == "fashion":
        if why := real_data.missing(fashion=True):
            raise SystemExit(why)
        raw = real_data.fashion_mnist(60000, 10)
    else:
        raw = make_dataset(60000, 10, seed=0)
    train, validation = prepare.stratified_split(raw["y_train"], 0.1, 0)
    x = mnist.scale(raw["x_train"])
    return {"train": (x[train], raw["y_train"][train]),
            "validation": (x[validation], raw["y_train"][validation])}


def training_seconds(recipe: dict, data: dict) -> float:
    """The train stage's loop, as the stage runs it (its lines kept quiet)."""
    from stages.modeling import build, loops

    model = build.build(recipe)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp, contextlib.redirect_stdout(io.StringIO()):
        loops.train(model, recipe, data, Path(tmp) / "history.csv")
    return time.perf_counter() - started


def steps_seconds(recipe: dict, data: dict) -> float:
    """One epoch of compiled training steps alone, after one untimed, times the epochs."""
    import keras
    import tensorflow as tf

    from stages.modeling import build

    tf.get_logger().setLevel("ERROR")  # each model's own loop is traced anew, by design
    model = build.build(recipe)
    x, y = data["train"]
    if build.one_hot(recipe):
        y = keras.utils.to_categorical(y, mnist.NUM_CLASSES)
    size = recipe["batch_size"]
    count = len(x) // size
    xs = tf.constant(x[:count * size].reshape(count, size, *x.shape[1:]))
    ys = tf.constant(y[:count * size].reshape(count, size, *y.shape[1:]))

    @tf.function
    def epoch():
        for i in tf.range(count):
            model.train_step((xs[i], ys[i]))

    epoch()
    started = time.perf_counter()
    epoch()
    return (time.perf_counter() - started) * recipe["epochs"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", choices=("fashion", "synthetic"), default="fashion")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    recipes = {name: json.loads(json.dumps(values)) for (stage, name), values in
               params_file.for_stages(params_file.load(ROOT / "params.yaml")).items()
               if stage == "train"}
    from stages.modeling import backend, build

    threads = next(iter(recipes.values()))["threads"]
    backend.start(threads)  # before any TensorFlow op: the stages' thread counts
    found = peaks(args.repeats)
    peak = found["matmul 1024^3"]
    print(f"threads {threads}: " + ", ".join(f"{k} {v:.1f} GFLOP/s" for k, v in found.items()),
          flush=True)
    data = data_for(args.data)
    images = len(data["train"][0])
    rows, total = [], {"floor": 0.0, "training": 0.0, "steps": 0.0}
    for name, recipe in recipes.items():
        work = 6 * forward_macs(build.build(recipe)) * images * recipe["epochs"]
        floor = work / peak / 1e9
        trained, steps = training_seconds(recipe, data), steps_seconds(recipe, data)
        for key, value in (("floor", floor), ("training", trained), ("steps", steps)):
            total[key] += value
        rows.append([f"`{name}`", recipe["loop"], str(recipe["epochs"]),
                     str(recipe["batch_size"]), f"{work / 1e12:.2f}", f"{floor:.1f}",
                     f"{trained:.1f}", f"**{trained / floor:.1f}x**", f"{steps:.1f}",
                     f"{trained - steps:.1f}"])
        print(f"  {name}: {trained:.1f} s trained, floor {floor:.1f} s, steps {steps:.1f} s",
              flush=True)
    rows.append(["all", "", "", "", "", f"{total['floor']:.1f}", f"{total['training']:.1f}",
                 f"**{total['training'] / total['floor']:.1f}x**", f"{total['steps']:.1f}",
                 f"{total['training'] - total['steps']:.1f}"])
    tables = {
        "peak": {"columns": ["measured", ">GFLOP/s"],
                 "rows": [[k, f"{v:.1f}"] for k, v in found.items()]},
        "models": {"columns": ["model", "loop", ">epochs", ">batch", ">TFLOP", ">floor s",
                               ">training s", ">against the floor", ">steps s", ">the rest s"],
                   "rows": rows}}
    print(f"\n{results.describe(results.machine())}; threads {threads}; "
          f"{args.data}, {images:,} training images")
    for table in tables.values():
        print(results.markdown(table) + "\n")
    results.save("roofline", tables)


if __name__ == "__main__":
    main()
