"""params.yaml validation: every refused input gets one message naming the key
path (with a "did you mean"), exit code 1, no traceback, and no training; the
shipped JSON Schema agrees with the validator."""

from __future__ import annotations

import json

import jsonschema
import pytest
import yaml

from harness import ROOT, error_lines, run_module
from harness import shipped_params_with as changed
from stages.common.cli import UserError
from stages.config import params_file

SHIPPED = yaml.safe_load((ROOT / "params.yaml").read_text())
SCHEMA = json.loads((ROOT / "params.schema.json").read_text())
QS = "models.quickstart"

REFUSED = [
    # (dotted key, new value, expected message fragment)
    (f"{QS}.epoch", 3, f"unknown key {QS}.epoch (did you mean 'epochs'?)"),
    ("prepare.validation_fracton", 0.2, "did you mean 'validation_fraction'"),
    ("notez", "x", "unknown key notez (did you mean 'notes'?)"),
    (f"{QS}.epochs", "five", f"{QS}.epochs must be an integer, got 'five'"),
    (f"{QS}.epochs", 0, f"{QS}.epochs must be greater than 0, got 0"),
    (f"{QS}.epochs", 2.5, f"{QS}.epochs must be an integer, got 2.5"),
    ("models.cnn_sgd.batch_size", -32, "models.cnn_sgd.batch_size must be greater than 0"),
    ("models.cnn_sgd.batch_size", True, "models.cnn_sgd.batch_size must be an integer, got True"),
    ("prepare.validation_fraction", 0, "prepare.validation_fraction must be greater than 0"),
    ("prepare.validation_fraction", 1.5, "prepare.validation_fraction must be less than 1"),
    (f"{QS}.optimizer", "adamm", "'adamm' is not an allowed optimizer (did you mean"),
    (f"{QS}.loss", "mse", "'mse' is not an allowed loss"),
    (f"{QS}.layers.1", {"Lambda": {"function": "x"}}, "Lambda layers run arbitrary"),
    (f"{QS}.layers.1", {"Dens": {"units": 3}}, "did you mean 'Dense'"),
    (f"{QS}.layers.1", {"my_pkg.layers.Evil": {}}, "a dotted import path"),
    (f"{QS}.layers.1", {"Dense": {"units": 3}, "module": "evil"}, "'module:' entry"),
    (f"{QS}.layers.1", {"Dense": {"units": 3, "kernel_initializer":
                                  {"class_name": "X", "module": "evil"}}}, "'module:' entry"),
    (f"{QS}.layers.1", {"Dense": {"units": 10, "activation": "evil.mod.fn"}},
     f"{QS}.layers[1].Dense.activation must be one of"),
    (f"{QS}.layers.1", {"Dense": {"units": 128, "colour": "red"}},
     f"unknown key {QS}.layers[1].Dense.colour"),
    (f"{QS}.layers.1", {"Dense": {"units": 128}, "Flatten": {}}, "a one-key mapping"),
    (f"{QS}.layers", [], f"{QS}.layers must not be empty"),
    (f"{QS}.loop", "gradienttape", "did you mean 'gradient_tape'"),
    ("models", {}, "models must not be empty"),
    ("models.bad-name", {}, "model name 'bad-name' must be letters, digits and _"),
    ("data.sha256", "abc", "data.sha256 must be a sha256 hex digest"),
    ("data.format", "zip", "data.format must be one of 'npz' or 'idx'"),
    ("data.retries", 100, "data.retries must be at most 10"),
    ("data.timeout_seconds", float("nan"), "data.timeout_seconds must be a finite number"),
    (f"{QS}.optimizer", {"Adam": {"learning_rate": {"class_name": "Sched"}}},
     f"{QS}.optimizer.Adam.learning_rate must be a number"),
    ("seed", ..., "missing key seed"),
    # Values that reached Keras or numpy unchecked before (issue 11, part 4).
    (f"{QS}.loss", {"SparseCategoricalCrossentropy": {"from_logits": "yes"}},
     f"{QS}.loss.SparseCategoricalCrossentropy.from_logits must be true or false, got 'yes'"),
    (f"{QS}.layers.3", {"Dense": {"units": 7}}, f"{QS}.layers[3]: the model must end in 10 "
                                                "outputs, one per digit, but its last layer "
                                                "gives shape (7,)"),
    ("seed", -1, "seed must be at least 0, got -1"),
    ("seed", 2**32, "seed must be at most 4294967295"),
    ("prepare.seed", -5, "prepare.seed must be at least 0"),
    (f"{QS}.layers.2", {"Dropout": {"rate": 1.0}}, f"{QS}.layers[2].Dropout.rate must be less "
                                                   "than 1"),
    (f"{QS}.layers.2", {"Dropout": {"rate": 0.2, "seed": -3}}, "Dropout.seed must be at least 0"),
    (f"{QS}.optimizer", {"Adam": {"learning_rate": -0.001}},
     "learning_rate must be greater than 0"),
    (f"{QS}.optimizer", {"Adam": {"learning_rate": "1e-3"}}, "YAML reads this as text"),
    (f"{QS}.optimizer", {"SGD": {"momentum": 2.0}}, "SGD.momentum must be at most 1"),
    (f"{QS}.optimizer", {"Adam": {"clipnorm": 1.0, "clipvalue": 1.0}},
     "set only one of clipnorm, clipvalue and global_clipnorm"),
    (f"{QS}.optimizer", {"SGD": {"nesterov": 1}}, "SGD.nesterov must be true or false"),
    (f"{QS}.loss", {"CategoricalCrossentropy": {"label_smoothing": 3.0}},
     "label_smoothing must be at most 1"),
    (f"{QS}.layers.1", {"Conv2D": {"filters": 4, "kernel_size": 3}},
     f"{QS}.layers[1]: Conv2D needs image-shaped input"),
    ("models.cnn_sgd.layers.0", {"Conv2D": {"filters": 32, "kernel_size": [3, "a"]}},
     "Conv2D.kernel_size must be a positive integer or a list of two"),
    ("models.cnn_sgd.layers.1", {"MaxPooling2D": {"pool_size": 30}},
     "models.cnn_sgd.layers[1]: the pool of 30 is larger than the input's 26 pixels"),
    ("models.cnn_sgd.layers.0", {"Conv2D": {"filters": 32, "kernel_size": 3, "groups": 5}},
     "groups=5 must divide"),
    ("models.embedding.layers.1", {"Embedding": {"input_dim": 100, "output_dim": 3}},
     "Embedding(input_dim=100) is fed values 0.5..255.5"),
    (f"{QS}.layers.0", {"Reshape": {"target_shape": [0, 3]}}, "target_shape takes positive sizes"),
    (f"{QS}.layers.0", {"Reshape": {"target_shape": [100, -1]}}, "Reshape cannot make"),
    ("models.mlp_dropout.layers.5", {"Softmax": {"axis": 3}}, "Softmax axis=3 does not exist"),
    (f"{QS}.shuffle_buffer", 0, "shuffle_buffer must be greater than 0"),
    ("train.steps_per_execution", "32", "train.steps_per_execution must be an integer"),
    ("evaluate.batch_size", None, "evaluate.batch_size must be an integer, got None"),
    (f"{QS}.tutorial_accuracy", 98.7, f"{QS}.tutorial_accuracy must be text"),
]
# A JSON Schema cannot say how layers fit together or that at most one of three
# keys is set, and JSON has no NaN: these are the validator's alone (editors still
# underline the rest).
SCHEMA_CANNOT = ("the model must end", "needs image-shaped", "is larger than", "must divide",
                 "is fed values", "takes positive sizes", "cannot make", "does not exist",
                 "set only one of", "finite number")


