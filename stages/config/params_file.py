"""The params file, `params.yaml`: its schema, loading it, and what each stage is handed.

In the pipeline only the `validate` stage calls `load()`: before any other
stage runs, it hands each stage the checked values it needs (`for_stages`).
Sweeps call it too, on every combination or end of a range they would run,
before anything is scheduled. A mistake (a typo'd key, a wrong type, a value
out of range, a layer off the allow-list, layers that do not fit together)
stops with one line naming the key path, with a "did you mean" where a near
name exists. The same pydantic models give the JSON Schema editors use
(`params.schema.json`, written by `python -m stages.regenerate`).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal, Union

import yaml
from pydantic import (
    AfterValidator,
    BeforeValidator,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    create_model,
    model_validator,
)
from pydantic_core import PydanticCustomError

from stages.common.cli import UserError, did_you_mean
from stages.config import layers as layer_table
from stages.config.messages import describe
from stages.config.optimizers import ALIASES, LOSSES, OPTIMIZERS
from stages.config.values import PositiveFloat, PositiveInt, Seed, Strict

MODEL_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"


# One Keras object: `Name`, or `{Name: {argument: value}}` -------------------------

def _mentions_module(node: Any) -> bool:
    """True if a `module:` key (Keras's import-path hook) appears at any depth."""
    if isinstance(node, dict):
        return "module" in node or any(_mentions_module(v) for v in node.values())
    if isinstance(node, list):
        return any(_mentions_module(v) for v in node)
    return False


def _one_key_mapping(raw: Any) -> Any:
    """`Name` or `{Name: null}` -> `{Name: {}}`; Keras's spellings -> class names."""
    if _mentions_module(raw):
        raise PydanticCustomError("module_entry", "has a 'module:' entry; only Keras built-in "
                                                  "classes are allowed")
    if isinstance(raw, str):
        return {ALIASES.get(raw, raw): {}}
    if isinstance(raw, dict) and len(raw) == 1:
        [(name, args)] = raw.items()
        return {name: {} if args is None else args}
    return raw


def _class_name(raw: Any) -> str | None:
    return next(iter(raw)) if isinstance(raw, dict) and len(raw) == 1 else None


def _as_pair(wrapper: Strict) -> tuple[str, dict]:
    """The validated entry as (class name, the arguments the user set)."""
    [name] = type(wrapper).model_fields
    return name, getattr(wrapper, name).model_dump(exclude_unset=True)


def keras_object(classes: dict[str, type[Strict]], kind: str) -> Any:
    """The type of one entry naming one of `classes`, validated into (name, args)."""
    members = [Annotated[create_model(f"{name}{kind.title()}", __base__=Strict,
                                      **{name: (args, ...)}), Tag(name)]
               for name, args in classes.items()]
    spellings = sorted({*classes, *(a for a, c in ALIASES.items() if c in classes)})
    return Annotated[
        Union[tuple(members)],  # noqa: UP007 (a runtime-built union)
        Discriminator(_class_name),
        BeforeValidator(_one_key_mapping, json_schema_input_type=Union[  # noqa: UP007
            Literal[tuple(spellings)], Union[tuple(members)]]),  # noqa: UP007
        AfterValidator(_as_pair),
    ]


Layer = keras_object({name: row.arguments for name, row in layer_table.LAYERS.items()}, "layer")
Optimizer = keras_object(OPTIMIZERS, "optimizer")
Loss = keras_object(LOSSES, "loss")


# The params file --------------------------------------------------------------

def _sha256(value: str) -> str:
    if not re.fullmatch(r"[0-9a-f]{64}", value):
        raise PydanticCustomError("sha256", "must be a sha256 hex digest (64 lower-case hex "
                                            "characters), got {value}", {"value": repr(value)})
    return value


Sha256 = Annotated[str, AfterValidator(_sha256),
                   Field(json_schema_extra={"pattern": "^[0-9a-f]{64}$"})]


class IdxChecksums(Strict):
    train_images: Sha256
    train_labels: Sha256
    test_images: Sha256
    test_labels: Sha256


class Data(Strict):
    """Where MNIST comes from (see the comments in params.yaml)."""

    url: Annotated[str, Field(min_length=1)]
    sha256: Sha256
    format: Literal["npz", "idx"]
    idx_sha256: IdxChecksums
    timeout_seconds: PositiveFloat
    retries: Annotated[int, Field(ge=0, le=10)]


class Prepare(Strict):
    validation_fraction: Annotated[float, Field(gt=0, lt=1)]
    seed: Seed


class Train(Strict):
    steps_per_execution: PositiveInt


class TensorFlow(Strict):
    """TensorFlow's threads: per op, and ops at once. Its CPU results are bit-identical
    only for the same counts, so they are params, whatever runs the stage."""

    intra_op_threads: Annotated[int, Field(ge=1, le=64)]
    inter_op_threads: Annotated[int, Field(ge=1, le=64)]


class Evaluate(Strict):
    batch_size: PositiveInt


class ModelSpec(Strict):
    """One `models.<name>` block: a Keras Sequential model and how to train it."""

    tutorial: str = ""
    tutorial_accuracy: str = ""
    layers: Annotated[list[Layer], Field(min_length=1)]
    optimizer: Optimizer
    loss: Loss
    batch_size: PositiveInt
    epochs: PositiveInt
    loop: Literal["fit", "gradient_tape"]
    shuffle_buffer: PositiveInt = 60000

    @model_validator(mode="after")
    def _layers_fit_together(self) -> ModelSpec:
        try:
            layer_table.output_shape(self.layers)
        except layer_table.ShapeError as error:
            raise PydanticCustomError("layers", "layers[{index}]: {problem}",
                                      {"index": error.index, "problem": str(error)}) from None
        return self


class Params(Strict):
    """The whole params file."""

    seed: Seed
    notes: str = ""
    data: Data
    prepare: Prepare
    train: Train
    evaluate: Evaluate
    tensorflow: TensorFlow
    models: Annotated[
        dict[Annotated[str, Field(pattern=MODEL_NAME)], ModelSpec],
        Field(min_length=1, json_schema_extra={"propertyNames": {"pattern": MODEL_NAME}}),
    ]

    def model(self, name: str) -> ModelSpec:
        """The spec of model `name`, or a clear error naming the known ones."""
        if name not in self.models:
            raise UserError(f"unknown model {name!r}{did_you_mean(name, self.models)}; "
                            f"params.yaml defines: {', '.join(self.models)}")
        return self.models[name]


def validate(raw: Any) -> Params:
    """Validate a parsed params mapping; raise UserError on the first problem."""
    try:
        return Params.model_validate(raw)
    except ValidationError as error:
        raise UserError(f"params.yaml: {describe(error.errors()[0])}") from None


def load(path: str | Path = "params.yaml") -> Params:
    """Parse and validate the params file."""
    try:
        raw = yaml.safe_load(Path(path).read_text())
    except FileNotFoundError:
        raise UserError(f"{path} not found: run from the project root") from None
    except yaml.YAMLError as error:
        raise UserError(f"{path} is not valid YAML: {error}") from None
    return validate(raw)


def for_stages(params: Params) -> dict[tuple[str, str | None], dict]:
    """What each stage reads, keyed (stage, model): exactly the values it uses, so a
    change reruns exactly the stages it concerns (`tutorial` text retrains nothing)."""
    handed: dict[tuple[str, str | None], dict] = {
        ("download", None): params.data.model_dump(),
        ("prepare", None): params.prepare.model_dump(),
        ("report", None): {"models": [  # a list: the order of params.yaml is the charts'
            {"name": name, "tutorial": spec.tutorial, "tutorial_accuracy": spec.tutorial_accuracy}
            for name, spec in params.models.items()]},
    }
    threads = [params.tensorflow.intra_op_threads, params.tensorflow.inter_op_threads]
    for name, spec in params.models.items():
        recipe = spec.model_dump(mode="json", exclude={"tutorial", "tutorial_accuracy"},
                                 warnings=False)  # layers are (name, args) pairs by now
        handed["train", name] = {"name": name, "seed": params.seed, "threads": threads,
                                 "steps_per_execution": params.train.steps_per_execution,
                                 **recipe}
        layers = sorted({layer for layer, _ in spec.layers})  # what a model file may hold
        handed["evaluate", name] = {"batch_size": params.evaluate.batch_size,
                                    "epochs": spec.epochs, "layers": layers,
                                    "threads": threads}
        handed["export", name] = {"layers": layers, "threads": threads}
    return handed


def json_schema() -> dict:
    """The JSON Schema of params.yaml, for editors (validation mode: what may be written)."""
    schema = Params.model_json_schema(mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "mnist-zoo params.yaml"
    return schema
