"""The params file's parts one at a time (stages/config/params_file.py): one Keras object
as a type, checksums, loading, what each stage is handed, the editors' schema."""

from __future__ import annotations

import contextlib
import json
import warnings

import pytest
from pydantic import TypeAdapter, ValidationError

from harness import ROOT, shipped_params_with
from stages.common.cli import UserError
from stages.config import params_file
from stages.config.optimizers import OPTIMIZERS

SHA = "0" * 64


def test_one_keras_object_is_a_name_or_a_one_key_mapping_validated_to_a_pair():
    optimizer = TypeAdapter(params_file.keras_object(OPTIMIZERS, "optimizer"))
    assert optimizer.validate_python({"Adam": {"learning_rate": 0.1}}) == (
        "Adam", {"learning_rate": 0.1})
    assert optimizer.validate_python("Adam") == ("Adam", {})
    assert optimizer.validate_python("rmsprop") == ("RMSprop", {})  # Keras's own alias
    assert optimizer.validate_python({"SGD": None}) == ("SGD", {})
    with pytest.raises(ValidationError, match="union_tag_invalid"):
        optimizer.validate_python({"Adamm": {}})
    with pytest.raises(ValidationError, match="learning_rat"):
        optimizer.validate_python({"Adam": {"learning_rat": 0.1}})
    schema = optimizer.json_schema()
    assert "AdamOptimizer" in schema["$defs"]
    spellings = next(option["enum"] for option in schema["anyOf"] if "enum" in option)
    assert {"Adam", "adam", "SGD", "sgd"} <= set(spellings)
    assert "sparse_categorical_crossentropy" not in spellings  # a loss's alias


def test_a_module_entry_is_refused_with_its_own_error():
    optimizer = TypeAdapter(params_file.keras_object(OPTIMIZERS, "optimizer"))
    for raw in ({"Adam": {}, "module": "evil"}, {"Adam": {"x": [{"module": "evil"}]}}):
        with pytest.raises(ValidationError) as error:
            optimizer.validate_python(raw)
        [found] = error.value.errors()
        assert found["type"] == "module_entry"
        assert found["msg"] == "has a 'module:' entry; only Keras built-in classes are allowed"


def test_a_checksum_is_64_lower_case_hex_characters():
    raw = shipped_params_with("data.sha256", "ABC")
    with pytest.raises(ValidationError) as error:
        params_file.Params.model_validate(raw)
    [found] = error.value.errors()
    assert found["type"] == "sha256"
    assert found["msg"] == ("must be a sha256 hex digest (64 lower-case hex characters), "
                            "got 'ABC'")
    for wrong in (SHA.upper().replace("0", "A"), SHA[:-1], SHA + "0"):
        with pytest.raises(UserError, match="must be a sha256 hex digest"):
            params_file.validate(shipped_params_with("data.sha256", wrong))
    assert params_file.validate(shipped_params_with("data.sha256", SHA)).data.sha256 == SHA


def test_loading_reads_params_yaml_here_and_says_what_is_wrong(tmp_path):
    with contextlib.chdir(tmp_path):
        with pytest.raises(UserError) as missing:
            params_file.load()
        assert str(missing.value) == "params.yaml not found: run from the project root"
        (tmp_path / "params.yaml").write_text("models: [unclosed\n")
        with pytest.raises(UserError, match=r"^params\.yaml is not valid YAML: "):
            params_file.load()
        (tmp_path / "params.yaml").write_text((ROOT / "params.yaml").read_text())
        assert list(params_file.load().models) == list(params_file.load(
            ROOT / "params.yaml").models)


def test_an_unknown_model_names_the_known_ones():
    params = params_file.load(ROOT / "params.yaml")
    with pytest.raises(UserError) as error:
        params.model("quickstar")
    assert str(error.value) == (f"unknown model 'quickstar' (did you mean 'quickstart'?); "
                                f"params.yaml defines: {', '.join(params.models)}")


def test_each_stage_is_handed_exactly_what_it_uses():
    params = params_file.load(ROOT / "params.yaml")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # validate prints nothing but its own line
        handed = params_file.for_stages(params)
    for values in handed.values():  # plain JSON: what a stage reads back is what was made
        assert values == json.loads(json.dumps(values))
    raw = params.model_dump(mode="json", warnings=False)  # layers are pairs by now
    spec = raw["models"]["quickstart"]
    threads = [raw["tensorflow"]["intra_op_threads"], raw["tensorflow"]["inter_op_threads"]]
    assert handed["download", None] == raw["data"]
    assert handed["prepare", None] == raw["prepare"]
    assert handed["report", None] == {"models": [
        {"name": name, "tutorial": s["tutorial"], "tutorial_accuracy": s["tutorial_accuracy"]}
        for name, s in raw["models"].items()]}
    recipe = {key: value for key, value in spec.items()
              if key not in ("tutorial", "tutorial_accuracy")}
    assert handed["train", "quickstart"] == {
        "name": "quickstart", "seed": raw["seed"], "threads": threads,
        "steps_per_execution": raw["train"]["steps_per_execution"], **recipe}
    layers = sorted({layer for layer, _ in spec["layers"]})
    assert handed["evaluate", "quickstart"] == {
        "batch_size": raw["evaluate"]["batch_size"], "epochs": spec["epochs"],
        "layers": layers, "threads": threads}
    assert handed["export", "quickstart"] == {"layers": layers, "threads": threads}
    assert set(handed) == {("download", None), ("prepare", None), ("report", None), *(
        (stage, name) for name in raw["models"] for stage in ("train", "evaluate", "export"))}


def test_the_editors_schema_is_json_schema_2020_12_of_what_may_be_written():
    schema = params_file.json_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["title"] == "mnist-zoo params.yaml"
    assert schema == json.loads((ROOT / "params.schema.json").read_text())