def test_the_shipped_params_are_valid():
    loaded = params_file.validate(SHIPPED)
    assert list(loaded.models) == ["cnn_sgd", "mlp_dropout", "mlp_rmsprop", "quickstart",
                                   "simple_dense", "simple_cnn", "embedding"]


@pytest.mark.parametrize(("path", "value", "message"), REFUSED)
def test_refused_params_name_the_key(path, value, message):
    with pytest.raises(UserError) as error:
        params_file.validate(changed(path, value))
    assert message in str(error.value)
    assert "\n" not in str(error.value)


def test_unknown_model_name_suggests_a_near_one():
    with pytest.raises(UserError, match=r"unknown model 'quickstar' \(did you mean 'quickstart'"):
        params_file.validate(SHIPPED).model("quickstar")


def test_yaml_shorthands_and_keras_spellings_are_accepted():
    """`- Flatten`, `- Flatten:` and 'sgd' / 'categorical_crossentropy' (as the tutorials
    write them) become class names here, once, so the rest only sees one spelling."""
    raw = changed("models.cnn_sgd.optimizer", "sgd")
    raw["models"]["cnn_sgd"]["layers"][2] = "Flatten"
    raw["models"]["quickstart"]["layers"][0] = {"Flatten": None}
    loaded = params_file.validate(raw)
    cnn = loaded.model("cnn_sgd")
    assert cnn.optimizer == ("SGD", {}) and cnn.layers[2] == ("Flatten", {})
    assert cnn.loss == ("CategoricalCrossentropy", {})
    assert loaded.model("quickstart").layers[0] == ("Flatten", {})


def test_only_the_arguments_written_reach_keras():
    """Keras's own defaults stay Keras's: validation passes on what the block sets."""
    spec = params_file.validate(SHIPPED).model("cnn_sgd")
    assert spec.layers[0] == ("Conv2D", {"filters": 32, "kernel_size": 3, "activation": "relu",
                                         "kernel_initializer": "he_uniform"})
    assert spec.optimizer == ("SGD", {"learning_rate": 0.01, "momentum": 0.9})


