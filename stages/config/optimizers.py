"""The Keras optimizers and losses a model block may name, with their arguments.

Each class lists the constructor arguments a params file may set, with
Keras's own defaults (`tests/unit/test_keras_tables.py` checks them against
Keras's real signatures). No TensorFlow here.
"""

from __future__ import annotations

from pydantic import model_validator
from pydantic_core import PydanticCustomError

from stages.config.values import Fraction, NonNegativeFloat, PositiveFloat, Rate, Strict


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
