"""The two training loops the tutorials use, sharing Keras callbacks.

`fit` is Keras's own loop. `gradient_tape` is the "MNIST models from scratch"
loop: a shuffled `tf.data` pipeline and a `tf.function` step with an explicit
`GradientTape`. Both feed the same callbacks (CSVLogger for the history file,
one log line per epoch, a stop on a NaN or infinite loss), so both produce
the same outputs.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np

from stages.common import phases
from stages.common.cli import UserError
from stages.data.mnist import NUM_CLASSES
from stages.modeling.backend import keras, tf
from stages.modeling.build import one_hot
from stages.modeling.resume import epoch_seed
from stages.modeling.saving import INFERENCE_BATCH


class EpochLog(keras.callbacks.Callback):
    """One line per epoch, so `dvc repro` output stays readable in logs and CI."""

    def __init__(self, name: str, epochs: int) -> None:
        super().__init__()
        self.name, self.epochs, self.started = name, epochs, 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self.started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        figures = " ".join(f"{key} {float(value):.4f}" for key, value in sorted(logs.items()))
        print(f"train@{self.name} epoch {epoch + 1}/{self.epochs}: {figures} "
              f"({time.perf_counter() - self.started:.1f}s)", flush=True)


class StopOnDivergence(keras.callbacks.Callback):
    """Stop at the first NaN or infinite figure (a batch's loss, or an epoch's
    training and validation scores) and remember where it was."""

    def __init__(self) -> None:
        super().__init__()
        self.epoch, self.where = 0, None

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        self._check({"loss": (logs or {}).get("loss", 0.0)},
                    f"epoch {self.epoch + 1}, batch {batch + 1}")

    def on_epoch_end(self, epoch, logs=None):
        self._check(logs or {}, f"epoch {epoch + 1}")

    def _check(self, figures: dict, place: str) -> None:
        bad = {key: float(value) for key, value in figures.items()
               if not math.isfinite(float(value))}
        if bad and self.where is None:
            key, value = next(iter(bad.items()))
            self.where = f"{key} became {value} in {place}"
            self.model.stop_training = True


class ValidationTimer(keras.callbacks.Callback):
    """Counts `fit`'s validation passes as their own phase (for the benchmarks)."""

    def on_test_begin(self, logs=None):
        self.started = time.perf_counter()

    def on_test_end(self, logs=None):
        phases.add("validate", time.perf_counter() - self.started)


def train(model: keras.Model, recipe: dict, data: dict, history_csv: Path,
          extra_callbacks: tuple[keras.callbacks.Callback, ...] = (), start: int = 0) -> int:
    """Train with the recipe's loop from epoch `start` (a resumed run's); return the
    epochs done. Raises UserError on divergence.

    `extra_callbacks` see every epoch after the history is written (the backup, and
    benchmarks that observe training without changing it).
    """
    (x_train, y_train), (x_val, y_val) = data["train"], data["validation"]
    name = recipe["name"]
    if one_hot(recipe):
        y_train, y_val = (keras.utils.to_categorical(y, NUM_CLASSES) for y in (y_train, y_val))
    divergence = StopOnDivergence()
    callbacks = [keras.callbacks.CSVLogger(str(history_csv), append=True), divergence,
                 EpochLog(name, recipe["epochs"]), ValidationTimer(), *extra_callbacks]
    try:
        if recipe["loop"] == "fit":
            epochs_run = _fit(model, recipe, (x_train, y_train), (x_val, y_val), callbacks,
                              start)
        else:
            epochs_run = _gradient_tape(model, recipe, (x_train, y_train), (x_val, y_val),
                                        keras.callbacks.CallbackList(callbacks, model=model),
                                        start)
    except tf.errors.OpError as error:  # e.g. an index past an Embedding's table
        raise UserError(f"TensorFlow stopped training model {name}: "
                        f"{error.message.splitlines()[0]}; check models.{name}") from None
    if divergence.where:
        raise UserError(f"model {name} diverged: {divergence.where}. Lower the learning "
                        f"rate in models.{name}.optimizer or check the data; "
                        "no model was saved")
    return epochs_run


def _fit(model: keras.Model, recipe: dict, train: tuple, val: tuple, callbacks: list,
         start: int) -> int:
    """Keras's `fit`, one epoch per call, each epoch's order drawn from its own seed (what
    `fit(shuffle=True)` draws depends on every epoch before it: a resumed run could not
    draw it again). The images become one tensor once, not every epoch (a second an
    epoch, measured), and each epoch's batches are cut from one reordered copy of it."""
    images, labels = (tf.constant(array) for array in train)  # copied once, not per epoch
    val_batches = tf.data.Dataset.from_tensor_slices(val).batch(INFERENCE_BATCH)
    epoch = start - 1
    for epoch in range(start, recipe["epochs"]):
        order = np.random.default_rng(epoch_seed(recipe["seed"], epoch)).permutation(
            len(train[1]))
        batches = _in_batches(images, labels, order, recipe["batch_size"])
        model.fit(batches, initial_epoch=epoch, epochs=epoch + 1, validation_data=val_batches,
                  shuffle=False, callbacks=callbacks, verbose=0)
        if model.stop_training:
            break
    return epoch + 1


