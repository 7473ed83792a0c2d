"""The Keras classes a model block may name, and the arguments each accepts.

Only Keras built-in layers, optimizers and losses, each with the constructor
arguments a params file may set, typed the way Keras expects them: booleans
are booleans, counts are positive integers, rates lie in their ranges, and
activations, initializers, regularizers and constraints are Keras names from a
fixed list. Anything else (Lambda, a custom class, a dotted import path, a
nested config) is refused before Keras sees it, because deserializing it could
run arbitrary code, and because Keras itself takes `from_logits: "yes"` as
true. No TensorFlow here: `tests/test_keras_args.py` checks these tables
against Keras's real signatures.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainValidator, WithJsonSchema, model_validator
from pydantic_core import PydanticCustomError


def did_you_mean(word: object, options: Iterable[object]) -> str:
    """' (did you mean 'x'?)' for the option nearest to `word`, or ''."""
    close = difflib.get_close_matches(str(word), [str(o) for o in options], n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


class Strict(BaseModel):
    """A mapping with exactly the declared keys, each of exactly its type."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False, frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _known_keys(cls, data: Any) -> Any:
        """Refuse a typo'd key with the nearest real one, before anything else."""
        if isinstance(data, dict):
            for key in data:
                if key not in cls.model_fields:
                    raise PydanticCustomError("unknown_key", "unknown key {key}{hint}", {
                        "key": key, "hint": did_you_mean(key, cls.model_fields)})
        return data


def _int_pair(value: Any) -> int | tuple[int, int]:
    """A size or stride: one positive integer, or [height, width]."""
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    if (isinstance(value, list) and len(value) == 2
            and all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value)):
        return tuple(value)
    raise PydanticCustomError("int_pair", "must be a positive integer or a list of two, "
                                          "got {value}", {"value": repr(value)})


PositiveInt = Annotated[int, Field(gt=0)]
PositiveFloat = Annotated[float, Field(gt=0)]
NonNegativeFloat = Annotated[float, Field(ge=0)]
Rate = Annotated[float, Field(ge=0, lt=1)]          # a share that must leave something
Fraction = Annotated[float, Field(ge=0, le=1)]
Seed = Annotated[int, Field(ge=0, le=2**32 - 1)]   # what numpy and TensorFlow both accept
IntPair = Annotated[int | tuple[int, int], PlainValidator(_int_pair), WithJsonSchema({
    "anyOf": [{"type": "integer", "exclusiveMinimum": 0},
              {"type": "array", "items": {"type": "integer", "exclusiveMinimum": 0},
               "minItems": 2, "maxItems": 2}]})]
Padding = Literal["valid", "same"]
Activation = Literal[
    "celu", "elu", "exponential", "gelu", "hard_sigmoid", "hard_silu", "hard_swish", "linear",
    "leaky_relu", "log_softmax", "mish", "relu", "relu6", "selu", "sigmoid", "silu",
    "softmax", "softplus", "softsign", "swish", "tanh",
]
Initializer = Literal[
    "glorot_normal", "glorot_uniform", "he_normal", "he_uniform", "lecun_normal",
    "lecun_uniform", "ones", "orthogonal", "random_normal", "random_uniform",
    "truncated_normal", "uniform", "variance_scaling", "zeros",
]
Regularizer = Literal["l1", "l2"]
Constraint = Literal["max_norm", "min_max_norm", "non_neg", "unit_norm"]


# Layers -----------------------------------------------------------------------

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


LAYERS: dict[str, type[Strict]] = {
    "Activation": ActivationArgs, "AveragePooling2D": AveragePoolArgs,
    "BatchNormalization": BatchNormalizationArgs, "Conv2D": Conv2DArgs, "Dense": DenseArgs,
    "Dropout": DropoutArgs, "Embedding": EmbeddingArgs, "Flatten": NoArgs,
    "GlobalAveragePooling2D": GlobalPoolArgs, "GlobalMaxPooling2D": GlobalPoolArgs,
    "LayerNormalization": NormalizationArgs, "LeakyReLU": LeakyReLUArgs,
    "MaxPool2D": PoolArgs, "MaxPooling2D": PoolArgs, "ReLU": ReLUArgs,
    "Rescaling": RescalingArgs, "Reshape": ReshapeArgs, "Softmax": SoftmaxArgs,
    "SpatialDropout2D": DropoutArgs,
}


# Optimizers -------------------------------------------------------------------

class OptimizerArgs(Strict):
    learning_rate: PositiveFloat = 1e-3
    weight_decay: NonNegativeFloat | None = None
    clipnorm: PositiveFloat | None = None
    clipvalue: PositiveFloat | None = None
    global_clipnorm: PositiveFloat | None = None
    use_ema: bool = False
    ema_momentum: Fraction = 0.99

    @model_validator(mode="after")
    def _one_clipping_at_most(self) -> OptimizerArgs:
        clipping = [name for name in ("clipnorm", "clipvalue", "global_clipnorm")
                    if getattr(self, name) is not None]
        if len(clipping) > 1:
            raise PydanticCustomError(
                "clipping", "set only one of clipnorm, clipvalue and global_clipnorm, got {names}",
                {"names": ", ".join(clipping)})
        return self


class SGDArgs(OptimizerArgs):
    learning_rate: PositiveFloat = 0.01
    momentum: Fraction = 0.0
    nesterov: bool = False


class AdamArgs(OptimizerArgs):
    beta_1: Rate = 0.9
    beta_2: Rate = 0.999
    epsilon: PositiveFloat = 1e-7
    amsgrad: bool = False


class AdamWArgs(AdamArgs):
    weight_decay: NonNegativeFloat | None = 0.004


class AdamaxArgs(OptimizerArgs):
    beta_1: Rate = 0.9
    beta_2: Rate = 0.999
    epsilon: PositiveFloat = 1e-7


class RMSpropArgs(OptimizerArgs):
    rho: Rate = 0.9
    momentum: Fraction = 0.0
    epsilon: PositiveFloat = 1e-7
    centered: bool = False


class AdadeltaArgs(OptimizerArgs):
    rho: Rate = 0.95
    epsilon: PositiveFloat = 1e-7


class AdagradArgs(OptimizerArgs):
    initial_accumulator_value: NonNegativeFloat = 0.1
    epsilon: PositiveFloat = 1e-7


OPTIMIZERS: dict[str, type[Strict]] = {
    "Adadelta": AdadeltaArgs, "Adagrad": AdagradArgs, "Adam": AdamArgs, "AdamW": AdamWArgs,
    "Adamax": AdamaxArgs, "Nadam": AdamaxArgs, "RMSprop": RMSpropArgs, "SGD": SGDArgs,
}


# Losses -----------------------------------------------------------------------

class SparseCategoricalCrossentropyArgs(Strict):
    from_logits: bool = False


class CategoricalCrossentropyArgs(SparseCategoricalCrossentropyArgs):
    label_smoothing: Fraction = 0.0


LOSSES: dict[str, type[Strict]] = {
    "CategoricalCrossentropy": CategoricalCrossentropyArgs,
    "SparseCategoricalCrossentropy": SparseCategoricalCrossentropyArgs,
}

# The string spellings Keras itself accepts (`optimizer="adam"`, as the tutorials
# write), mapped to the class names the rest of the project uses.
ALIASES = {
    **{name.lower(): name for name in OPTIMIZERS},
    "categorical_crossentropy": "CategoricalCrossentropy",
    "sparse_categorical_crossentropy": "SparseCategoricalCrossentropy",
}
