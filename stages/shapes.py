"""The shape each layer of a model block gives, worked out without TensorFlow.

Lets params validation refuse layers that do not fit together, a model that
does not end in one output per digit, and an Embedding too small for the
values it is fed, before DVC removes any stage output and before Keras is
imported. Covers exactly the layers in `keras_args.LAYERS`, channels last, as
Keras computes them (`tests/test_shapes.py` compares with Keras);
`zoo.build` still checks the real model.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

INPUT_SHAPE = (28, 28, 1)
CLASSES = 10
Shape = tuple[int, ...]
Values = tuple[float, float] | None  # the range of values flowing, while it is known


class ShapeError(ValueError):
    """Layer `index` cannot take what the layers before it give."""

    def __init__(self, index: int, message: str) -> None:
        super().__init__(message)
        self.index = index


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


def _conv2d(shape: Shape, args: dict) -> Shape:
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
            _window(width, spans[1], strides[1], padding, "kernel"), args["filters"])


def _pool(shape: Shape, args: dict) -> Shape:
    height, width, channels = _image(shape, "pooling")
    pool = _pair(args.get("pool_size", 2))
    strides = _pair(args.get("strides") or pool)
    padding = args.get("padding", "valid")
    return (_window(height, pool[0], strides[0], padding, "pool"),
            _window(width, pool[1], strides[1], padding, "pool"), channels)


def _global_pool(shape: Shape, args: dict) -> Shape:
    channels = _image(shape, "global pooling")[2]
    return (1, 1, channels) if args.get("keepdims") else (channels,)


def _reshape(shape: Shape, args: dict) -> Shape:
    total, target = math.prod(shape), list(args["target_shape"])
    known = math.prod(size for size in target if size != -1)
    if -1 in target:
        if total % known:
            raise ValueError(f"Reshape cannot make {target} from {total} values {shape}")
        target[target.index(-1)] = total // known
    if math.prod(target) != total:
        raise ValueError(f"Reshape to {tuple(target)} needs {math.prod(target)} values, "
                         f"but gets {total} {shape}")
    return tuple(target)


def _axis(shape: Shape, args: dict, name: str) -> Shape:
    axis = args.get("axis", -1)
    if not (1 <= axis <= len(shape) or -len(shape) <= axis <= -1):
        raise ValueError(f"{name} axis={axis} does not exist in input of shape {shape}")
    return shape


def _embedding(shape: Shape, values: Values, args: dict) -> Shape:
    if values is not None:
        low, high = (math.trunc(v) for v in values)  # Embedding casts inputs to int
        if low < 0 or high >= args["input_dim"]:
            raise ValueError(f"Embedding(input_dim={args['input_dim']}) is fed values "
                             f"{values[0]:g}..{values[1]:g}, which index rows {low}..{high}; "
                             f"input_dim must be at least {high + 1}")
    return (*shape, args["output_dim"])


def _rescaled(values: Values, args: dict) -> Values:
    if values is None:
        return None
    ends = sorted(v * args["scale"] + args.get("offset", 0.0) for v in values)
    return ends[0], ends[1]


Step = Callable[[Shape, Values, dict], tuple[Shape, Values]]
SAME: Step = lambda shape, values, args: (shape, None)  # noqa: E731
STEPS: dict[str, Step] = {
    "Activation": SAME, "Dropout": SAME, "LeakyReLU": SAME, "ReLU": SAME,
    "SpatialDropout2D": lambda shape, values, args: (_image(shape, "SpatialDropout2D"), None),
    "Softmax": lambda shape, values, args: (_axis(shape, args, "Softmax"), None),
    "BatchNormalization": lambda s, v, args: (_axis(s, args, "BatchNormalization"), None),
    "LayerNormalization": lambda s, v, args: (_axis(s, args, "LayerNormalization"), None),
    "Rescaling": lambda shape, values, args: (shape, _rescaled(values, args)),
    "Flatten": lambda shape, values, args: ((math.prod(shape),), values),
    "Reshape": lambda shape, values, args: (_reshape(shape, args), values),
    "MaxPool2D": lambda shape, values, args: (_pool(shape, args), values),
    "MaxPooling2D": lambda shape, values, args: (_pool(shape, args), values),
    "AveragePooling2D": lambda shape, values, args: (_pool(shape, args), values),
    "GlobalAveragePooling2D": lambda shape, values, args: (_global_pool(shape, args), values),
    "GlobalMaxPooling2D": lambda shape, values, args: (_global_pool(shape, args), values),
    "Conv2D": lambda shape, values, args: (_conv2d(shape, args), None),
    "Dense": lambda shape, values, args: ((*shape[:-1], args["units"]), None),
    "Embedding": lambda shape, values, args: (_embedding(shape, values, args), None),
}


def output_shape(layers: Sequence[tuple[str, dict]]) -> Shape:
    """The shape (without the batch axis) of what `layers` make of one MNIST image.

    Raises ShapeError naming the first layer that cannot take its input, or the
    last layer if the model does not end in exactly 10 outputs.
    """
    shape, values = INPUT_SHAPE, (0.0, 1.0)  # prepared pixels lie in [0, 1]
    for index, (name, args) in enumerate(layers):
        try:
            shape, values = STEPS[name](shape, values, args)
        except ValueError as error:
            raise ShapeError(index, str(error)) from None
    if shape != (CLASSES,):
        raise ShapeError(len(layers) - 1, f"the model must end in {CLASSES} outputs, one per "
                                          f"digit, but its last layer gives shape {shape}")
    return shape
