"""The Keras tables in stages/config/ agree with Keras itself: every argument
exists with the default Keras gives it, every name is one Keras knows, and every
value the schema lets through is one Keras accepts."""

from __future__ import annotations

import inspect

import pytest

from stages.config import layers, optimizers, values

REQUIRED = {  # the smallest valid arguments of the classes that need some
    "Activation": {"activation": "relu"}, "AveragePooling2D": {"pool_size": 2},
    "Conv2D": {"filters": 4, "kernel_size": 3}, "Dense": {"units": 10},
    "Dropout": {"rate": 0.5}, "SpatialDropout2D": {"rate": 0.5},
    "Embedding": {"input_dim": 256, "output_dim": 3}, "Rescaling": {"scale": 2.0},
    "Reshape": {"target_shape": [784]},
}
TABLES = [("layers", name, row.arguments) for name, row in layers.LAYERS.items()] + \
         [("optimizers", name, args) for name, args in optimizers.OPTIMIZERS.items()] + \
         [("losses", name, args) for name, args in optimizers.LOSSES.items()]


def keras_class(namespace: str, name: str):
    from stages.modeling.backend import keras

    return getattr(getattr(keras, namespace), name)


def normal(value):
    """Keras writes sizes as pairs where the table may write one integer."""
    return list(value) if isinstance(value, tuple) else value


@pytest.mark.parametrize(("namespace", "name", "args"), TABLES)
def test_every_argument_exists_in_keras_with_its_default(namespace, name, args):
    signature = inspect.signature(keras_class(namespace, name).__init__).parameters
    for field, info in args.model_fields.items():
        assert field in signature, f"{name} has no argument {field}"
        keras_default = signature[field].default
        if info.is_required():
            assert keras_default is inspect.Parameter.empty, f"{name}.{field} has a default"
            continue
        ours = info.default
        if isinstance(ours, int) and isinstance(keras_default, tuple):
            ours = (ours, ours)
        assert normal(ours) == normal(keras_default), f"{name}.{field}"


@pytest.mark.parametrize(("kind", "names", "namespace"), [
    ("activation", values.Activation, "activations"),
    ("initializer", values.Initializer, "initializers"),
    ("regularizer", values.Regularizer, "regularizers"),
    ("constraint", values.Constraint, "constraints"),
])
def test_every_allowed_name_is_one_keras_knows(kind, names, namespace):
    from stages.modeling.backend import keras

    getter = getattr(keras, namespace).get
    for name in names.__args__:
        assert getter(name) is not None, f"{kind} {name}"


def example(schema: dict, defs: dict):
    """A valid, non-default value for one property of an arguments schema."""
    if "$ref" in schema:
        return example(defs[schema["$ref"].rsplit("/", 1)[-1]], defs)
    options = [s for s in schema.get("anyOf", []) if s.get("type") != "null"]
    if options:
        return example(options[0], defs)
    if "enum" in schema:
        return schema["enum"][-1]
    kind = schema.get("type")
    if kind == "boolean":
        return not schema.get("default", False)
    if kind == "integer":
        return max(schema.get("minimum", 1), schema.get("exclusiveMinimum", 0) + 1)
    if kind == "number":
        low = schema.get("minimum", schema.get("exclusiveMinimum", 0.0))
        high = schema.get("maximum", schema.get("exclusiveMaximum", low + 1.0))
        return (low + high) / 2
    if kind == "array":
        return [2, 2]
    raise AssertionError(f"no example for {schema}")


@pytest.mark.parametrize(("namespace", "name", "args"), TABLES)
def test_every_value_the_schema_allows_is_one_keras_accepts(namespace, name, args):
    schema = args.model_json_schema()
    required = REQUIRED.get(name, {})
    for field, prop in schema["properties"].items():
        if field in required or field == "target_shape":
            continue
        value = example(prop, schema.get("$defs", {}))
        arguments = {**required, field: value}
        args.model_validate(arguments)  # the schema's own validator accepts it
        keras_class(namespace, name)(**arguments)  # and so does Keras


def test_code_that_is_not_a_stage_uses_the_shipped_thread_counts():
    """Tests and the Keras runtime run TensorFlow with the counts params.yaml ships, so a
    stage started in the same process (the `trained` fixture) finds them set."""
    import yaml

    from harness import ROOT
    from stages.modeling import backend

    shipped = yaml.safe_load((ROOT / "params.yaml").read_text())["tensorflow"]
    assert [shipped["intra_op_threads"],
                                        shipped["inter_op_threads"]] == backend.UNSTAGED_THREADS



def test_keras_loads_without_pyplot_and_pandas_which_stay_importable():
    """Keras imports both whenever they are installed, for nothing a stage does: a stage's
    start is 0.5-1 s shorter without them (docs/benchmarks.md). Afterwards both import."""
    import subprocess
    import sys

    from harness import ROOT

    probe = ("import sys; from stages.modeling import backend; "
             "print('matplotlib.pyplot' in sys.modules, 'pandas' in sys.modules); "
             "import matplotlib.pyplot, pandas; backend.keras.layers.Dense(1)")
    shown = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True,
                           text=True, check=True)
    assert shown.stdout == "False False\n"
