"""The shapes worked out without TensorFlow (the shape rules of stages/config/layers.py)
are the ones Keras builds, and what Keras cannot build is refused before Keras is reached."""

from __future__ import annotations

import pytest

from harness import ROOT
from stages.config import params_file
from stages.config.layers import ShapeError, output_shape
from stages.data.mnist import INPUT_SHAPE

SHIPPED = params_file.load(ROOT / "params.yaml")
VARIANTS = {  # layer stacks that exercise every rule, each ending in 10 outputs
    "strided_same_conv": [("Conv2D", {"filters": 8, "kernel_size": [5, 3], "strides": 2,
                                      "padding": "same"}),
                          ("GlobalAveragePooling2D", {}), ("Dense", {"units": 10})],
    "dilated_conv_pools": [("Conv2D", {"filters": 6, "kernel_size": 3, "dilation_rate": 2}),
                           ("AveragePooling2D", {"pool_size": 3, "strides": 2}),
                           ("MaxPool2D", {"pool_size": [2, 1], "padding": "same"}),
                           ("Flatten", {}), ("Dense", {"units": 10})],
    "grouped_conv": [("Conv2D", {"filters": 4, "kernel_size": 3}),
                     ("Conv2D", {"filters": 8, "kernel_size": 3, "groups": 2}),
                     ("GlobalMaxPooling2D", {"keepdims": True}), ("Reshape", {"target_shape": [8]}),
                     ("Dense", {"units": 10})],
    "reshape_and_norms": [("Reshape", {"target_shape": [49, -1]}),
                          ("LayerNormalization", {"axis": 1}), ("Dense", {"units": 4}),
                          ("BatchNormalization", {}), ("Flatten", {}), ("Dense", {"units": 10}),
                          ("Softmax", {})],
    "embedding_after_rescaling": [("Rescaling", {"scale": 9.0}),
                                  ("Embedding", {"input_dim": 10, "output_dim": 2}),
                                  ("Flatten", {}), ("Dense", {"units": 10})],
}


def keras_shape(layers) -> tuple:
    from stages.modeling.backend import keras

    model = keras.Sequential([keras.Input(INPUT_SHAPE),
                              *(getattr(keras.layers, name)(**args) for name, args in layers)])
    return tuple(model.output_shape[1:])


@pytest.mark.parametrize("layers", [
    *(spec.layers for spec in SHIPPED.models.values()), *VARIANTS.values()],
    ids=[*SHIPPED.models, *VARIANTS])
def test_static_shapes_match_what_keras_builds(layers):
    assert output_shape(layers) == keras_shape(layers) == (10,)


@pytest.mark.parametrize(("layers", "index", "message"), [
    ([("Flatten", {}), ("Conv2D", {"filters": 2, "kernel_size": 3})], 1, "image-shaped"),
    ([("Conv2D", {"filters": 2, "kernel_size": 29})], 0, "kernel of 29 is larger"),
    ([("Flatten", {}), ("Dense", {"units": 7})], 1, "must end in 10 outputs"),
    ([("Flatten", {}), ("Dense", {"units": 10}), ("Reshape", {"target_shape": [2, 5]})], 2,
     "must end in 10 outputs"),
    ([("Embedding", {"input_dim": 1, "output_dim": 2})], 0, "input_dim must be at least 2"),
])
def test_what_does_not_fit_names_the_layer(layers, index, message):
    with pytest.raises(ShapeError, match=message) as error:
        output_shape(layers)
    assert error.value.index == index


def test_an_embedding_fed_by_other_layers_is_left_to_keras():
    """After a Dense layer the values are unknown: no range check can be made."""
    layers = [("Dense", {"units": 3}), ("Embedding", {"input_dim": 2, "output_dim": 2}),
              ("Flatten", {}), ("Dense", {"units": 10})]
    assert output_shape(layers) == (10,)
