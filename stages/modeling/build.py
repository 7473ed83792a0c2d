"""Keras models from the recipes `validate` hands to training.

A recipe is one model block of params.yaml as `validate` checked it, with the
model's name, the seed and the steps per compiled call: everything that decides
the trained weights (`data/validated/train/<model>.json`, read as it is: its
fields are the params schema's `ModelSpec`, `stages.config.params_file`).
Layers, the optimizer and the loss arrive as `[class name, {arguments}]` pairs.
"""

from __future__ import annotations

import numpy as np

from stages.common.cli import UserError
from stages.data.mnist import INPUT_SHAPE, NUM_CLASSES
from stages.modeling.backend import keras


def one_hot(recipe: dict) -> bool:
    """Categorical (not sparse) cross-entropy wants one-hot labels."""
    return recipe["loss"][0] == "CategoricalCrossentropy"


def _construct(namespace, name: str, args: dict, where: str):
    """Instantiate a Keras class by name, naming the params key if it fails."""
    try:
        return getattr(namespace, name)(**args)
    except (TypeError, ValueError) as error:
        raise UserError(f"params.yaml: {where}: Keras refused {name}({args}): {error}") from None


def build(recipe: dict) -> keras.Model:
    """A compiled model for `recipe`, seeded right before its weights are made.

    Clearing the session first resets Keras's layer-name counters, so the saved
    config is the same whether the model is the first built in a process or not.
    """
    keras.backend.clear_session()
    keras.utils.set_random_seed(recipe["seed"])
    where = f"models.{recipe['name']}"
    layers = [_construct(keras.layers, name, args, f"{where}.layers[{i}]")
              for i, (name, args) in enumerate(recipe["layers"])]
    try:
        model = keras.Sequential([keras.Input(shape=INPUT_SHAPE), *layers], name=recipe["name"])
    except (TypeError, ValueError) as error:
        raise UserError(f"params.yaml: {where}.layers do not fit together on 28x28x1 input: "
                        f"{error}") from None
    if tuple(model.output_shape) != (None, NUM_CLASSES):
        raise UserError(f"params.yaml: {where}.layers must end in {NUM_CLASSES} outputs, one "
                        f"per digit, but the model gives shape {model.output_shape[1:]}")
    model.compile(optimizer=_construct(keras.optimizers, *recipe["optimizer"],
                                       f"{where}.optimizer"),
                  loss=_construct(keras.losses, *recipe["loss"], f"{where}.loss"),
                  metrics=["accuracy"], steps_per_execution=recipe["steps_per_execution"])
    return model


def trainable_params(model: keras.Model) -> int:
    """Number of trainable weights, as the tutorials report it."""
    return int(sum(np.prod(w.shape) for w in model.trainable_weights))


def summary_text(model: keras.Model) -> str:
    """The model summary Keras prints, as plain text (for its file, not the terminal)."""
    lines: list[str] = []
    model.summary(print_fn=lambda line, **_: lines.append(line), line_length=90)
    return "\n".join(lines)


def summary_line(model: keras.Model) -> str:
    """The summary in one line: its layers and its size."""
    names = " -> ".join(type(layer).__name__ for layer in model.layers)
    return f"{len(model.layers)} layers ({names}), {trainable_params(model):,} parameters"