def _in_batches(images: tf.Tensor, labels: tf.Tensor, order: np.ndarray, size: int
                ) -> tf.data.Dataset:
    """The batches `fit` would cut from the arrays reordered by `order`: one gather, then
    views (a gather per batch inside the input pipeline was a fifth slower for cnn_sgd)."""
    full = len(order) // size * size
    x, y = tf.gather(images, order), tf.gather(labels, order)
    batches = tf.data.Dataset.from_tensor_slices(
        (tf.reshape(x[:full], (-1, size, *x.shape[1:])),
         tf.reshape(y[:full], (-1, size, *y.shape[1:]))))
    if full < len(order):
        batches = batches.concatenate(tf.data.Dataset.from_tensors((x[full:], y[full:])))
    return batches


def _gradient_tape(model: keras.Model, recipe: dict, train: tuple, val: tuple,
                   callbacks: keras.callbacks.CallbackList, start: int) -> int:
    """The tutorials' custom loop, reporting to the same callbacks as `fit`.

    As in the tutorial: a seeded `shuffle(buffer)` of the training set, batched,
    and one `GradientTape` step per batch; each epoch's shuffle seeded by its own
    seed, so a resumed epoch sees what the uninterrupted one saw. Unlike it, the
    shuffle moves the images' numbers, not the images (its order depends only on the
    count, the buffer and the seed: the same batches), and `model.steps_per_execution`
    steps run in one traced call that gathers each batch from one tensor of the
    images, with the metrics and the divergence check on the device: no input
    pipeline between steps, and the host waits once per call, not once per batch.
    """
    accuracy_class = (keras.metrics.CategoricalAccuracy if one_hot(recipe)
                      else keras.metrics.SparseCategoricalAccuracy)
    metrics = {"loss": keras.metrics.Mean(), "accuracy": accuracy_class(),
               "val_loss": keras.metrics.Mean(), "val_accuracy": accuracy_class()}
    loss_fn, optimizer = model.loss, model.optimizer
    steps = tf.constant(model.steps_per_execution)

    def train_step(x, y):
        with tf.GradientTape() as tape:
            outputs = model(x, training=True)
            loss = loss_fn(y, outputs)
        gradients = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(gradients, model.trainable_variables, strict=True))
        metrics["loss"].update_state(loss)
        metrics["accuracy"].update_state(y, outputs)
        return loss

    images, labels = (tf.constant(array) for array in train)  # each batch gathered from them
    size = recipe["batch_size"]
    per_epoch = -(-len(train[1]) // size)

    @tf.function
    def train_steps(order, first):
        """Up to `steps` batches of the epoch's `order` from batch number `first`,
        stopping at a non-finite loss; returns how many ran and the last loss."""
        done, loss = tf.constant(0), tf.constant(0.0)
        for number in tf.range(first, tf.minimum(first + steps, per_epoch)):
            chosen = order[number * size:(number + 1) * size]
            loss = train_step(tf.gather(images, chosen), tf.gather(labels, chosen))
            done += 1
            if not tf.math.is_finite(loss):
                break
        return done, loss

    @tf.function
    def val_step(x, y):
        outputs = model(x, training=False)
        weight = tf.shape(y)[0]  # the mean over images, whatever the last batch's size
        metrics["val_loss"].update_state(loss_fn(y, outputs), sample_weight=weight)
        metrics["val_accuracy"].update_state(y, outputs)

    val_batches = tf.data.Dataset.from_tensor_slices(val).batch(INFERENCE_BATCH)
    callbacks.on_train_begin()
    epoch = start - 1
    for epoch in range(start, recipe["epochs"]):
        callbacks.on_epoch_begin(epoch)
        for metric in metrics.values():
            metric.reset_state()
        order = (tf.data.Dataset.range(len(train[1]))
                 .shuffle(recipe["shuffle_buffer"],  # this epoch's order: its seed's
                          seed=epoch_seed(recipe["seed"], epoch), reshuffle_each_iteration=False)
                 .batch(len(train[1])).get_single_element())
        batch = 0
        while not model.stop_training and batch < per_epoch:
            done, loss = train_steps(order, tf.constant(batch))
            batch += int(done)
            if int(done):
                callbacks.on_train_batch_end(batch - 1, {"loss": float(loss)})
            if int(done) < model.steps_per_execution:
                break  # the epoch's end, or a non-finite loss
        with phases.phase("validate"):
            for x, y in val_batches:
                val_step(x, y)
        callbacks.on_epoch_end(epoch, {k: float(m.result()) for k, m in metrics.items()})
        if model.stop_training:
            break
    callbacks.on_train_end()
    return epoch + 1