def test_validate_refuses_bad_params_cleanly_and_writes_nothing(tmp_path):
    for name in ("requirements.txt", ".python-version", "dvc.yaml"):
        (tmp_path / name).write_text((ROOT / name).read_text())
    for path, value, message in [(f"{QS}.epochs", 0, "must be greater than 0"),
                                 ("evaluate.batch_size", "big", "evaluate.batch_size"),
                                 ("data.url", 5, "data.url must be text")]:
        (tmp_path / "params.yaml").write_text(yaml.safe_dump(changed(path, value)))
        result = run_module(tmp_path, "stages.pipeline.validate")
        assert result.returncode == 1 and "Traceback" not in result.stderr
        [error] = error_lines(result)
        assert message in error
        assert not (tmp_path / "data").exists()  # nothing written
    (tmp_path / "params.yaml").write_text("models: [unclosed\n")
    result = run_module(tmp_path, "stages.pipeline.validate")
    assert result.returncode == 1 and "not valid YAML" in result.stderr


@pytest.mark.parametrize("stage", [("download",), ("prepare",), ("train", "quickstart"),
                                   ("evaluate", "quickstart"), ("report",)])
def test_a_stage_without_its_validated_params_says_what_to_run(tmp_path, stage):
    """Only `validate` reads params.yaml; the others read what it hands them."""
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(SHIPPED))
    result = run_module(tmp_path, f"stages.pipeline.{stage[0]}", *stage[1:])
    assert result.returncode == 1 and "Traceback" not in result.stderr
    [error] = error_lines(result)
    assert "data/validated/" in error and "dvc repro" in error


# What validate hands each stage -------------------------------------------------

def handed(raw: dict) -> dict:
    return params_file.for_stages(params_file.validate(raw))


def test_each_stage_is_handed_exactly_the_values_it_uses():
    shipped = handed(SHIPPED)
    assert set(shipped) == {("download", None), ("prepare", None), ("report", None),
                            *((stage, m) for stage in ("train", "evaluate", "export")
                              for m in SHIPPED["models"])}
    assert shipped["train", "quickstart"]["seed"] == SHIPPED["seed"]
    threads = [SHIPPED["tensorflow"]["intra_op_threads"],
               SHIPPED["tensorflow"]["inter_op_threads"]]
    assert shipped["evaluate", "cnn_sgd"] == {
        "batch_size": 1000, "epochs": 10, "threads": threads,
        "layers": ["Conv2D", "Dense", "Flatten", "MaxPooling2D"]}
    assert shipped["export", "cnn_sgd"] == {
        "threads": threads, "layers": ["Conv2D", "Dense", "Flatten", "MaxPooling2D"]}
    assert shipped["train", "cnn_sgd"]["threads"] == threads
    assert [m["name"] for m in shipped["report", None]["models"]] == list(SHIPPED["models"])


@pytest.mark.parametrize(("path", "value", "changes"), [
    (f"{QS}.tutorial", "renamed", {("report", None)}),
    (f"{QS}.layers.1.Dense.units", 64, {("train", "quickstart")}),
    (f"{QS}.layers.2", {"ReLU": {}}, {("train", "quickstart"), ("evaluate", "quickstart"),
                                      ("export", "quickstart")}),
    (f"{QS}.epochs", 7, {("train", "quickstart"), ("evaluate", "quickstart")}),
    ("evaluate.batch_size", 500, {("evaluate", m) for m in SHIPPED["models"]}),  # no export
    ("tensorflow.intra_op_threads", 2, {(stage, m) for stage in ("train", "evaluate", "export")
                                        for m in SHIPPED["models"]}),
    ("seed", 7, {("train", m) for m in SHIPPED["models"]}),
    ("notes", "an idea", set()),
])
def test_an_edit_changes_only_what_the_stages_that_use_it_are_handed(path, value, changes):
    before, after = handed(SHIPPED), handed(changed(path, value))
    assert {key for key in before if before[key] != after[key]} == changes


# The JSON Schema editors read -------------------------------------------------

def test_params_yaml_points_editors_at_the_schema():
    first = (ROOT / "params.yaml").read_text().splitlines()[0]
    assert first == "# yaml-language-server: $schema=params.schema.json"


def test_the_schema_accepts_the_shipped_params():
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    jsonschema.validate(SHIPPED, SCHEMA, cls=jsonschema.Draft202012Validator)


@pytest.mark.parametrize(("path", "value", "message"),
                         [case for case in REFUSED if not any(c in case[2] for c in SCHEMA_CANNOT)])
def test_the_schema_rejects_what_the_validator_rejects(path, value, message):
    validator = jsonschema.Draft202012Validator(SCHEMA)
    assert not validator.is_valid(changed(path, value)), message


def test_the_schema_offers_the_allowed_names():
    text = json.dumps(SCHEMA)
    for name in ("Conv2D", "Dense", "Embedding", "Adam", "SGD", "RMSprop",
                 "SparseCategoricalCrossentropy", "he_uniform", "relu", "gradient_tape"):
        assert f'"{name}"' in text, name
