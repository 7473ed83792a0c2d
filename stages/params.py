"""Read and validate `params.yaml` before anything heavy is imported.

Every stage calls `load()`. A mistake in the file (a typo'd key, a wrong type,
a layer class off the allow-list) stops the stage with one message naming the
key path, with a "did you mean" where a near name exists, before TensorFlow
is imported or any training starts.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from stages.cli import UserError

PARAMS_FILE = Path("params.yaml")

# Keras built-in layers a model block may name. Anything else (Lambda, custom
# classes, dotted import paths) could run arbitrary code and is refused.
ALLOWED_LAYERS = frozenset({
    "Activation", "AveragePooling2D", "BatchNormalization", "Conv2D", "Dense",
    "Dropout", "Embedding", "Flatten", "GlobalAveragePooling2D",
    "GlobalMaxPooling2D", "LayerNormalization", "LeakyReLU", "MaxPool2D",
    "MaxPooling2D", "ReLU", "Rescaling", "Reshape", "Softmax", "SpatialDropout2D",
})
ALLOWED_OPTIMIZERS = frozenset({
    "Adadelta", "Adagrad", "Adam", "AdamW", "Adamax", "Nadam", "RMSprop", "SGD",
})
ALLOWED_LOSSES = frozenset({"CategoricalCrossentropy", "SparseCategoricalCrossentropy"})
LOOPS = ("fit", "gradient_tape")
DOTTED_PATH = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)+$")
SHA256 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class ModelSpec:
    """One validated `models.<name>` block."""

    name: str
    tutorial: str
    tutorial_accuracy: str
    layers: tuple[tuple[str, dict], ...]
    optimizer: tuple[str, dict]
    loss: tuple[str, dict]
    batch_size: int
    epochs: int
    loop: str
    shuffle_buffer: int

    @property
    def one_hot(self) -> bool:
        """Categorical (not sparse) cross-entropy wants one-hot labels."""
        return self.loss[0] == "CategoricalCrossentropy"


@dataclass(frozen=True)
class Params:
    """The whole validated params file."""

    seed: int
    data: dict
    prepare: dict
    train: dict
    evaluate: dict
    models: dict[str, ModelSpec]

    def model(self, name: str) -> ModelSpec:
        """The spec of model `name`, or a clear error naming the known ones."""
        if name not in self.models:
            raise UserError(f"unknown model {name!r}{_did_you_mean(name, self.models)}; "
                            f"params.yaml defines: {', '.join(self.models)}")
        return self.models[name]


def _did_you_mean(word: str, options) -> str:
    close = difflib.get_close_matches(str(word), [str(o) for o in options], n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _check_keys(block: Any, path: str, required: set[str], optional: set[str] = frozenset()):
    if not isinstance(block, dict):
        raise UserError(f"params.yaml: {path} must be a mapping, got {type(block).__name__}")
    for key in block:
        if key not in required | optional:
            raise UserError(f"params.yaml: unknown key {path}.{key}"
                            f"{_did_you_mean(key, required | optional)}")
    for key in sorted(required - set(block)):
        raise UserError(f"params.yaml: missing key {path}.{key}")


def _typed(value: Any, kind: type, path: str) -> Any:
    ok = isinstance(value, kind) and not (kind is not bool and isinstance(value, bool))
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        ok, value = True, float(value)
    if not ok:
        raise UserError(f"params.yaml: {path} must be {kind.__name__}, got {value!r}")
    return value


def _positive_int(value: Any, path: str) -> int:
    if _typed(value, int, path) <= 0:
        raise UserError(f"params.yaml: {path} must be a positive integer, got {value}")
    return value


def _checksum(value: Any, path: str) -> str:
    if not SHA256.match(str(value)):
        raise UserError(f"params.yaml: {path} must be a sha256 hex digest "
                        f"(64 lower-case hex characters), got {value!r}")
    return value


def _check_data(data: Any) -> dict:
    _check_keys(data, "data", {"url", "sha256", "format", "idx_sha256",
                               "timeout_seconds", "retries"})
    _typed(data["url"], str, "data.url")
    if data["format"] not in ("npz", "idx"):
        raise UserError(f"params.yaml: data.format must be 'npz' or 'idx', "
                        f"got {data['format']!r}")
    _checksum(data["sha256"], "data.sha256")
    _check_keys(data["idx_sha256"], "data.idx_sha256",
                {"train_images", "train_labels", "test_images", "test_labels"})
    for key, value in data["idx_sha256"].items():
        _checksum(value, f"data.idx_sha256.{key}")
    if _typed(data["timeout_seconds"], float, "data.timeout_seconds") <= 0:
        raise UserError("params.yaml: data.timeout_seconds must be positive")
    if _typed(data["retries"], int, "data.retries") < 0:
        raise UserError("params.yaml: data.retries must be 0 or more")
    return data


def _check_prepare(prepare: Any) -> dict:
    _check_keys(prepare, "prepare", {"validation_fraction", "seed"})
    fraction = _typed(prepare["validation_fraction"], float, "prepare.validation_fraction")
    if not 0 < fraction < 1:
        raise UserError("params.yaml: prepare.validation_fraction must be between 0 and 1 "
                        f"(exclusive), got {fraction}")
    _typed(prepare["seed"], int, "prepare.seed")
    return prepare


def _class_and_args(entry: Any, path: str, allowed: frozenset, what: str) -> tuple[str, dict]:
    """Parse `Name`, or `{Name: {arg: value}}`, against an allow-list."""
    if _mentions_module(entry):
        raise UserError(f"params.yaml: {path} has a 'module:' entry; only Keras built-in "
                        f"{what}s are allowed: {', '.join(sorted(allowed))}")
    if isinstance(entry, str):
        name, args = entry, {}
    elif isinstance(entry, dict) and len(entry) == 1:
        name, args = next(iter(entry.items()))
        args = {} if args is None else args
    else:
        raise UserError(f"params.yaml: {path} must be a {what} name or a one-key mapping "
                        f"{{Name: {{argument: value}}}}, got {entry!r}")
    if isinstance(name, str) and DOTTED_PATH.match(name):
        raise UserError(f"params.yaml: {path} names {name!r}, a dotted import path; only "
                        f"Keras built-in {what}s are allowed (for example "
                        f"{name.rsplit('.', 1)[-1]!r} if it is one)")
    name = _canonical(name, allowed)
    if name not in allowed:
        hint = " (Lambda layers run arbitrary code)" if name == "Lambda" else ""
        raise UserError(f"params.yaml: {path}: {name!r} is not an allowed {what}{hint}"
                        f"{_did_you_mean(name, allowed)}; allowed: {', '.join(sorted(allowed))}")
    if not isinstance(args, dict):
        raise UserError(f"params.yaml: {path}.{name} arguments must be a mapping, got {args!r}")
    for key, value in args.items():
        _check_plain(value, f"{path}.{name}.{key}")
    return name, dict(args)


def _mentions_module(node: Any) -> bool:
    """True if a `module:` key (Keras's import-path hook) appears at any depth."""
    if isinstance(node, dict):
        return "module" in node or any(_mentions_module(v) for v in node.values())
    if isinstance(node, list):
        return any(_mentions_module(v) for v in node)
    return False


def _check_plain(value: Any, path: str) -> None:
    """Arguments are plain values: no nested objects Keras would deserialize."""
    if isinstance(value, dict):
        raise UserError(f"params.yaml: {path} is a mapping; arguments must be plain values "
                        "(use a Keras name string such as 'he_uniform' instead of a config)")
    if isinstance(value, list):
        for index, item in enumerate(value):
            _check_plain(item, f"{path}[{index}]")
    elif isinstance(value, str) and DOTTED_PATH.match(value):
        raise UserError(f"params.yaml: {path} is {value!r}, a dotted import path; "
                        "use a Keras built-in name")


def _check_model(name: str, block: Any) -> ModelSpec:
    path = f"models.{name}"
    _check_keys(block, path, {"layers", "optimizer", "loss", "batch_size", "epochs", "loop"},
                {"tutorial", "tutorial_accuracy", "shuffle_buffer"})
    layers = block["layers"]
    if not isinstance(layers, list) or not layers:
        raise UserError(f"params.yaml: {path}.layers must be a non-empty list of layers, "
                        f"got {layers!r}")
    if block["loop"] not in LOOPS:
        raise UserError(f"params.yaml: {path}.loop must be one of {', '.join(LOOPS)}, "
                        f"got {block['loop']!r}{_did_you_mean(block['loop'], LOOPS)}")
    return ModelSpec(
        name=name,
        tutorial=_typed(block.get("tutorial", ""), str, f"{path}.tutorial"),
        tutorial_accuracy=str(block.get("tutorial_accuracy", "")),
        layers=tuple(_class_and_args(layer, f"{path}.layers[{i}]", ALLOWED_LAYERS, "layer")
                     for i, layer in enumerate(layers)),
        optimizer=_class_and_args(block["optimizer"], f"{path}.optimizer",
                                  ALLOWED_OPTIMIZERS, "optimizer"),
        loss=_class_and_args(block["loss"], f"{path}.loss", ALLOWED_LOSSES, "loss"),
        batch_size=_positive_int(block["batch_size"], f"{path}.batch_size"),
        epochs=_positive_int(block["epochs"], f"{path}.epochs"),
        loop=block["loop"],
        shuffle_buffer=_positive_int(block.get("shuffle_buffer", 60000),
                                     f"{path}.shuffle_buffer"),
    )


def _canonical(name: Any, allowed: frozenset) -> Any:
    """The allowed class name Keras's other spellings stand for: 'adam' -> 'Adam',
    'categorical_crossentropy' -> 'CategoricalCrossentropy'. Resolved here, once,
    so the rest of the code only ever sees class names."""
    def folded(text: str) -> str:
        return text.replace("_", "").lower()

    if not isinstance(name, str):
        return name
    return next((known for known in allowed if folded(known) == folded(name)), name)


def validate(raw: Any) -> Params:
    """Validate a parsed params mapping; raise UserError on the first problem."""
    _check_keys(raw, "(top level)", {"seed", "data", "prepare", "train", "evaluate", "models"},
                {"notes"})
    _check_keys(raw["train"], "train", {"steps_per_execution"})
    _positive_int(raw["train"]["steps_per_execution"], "train.steps_per_execution")
    _check_keys(raw["evaluate"], "evaluate", {"batch_size"})
    _positive_int(raw["evaluate"]["batch_size"], "evaluate.batch_size")
    models = raw["models"]
    if not isinstance(models, dict) or not models:
        raise UserError("params.yaml: models must map at least one model name to its block")
    return Params(
        seed=_typed(raw["seed"], int, "seed"),
        data=_check_data(raw["data"]),
        prepare=_check_prepare(raw["prepare"]),
        train=raw["train"],
        evaluate=raw["evaluate"],
        models={name: _check_model(name, block) for name, block in models.items()},
    )


def load(path: str | Path = PARAMS_FILE) -> Params:
    """Parse and validate the params file."""
    try:
        raw = yaml.safe_load(Path(path).read_text())
    except FileNotFoundError:
        raise UserError(f"{path} not found: run from the project root") from None
    except yaml.YAMLError as error:
        raise UserError(f"{path} is not valid YAML: {error}") from None
    return validate(raw)
