"""params.yaml validation: every refused input gets one message naming the key
path (with a "did you mean"), exit code 1, no traceback, and no training."""

from __future__ import annotations

import pytest
import yaml

from harness import ROOT, error_lines, run_module
from harness import shipped_params_with as changed
from stages import params
from stages.cli import UserError

SHIPPED = yaml.safe_load((ROOT / "params.yaml").read_text())


def test_the_shipped_params_are_valid():
    loaded = params.validate(SHIPPED)
    assert list(loaded.models) == ["cnn_sgd", "mlp_dropout", "mlp_rmsprop", "quickstart",
                                   "simple_dense", "simple_cnn", "embedding"]


REFUSED = [
    # (dotted key, new value, expected message fragment)
    ("models.quickstart.epoch", 3, "unknown key models.quickstart.epoch (did you mean 'epochs'?)"),
    ("prepare.validation_fracton", 0.2, "did you mean 'validation_fraction'"),
    ("models.quickstart.epochs", "five", "models.quickstart.epochs must be int"),
    ("models.quickstart.epochs", 0, "models.quickstart.epochs must be a positive integer"),
    ("models.cnn_sgd.batch_size", -32, "models.cnn_sgd.batch_size must be a positive integer"),
    ("models.cnn_sgd.batch_size", True, "models.cnn_sgd.batch_size must be int"),
    ("prepare.validation_fraction", 0, "prepare.validation_fraction must be between 0 and 1"),
    ("prepare.validation_fraction", 1.5, "prepare.validation_fraction must be between 0 and 1"),
    ("models.quickstart.optimizer", "adamm", "'adamm' is not an allowed optimizer (did you mean"),
    ("models.quickstart.loss", "mse", "'mse' is not an allowed loss"),
    ("models.quickstart.layers.1", {"Lambda": {"function": "x"}}, "Lambda layers run arbitrary"),
    ("models.quickstart.layers.1", {"Dens": {"units": 3}}, "did you mean 'Dense'"),
    ("models.quickstart.layers.1", {"my_pkg.layers.Evil": {}}, "a dotted import path"),
    ("models.quickstart.layers.1", {"Dense": {"units": 3}, "module": "evil"}, "'module:' entry"),
    ("models.quickstart.layers.1", {"Dense": {"units": 3, "kernel_initializer":
                                              {"class_name": "X", "module": "evil"}}},
     "'module:' entry"),
    ("models.quickstart.layers.1", {"Dense": {"units": 10, "activation": "evil.mod.fn"}},
     "models.quickstart.layers[1].Dense.activation is 'evil.mod.fn', a dotted import path"),
    ("models.quickstart.layers", [], "models.quickstart.layers must be a non-empty list"),
    ("models.quickstart.loop", "gradienttape", "did you mean 'gradient_tape'"),
    ("models", {}, "models must map at least one model"),
    ("data.sha256", "abc", "data.sha256 must be a sha256 hex digest"),
    ("data.format", "zip", "data.format must be 'npz' or 'idx'"),
    ("models.quickstart.optimizer", {"Adam": {"learning_rate": {"class_name": "Sched"}}},
     "arguments must be plain values"),
    ("seed", ..., "missing key (top level).seed"),
]


@pytest.mark.parametrize(("path", "value", "message"), REFUSED)
def test_refused_params_name_the_key(path, value, message):
    with pytest.raises(UserError) as error:
        params.validate(changed(path, value))
    assert message in str(error.value)


def test_unknown_model_name_suggests_a_near_one():
    with pytest.raises(UserError, match=r"unknown model 'quickstar' \(did you mean 'quickstart'"):
        params.validate(SHIPPED).model("quickstar")


@pytest.mark.parametrize(("stage", "path", "value", "message"), [
    (("stages.train", "quickstart"), "models.quickstart.epochs", 0, "must be a positive integer"),
    (("stages.train", "quickstart"), "models.quickstart.layers.1", {"Lambda": {}}, "Lambda"),
    (("stages.evaluate", "cnn_sgd"), "evaluate.batch_size", "big", "evaluate.batch_size"),
    (("stages.prepare",), "prepare.validation_fraction", -1, "validation_fraction"),
    (("stages.download",), "data.url", 5, "data.url must be str"),
])
def test_stage_cli_refuses_bad_params_cleanly(tmp_path, stage, path, value, message):
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(changed(path, value)))
    result = run_module(tmp_path, *stage)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    [error] = error_lines(result)
    assert message in error
    assert sorted(p.name for p in tmp_path.iterdir()) == ["params.yaml"]  # nothing written


def test_stage_cli_refuses_unknown_model_and_malformed_yaml(tmp_path):
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(SHIPPED))
    result = run_module(tmp_path, "stages.train", "lenet")
    assert result.returncode == 1 and "unknown model 'lenet'" in result.stderr
    (tmp_path / "params.yaml").write_text("models: [unclosed\n")
    result = run_module(tmp_path, "stages.train", "quickstart")
    assert result.returncode == 1 and "not valid YAML" in result.stderr
    assert "Traceback" not in result.stderr


def test_keras_spellings_resolve_to_class_names_in_one_place():
    """'sgd', 'categorical_crossentropy' etc. become class names at validation, so the
    model builder and the one-hot decision only ever see one spelling."""
    cnn = params.validate(changed("models.cnn_sgd.optimizer", {"sgd": {"momentum": 0.5}}))
    spec = cnn.model("cnn_sgd")
    assert spec.optimizer == ("SGD", {"momentum": 0.5})
    assert spec.loss == ("CategoricalCrossentropy", {}) and spec.one_hot
    sparse = params.validate(changed("models.quickstart.loss", "sparse_categorical_crossentropy"))
    assert sparse.model("quickstart").loss == ("SparseCategoricalCrossentropy", {})
    assert not sparse.model("quickstart").one_hot
