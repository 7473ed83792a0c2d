"""The kinds of value params.yaml may hold, typed as Keras expects them.

Booleans are booleans, counts are positive integers, rates lie in their
ranges, and activations, initializers, regularizers and constraints are Keras
names from a fixed list. Anything else (a custom object, a dotted import path,
a nested config) is refused before Keras sees it, because deserializing it
could run arbitrary code, and because Keras itself takes `from_logits: "yes"`
as true. No TensorFlow here.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainValidator, WithJsonSchema, model_validator
from pydantic_core import PydanticCustomError

from stages.common.cli import did_you_mean


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
