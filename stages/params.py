"""The schema of `params.yaml`: the one place that validates it.

Every stage calls `load()`, and the `validate` stage runs it before any other
stage can touch an output. A mistake (a typo'd key, a wrong type, a value out
of range, a layer off the allow-list, layers that do not fit together) stops
with one line naming the key path, with a "did you mean" where a near name
exists, before TensorFlow is imported. The same pydantic models give the JSON
Schema editors use (`python -m stages.params --schema`, shipped as
`params.schema.json`).

    python -m stages.params --schema > params.schema.json
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Annotated, Any, Literal, Union

import yaml
from pydantic import (
    AfterValidator,
    BeforeValidator,
    Discriminator,
    Field,
    PrivateAttr,
    Tag,
    ValidationError,
    create_model,
    model_validator,
)
from pydantic_core import PydanticCustomError

from stages import shapes
from stages.cli import UserError
from stages.keras_args import (
    ALIASES,
    LAYERS,
    LOSSES,
    OPTIMIZERS,
    PositiveFloat,
    PositiveInt,
    Seed,
    Strict,
    did_you_mean,
)

PARAMS_FILE = Path("params.yaml")
SCHEMA_FILE = Path("params.schema.json")
ALLOWED_LAYERS = frozenset(LAYERS)
MODEL_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"
KINDS = {"layers": "layer", "optimizer": "optimizer", "loss": "loss"}


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


Layer = keras_object(LAYERS, "layer")
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
    _name: str = PrivateAttr("")

    @model_validator(mode="after")
    def _layers_fit_together(self) -> ModelSpec:
        try:
            shapes.output_shape(self.layers)
        except shapes.ShapeError as error:
            raise PydanticCustomError("layers", "layers[{index}]: {problem}",
                                      {"index": error.index, "problem": str(error)}) from None
        return self

    @property
    def name(self) -> str:
        return self._name

    @property
    def one_hot(self) -> bool:
        """Categorical (not sparse) cross-entropy wants one-hot labels."""
        return self.loss[0] == "CategoricalCrossentropy"


class Params(Strict):
    """The whole params file."""

    seed: Seed
    notes: str = ""
    data: Data
    prepare: Prepare
    train: Train
    evaluate: Evaluate
    models: Annotated[
        dict[Annotated[str, Field(pattern=MODEL_NAME)], ModelSpec],
        Field(min_length=1, json_schema_extra={"propertyNames": {"pattern": MODEL_NAME}}),
    ]

    @model_validator(mode="after")
    def _name_models(self) -> Params:
        for name, spec in self.models.items():
            spec._name = name
        return self

    def model(self, name: str) -> ModelSpec:
        """The spec of model `name`, or a clear error naming the known ones."""
        if name not in self.models:
            raise UserError(f"unknown model {name!r}{did_you_mean(name, self.models)}; "
                            f"params.yaml defines: {', '.join(self.models)}")
        return self.models[name]


# One line per mistake ---------------------------------------------------------

def _path(loc: tuple) -> str:
    """('models', 'qs', 'layers', 1, 'Dense', 'Dense', 'units') -> models.qs.layers[1].Dense.units
    (a discriminated union repeats the class name as its tag)."""
    text = ""
    for i, part in enumerate(loc):
        if part == "[key]" or (i + 1 < len(loc) and loc[i + 1] == part):
            continue
        text += f"[{part}]" if isinstance(part, int) else f".{part}" if text else str(part)
    return text


def _kind(loc: tuple) -> str:
    return next((KINDS[p] for p in reversed(loc) if p in KINDS), "class")


def _yaml_hint(value: Any) -> str:
    try:
        float(value)
    except (TypeError, ValueError):
        return ""
    return " (YAML reads this as text: write numbers like 1.0e-3, with a dot)"


SIMPLE = {
    "missing": "missing key {path}",
    "int_type": "{where}must be an integer, got {value!r}",
    "float_type": "{where}must be a number, got {value!r}{hint}",
    "bool_type": "{where}must be true or false, got {value!r}",
    "string_type": "{where}must be text, got {value!r}",
    "finite_number": "{where}must be a finite number, got {value!r}",
    "dict_type": "{where}must be a mapping, got {value!r}",
    "model_type": "{where}must be a mapping, got {value!r}",
    "list_type": "{where}must be a list, got {value!r}",
    "too_short": "{where}must not be empty",
    "greater_than_equal": "{where}must be at least {ctx[ge]}, got {value!r}",
    "less_than": "{where}must be less than {ctx[lt]}, got {value!r}",
    "less_than_equal": "{where}must be at most {ctx[le]}, got {value!r}",
    "string_pattern_mismatch": "model name {value!r} must be letters, digits and _ "
                               "(it names DVC stages and files)",
}


def describe(error: dict) -> str:
    """One pydantic error as one line that names the params key."""
    kind, loc, ctx, value = error["type"], error["loc"], error.get("ctx", {}), error.get("input")
    path = _path(loc)
    where = f"{path} " if path else ""
    if kind in SIMPLE:
        return SIMPLE[kind].format(path=path, where=where, value=value, ctx=ctx, loc=loc,
                                   hint=_yaml_hint(value) if kind == "float_type" else "")
    if kind == "greater_than":
        return f"{where}must be greater than {ctx['gt']}, got {value!r}"
    if kind == "unknown_key":
        return f"unknown key {path + '.' if path else ''}{ctx['key']}{ctx['hint']}"
    if kind == "literal_error":
        options = re.findall(r"'([^']*)'", ctx.get("expected", ""))
        return (f"{where}must be one of {ctx.get('expected')}, got {value!r}"
                f"{did_you_mean(value, options)}")
    if kind == "union_tag_invalid":
        return _not_allowed(path, ctx["tag"], _kind(loc))
    if kind == "union_tag_not_found":
        return (f"{where}must be a {_kind(loc)} name or a one-key mapping "
                f"{{Name: {{argument: value}}}}, got {value!r}")
    message = error["msg"]  # our own checks (PydanticCustomError) word theirs fully
    if message.startswith("must"):
        return f"{where}{message}"
    return f"{path}.{message}" if message.startswith("layers[") else f"{path}: {message}"


def _not_allowed(path: str, name: str, kind: str) -> str:
    allowed = {"layer": LAYERS, "optimizer": OPTIMIZERS, "loss": LOSSES}.get(kind, {})
    if re.fullmatch(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)+", name):
        hint = ", a dotted import path; only Keras built-in classes are allowed"
    elif name == "Lambda":
        hint = " (Lambda layers run arbitrary code)"
    else:
        hint = did_you_mean(name, allowed)
    return (f"{path}: {name!r} is not an allowed {kind}{hint}; "
            f"allowed: {', '.join(sorted(allowed))}")


def validate(raw: Any) -> Params:
    """Validate a parsed params mapping; raise UserError on the first problem."""
    try:
        return Params.model_validate(raw)
    except ValidationError as error:
        raise UserError(f"params.yaml: {describe(error.errors()[0])}") from None


def load(path: str | Path = PARAMS_FILE) -> Params:
    """Parse and validate the params file."""
    try:
        raw = yaml.safe_load(Path(path).read_text())
    except FileNotFoundError:
        raise UserError(f"{path} not found: run from the project root") from None
    except yaml.YAMLError as error:
        raise UserError(f"{path} is not valid YAML: {error}") from None
    return validate(raw)


def json_schema() -> dict:
    """The JSON Schema of params.yaml, for editors (validation mode: what may be written)."""
    schema = Params.model_json_schema(mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "mnist-zoo params.yaml"
    return schema


if __name__ == "__main__":
    if sys.argv[1:] != ["--schema"]:
        sys.exit("usage: python -m stages.params --schema > params.schema.json")
    print(json.dumps(json_schema(), indent=2, sort_keys=True))
