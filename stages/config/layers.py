"""The Keras layers a model block may name: each layer's arguments and its shape rule.

One row per layer class: the constructor arguments a params file may set
(typed, with Keras's defaults) and how the layer changes the shape of what
flows through it, worked out without TensorFlow, channels last, as Keras
computes it. Adding a layer is one row. `output_shape` lets validation refuse
layers that do not fit together, a model that does not end in one output per
digit, and an Embedding too small for the values it is fed, before DVC
removes any stage output. `tests/unit/test_keras_tables.py` checks the
arguments against Keras's signatures, `tests/unit/test_shapes.py` the shapes
against the models Keras builds.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated

from pydantic import Field, model_validator
from pydantic_core import PydanticCustomError

from stages.config.values import (
    Activation,
    Constraint,
    Fraction,
    Initializer,
    IntPair,
    NonNegativeFloat,
    Padding,
    PositiveFloat,
    PositiveInt,
    Rate,
    Regularizer,
    Seed,
    Strict,
)
from stages.data.mnist import INPUT_SHAPE, NUM_CLASSES

Shape = tuple[int, ...]
Values = tuple[float, float] | None  # the range of values flowing, while it is known


class ShapeError(ValueError):
    """Layer `index` cannot take what the layers before it give."""

    def __init__(self, index: int, message: str) -> None:
        super().__init__(message)
        self.index = index


# Arguments ----------------------------------------------------------------------

class Weighted(Strict):
    """Arguments of layers with a kernel and a bias."""

    activation: Activation | None = None
    use_bias: bool = True
    kernel_initializer: Initializer = "glorot_uniform"
    bias_initializer: Initializer = "zeros"
    kernel_regularizer: Regularizer | None = None
    bias_regularizer: Regularizer | None = None
    activity_regularizer: Regularizer | None = None
    kernel_constraint: Constraint | None = None
    bias_constraint: Constraint | None = None


class DenseArgs(Weighted):
    units: PositiveInt


class Conv2DArgs(Weighted):
    filters: PositiveInt
    kernel_size: IntPair
    strides: IntPair = 1
    padding: Padding = "valid"
    dilation_rate: IntPair = 1
    groups: PositiveInt = 1


class PoolArgs(Strict):
    pool_size: IntPair = 2
    strides: IntPair | None = None
    padding: Padding = "valid"


class AveragePoolArgs(PoolArgs):
    pool_size: IntPair  # no default in Keras


class GlobalPoolArgs(Strict):
    keepdims: bool = False


class NormalizationArgs(Strict):
    axis: int = -1
    epsilon: PositiveFloat = 1e-3
    center: bool = True
    scale: bool = True
    beta_initializer: Initializer = "zeros"
    gamma_initializer: Initializer = "ones"
    beta_regularizer: Regularizer | None = None
    gamma_regularizer: Regularizer | None = None
    beta_constraint: Constraint | None = None
    gamma_constraint: Constraint | None = None


class BatchNormalizationArgs(NormalizationArgs):
    momentum: Fraction = 0.99
    moving_mean_initializer: Initializer = "zeros"
    moving_variance_initializer: Initializer = "ones"


class DropoutArgs(Strict):
    rate: Rate
    seed: Seed | None = None


class EmbeddingArgs(Strict):
    input_dim: PositiveInt
    output_dim: PositiveInt
    embeddings_initializer: Initializer = "uniform"
    embeddings_regularizer: Regularizer | None = None
    embeddings_constraint: Constraint | None = None
    mask_zero: bool = False


class ActivationArgs(Strict):
    activation: Activation


class ReLUArgs(Strict):
    max_value: PositiveFloat | None = None
    negative_slope: NonNegativeFloat = 0.0
    threshold: float = 0.0


class LeakyReLUArgs(Strict):
    negative_slope: NonNegativeFloat = 0.3


class RescalingArgs(Strict):
    scale: float
    offset: float = 0.0


class ReshapeArgs(Strict):
    target_shape: list[Annotated[int, Field(ge=-1)]] = Field(min_length=1)

    @model_validator(mode="after")
    def _one_unknown_at_most(self) -> ReshapeArgs:
        if 0 in self.target_shape or self.target_shape.count(-1) > 1:
            raise PydanticCustomError(
                "reshape", "target_shape takes positive sizes and at most one -1, got {shape}",
                {"shape": self.target_shape})
        return self


class SoftmaxArgs(Strict):
    axis: int = -1


class NoArgs(Strict):
    """Layers configured by nothing but their place in the model."""


# Shape rules: (shape, values, args) -> (shape, values) ----------------------------

def _pair(value) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else tuple(value)


def _image(shape: Shape, name: str) -> tuple[int, int, int]:
    if len(shape) != 3:
        raise ValueError(f"{name} needs image-shaped input (height, width, channels), "
                         f"but gets shape {shape}")
    return shape


def _window(size: int, window: int, stride: int, padding: str, what: str) -> int:
    out = math.ceil(size / stride) if padding == "same" else (size - window) // stride + 1
    if out < 1:
        raise ValueError(f"the {what} of {window} is larger than the input's {size} pixels")
    return out


def _conv2d(shape: Shape, values: Values, args: dict) -> tuple[Shape, Values]:
    height, width, channels = _image(shape, "Conv2D")
    kernel, strides = _pair(args["kernel_size"]), _pair(args.get("strides", 1))
    dilation, groups = _pair(args.get("dilation_rate", 1)), args.get("groups", 1)
    if max(strides) > 1 and max(dilation) > 1:
        raise ValueError("Conv2D cannot combine strides > 1 with dilation_rate > 1")
    if channels % groups or args["filters"] % groups:
        raise ValueError(f"Conv2D groups={groups} must divide both its input channels "
                         f"({channels}) and filters ({args['filters']})")
    padding = args.get("padding", "valid")
    spans = [d * (k - 1) + 1 for d, k in zip(dilation, kernel, strict=True)]
    return (_window(height, spans[0], strides[0], padding, "kernel"),
            _window(width, spans[1], strides[1], padding, "kernel"), args["filters"]), None


def _pool(shape: Shape, values: Values, args: dict) -> tuple[Shape, Values]:
    height, width, channels = _image(shape, "pooling")
    pool = _pair(args.get("pool_size", 2))
    strides = _pair(args.get("strides") or pool)
    padding = args.get("padding", "valid")
    return (_window(height, pool[0], strides[0], padding, "pool"),
            _window(width, pool[1], strides[1], padding, "pool"), channels), values


def _global_pool(shape: Shape, values: Values, args: dict) -> tuple[Shape, Values]:
    channels = _image(shape, "global pooling")[2]
    return ((1, 1, channels) if args.get("keepdims") else (channels,)), values


def _reshape(shape: Shape, values: Values, args: dict) -> tuple[Shape, Values]:
    total, target = math.prod(shape), list(args["target_shape"])
    known = math.prod(size for size in target if size != -1)
    if -1 in target:
        if total % known:
            raise ValueError(f"Reshape cannot make {target} from {total} values {shape}")
        target[target.index(-1)] = total // known
    if math.prod(target) != total:
        raise ValueError(f"Reshape to {tuple(target)} needs {math.prod(target)} values, "
                         f"but gets {total} {shape}")
    return tuple(target), values


def _axis(name: str):
    def rule(shape: Shape, values: Values, args: dict) -> tuple[Shape, Values]:
        axis = args.get("axis", -1)
        if not (1 <= axis <= len(shape) or -len(shape) <= axis <= -1):
            raise ValueError(f"{name} axis={axis} does not exist in input of shape {shape}")
        return shape, None
    return rule


def _embedding(shape: Shape, values: Values, args: dict) -> tuple[Shape, Values]:
    if values is not None:
        low, high = (math.trunc(v) for v in values)  # Embedding casts inputs to int
        if low < 0 or high >= args["input_dim"]:
            raise ValueError(f"Embedding(input_dim={args['input_dim']}) is fed values "
                             f"{values[0]:g}..{values[1]:g}, which index rows {low}..{high}; "
                             f"input_dim must be at least {high + 1}")
    return (*shape, args["output_dim"]), None


def _rescaling(shape: Shape, values: Values, args: dict) -> tuple[Shape, Values]:
    if values is None:
        return shape, None
    ends = sorted(v * args["scale"] + args.get("offset", 0.0) for v in values)
    return shape, (ends[0], ends[1])


def _same(shape: Shape, values: Values, args: dict) -> tuple[Shape, Values]:
    return shape, None  # the shape stays; the values are no longer known


def _spatial_dropout(shape: Shape, values: Values, args: dict) -> tuple[Shape, Values]:
    return _image(shape, "SpatialDropout2D"), None


def _flatten(shape: Shape, values: Values, args: dict) -> tuple[Shape, Values]:
    return (math.prod(shape),), values


def _dense(shape: Shape, values: Values, args: dict) -> tuple[Shape, Values]:
    return (*shape[:-1], args["units"]), None


# The table ------------------------------------------------------------------------

@dataclass(frozen=True)
class Layer:
    """What a params file may pass to one Keras layer class, and what it makes."""

    arguments: type[Strict]
    shape: Callable[[Shape, Values, dict], tuple[Shape, Values]]


LAYERS: dict[str, Layer] = {
    "Activation": Layer(ActivationArgs, _same),
    "AveragePooling2D": Layer(AveragePoolArgs, _pool),
    "BatchNormalization": Layer(BatchNormalizationArgs, _axis("BatchNormalization")),
    "Conv2D": Layer(Conv2DArgs, _conv2d),
    "Dense": Layer(DenseArgs, _dense),
    "Dropout": Layer(DropoutArgs, _same),
    "Embedding": Layer(EmbeddingArgs, _embedding),
    "Flatten": Layer(NoArgs, _flatten),
    "GlobalAveragePooling2D": Layer(GlobalPoolArgs, _global_pool),
    "GlobalMaxPooling2D": Layer(GlobalPoolArgs, _global_pool),
    "LayerNormalization": Layer(NormalizationArgs, _axis("LayerNormalization")),
    "LeakyReLU": Layer(LeakyReLUArgs, _same),
    "MaxPool2D": Layer(PoolArgs, _pool),
    "MaxPooling2D": Layer(PoolArgs, _pool),
    "ReLU": Layer(ReLUArgs, _same),
    "Rescaling": Layer(RescalingArgs, _rescaling),
    "Reshape": Layer(ReshapeArgs, _reshape),
    "Softmax": Layer(SoftmaxArgs, _axis("Softmax")),
    "SpatialDropout2D": Layer(DropoutArgs, _spatial_dropout),
}


def output_shape(layers: Sequence[tuple[str, dict]]) -> Shape:
    """The shape (without the batch axis) of what `layers` make of one MNIST image.

    Raises ShapeError naming the first layer that cannot take its input, or the
    last layer if the model does not end in exactly 10 outputs.
    """
    shape, values = INPUT_SHAPE, (0.0, 1.0)  # prepared pixels lie in [0, 1]
    for index, (name, args) in enumerate(layers):
        try:
            shape, values = LAYERS[name].shape(shape, values, args)
        except ValueError as error:
            raise ShapeError(index, str(error)) from None
    if shape != (NUM_CLASSES,):
        raise ShapeError(len(layers) - 1, f"the model must end in {NUM_CLASSES} outputs, one "
                                          f"per digit, but its last layer gives shape {shape}")
    return shape
