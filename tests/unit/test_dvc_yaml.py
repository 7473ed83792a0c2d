"""dvc.yaml agrees with the code and with params.yaml: every stage depends on exactly
the code it runs and the validated values it reads, and whatever needs a stage's
outputs reads them from dvc.yaml the way DVC does."""

from __future__ import annotations

import ast
import contextlib
import hashlib
from pathlib import Path

import pytest
import yaml

from harness import MODELS, ROOT
from stages.common import code_deps, outputs, paths

DVC_YAML = yaml.safe_load((ROOT / "dvc.yaml").read_text())
STAGES = {name: stage.get("do", stage) for name, stage in DVC_YAML["stages"].items()}


def module_file(dotted: str) -> Path | None:
    path = ROOT / Path(*dotted.split("."))
    return path.with_suffix(".py") if path.with_suffix(".py").is_file() else None


def runs(dotted: str, seen: set[str] | None = None) -> set[str]:
    """The stages/ files a module runs: itself and every project module it imports,
    directly or not, lazy imports included."""
    seen = set() if seen is None else seen
    path = module_file(dotted)
    if path is None or (relative := path.relative_to(ROOT).as_posix()) in seen:
        return seen
    seen.add(relative)
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("stages."):
            runs(node.module, seen)
            for alias in node.names:
                runs(f"{node.module}.{alias.name}", seen)
    return seen


def third_party(path: str) -> set[str]:
    """Top-level packages a stages/ file imports anywhere in its code."""
    names = set()
    for node in ast.walk(ast.parse((ROOT / path).read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


GIVEN_THEIR_CODE = [stage for stage in STAGES if stage != "validate"]


@pytest.mark.parametrize("stage", GIVEN_THEIR_CODE)
def test_each_stage_depends_on_a_fingerprint_of_exactly_the_code_it_runs(stage):
    """Its code dependency is the one file `validate` writes for it, which lists every
    module the stage runs (its imports, read here independently) with its sha256."""
    deps = STAGES[stage]["deps"]
    command = STAGES[stage]["cmd"].split()[2]
    assert command == f"stages.pipeline.{stage}"
    assert [dep for dep in deps if dep.startswith("stages")] == []
    assert f"data/validated/code/{stage}.json" in deps
    with contextlib.chdir(ROOT):
        found = code_deps.fingerprint(command)
    assert set(found) == runs(command)
    for path, digest in found.items():
        assert digest == hashlib.sha256((ROOT / path).read_bytes()).hexdigest(), path


def test_validate_depends_on_all_the_code():
    assert "stages" in STAGES["validate"]["deps"]
    ignored = (ROOT / ".dvcignore").read_text().splitlines()
    assert "__pycache__/" in ignored and "*.pyc" in ignored  # not code: never a change


def test_only_validate_runs_the_params_schema_and_keras_tables():
    """Editing params schema code reruns `validate`, and nothing else unless what it
    hands the other stages changes."""
    for stage in GIVEN_THEIR_CODE:
        assert not any(path.startswith("stages/config/")
                       for path in runs(f"stages.pipeline.{stage}")), stage


def test_stages_that_need_no_model_never_import_tensorflow():
    for stage in ("validate", "download", "prepare", "report"):
        for path in runs(f"stages.pipeline.{stage}"):
            assert not {"tensorflow", "keras"} & third_party(path), path


def test_only_validate_reads_params_yaml():
    for stage, definition in STAGES.items():
        assert ("params" in definition) == (stage == "validate"), stage
    assert DVC_YAML["stages"]["validate"]["params"] == [  # every section but `notes`
        "seed", "data", "prepare", "train", "evaluate", "tensorflow", "models"]


def test_each_stage_depends_on_the_validated_values_it_reads():
    assert "data/validated/download.json" in STAGES["download"]["deps"]
    assert "data/validated/prepare.json" in STAGES["prepare"]["deps"]
    assert "data/validated/report.json" in STAGES["report"]["deps"]
    for stage in ("train", "evaluate"):
        assert f"data/validated/{stage}/${{key}}.json" in STAGES[stage]["deps"]
    for stage in ("train", "evaluate", "export"):
        assert "data/validated/environment.json" in STAGES[stage]["deps"]
    [out] = STAGES["validate"]["outs"]
    assert out == {"data/validated": {"cache": False, "persist": True}}
    for name in ("requirements.txt", ".python-version"):
        assert name in STAGES["validate"]["deps"]


def test_report_and_charts_need_no_list_of_models():
    """Adding a model is a params.yaml edit: no stage or chart of dvc.yaml names a model
    (its `artifacts:` do, written by `validate`: the next test)."""
    assert "metrics" in STAGES["report"]["deps"]  # the whole folder
    text = (ROOT / "dvc.yaml").read_text()
    for model in MODELS:
        assert model not in text.split("\nartifacts:")[0]
    sources = {"validation accuracy": {"plots/learning_curves.csv": "val_accuracy"},
               "validation loss": {"plots/learning_curves.csv": "val_loss"},
               "test accuracy vs training time": {"plots/leaderboard.csv": "test_accuracy"}}
    for plot in DVC_YAML["plots"]:
        [(title, definition)] = plot.items()
        assert definition["y"] == sources.pop(title), title
        assert (ROOT / ".dvc/plots" / f"{definition['template']}.json").is_file()
    assert not sources, f"charts missing: {sources}"


@pytest.mark.parametrize("stage", ["validate", "download", "prepare", "train@quickstart",
                                   "evaluate@quickstart", "export@quickstart", "report"])
def test_outputs_read_from_dvc_yaml_are_the_ones_dvc_removes(stage):
    """The restore hint and a removed model's clean-up name what DVC itself parses."""
    from dvc.repo import Repo

    with contextlib.chdir(ROOT), Repo(str(ROOT)) as repo:
        [parsed] = repo.stage.collect(stage)
        removed = {str(out) for out in parsed.outs if not out.persist}
        cached = {str(out) for out in parsed.outs if out.use_cache and not out.persist}
        ours_cached, ours_uncached = outputs.of_stage(stage)
    assert {str(p) for p in ours_cached} == cached
    assert {str(p) for p in [*ours_cached, *ours_uncached]} == removed


def test_the_registry_lists_exactly_the_models_of_params_yaml():
    from stages.config import artifacts, params_file

    shipped = params_file.load(ROOT / "params.yaml")
    assert DVC_YAML["artifacts"] == artifacts.wanted(shipped)
    model_file = STAGES["train"]["outs"][0]  # the trained .keras file, each model's
    for name, artifact in DVC_YAML["artifacts"].items():
        assert artifact["path"] == model_file.replace("${key}", name)


def test_a_removed_models_outputs_are_every_foreach_stages_outputs():
    with contextlib.chdir(ROOT):
        found = {str(p) for p in outputs.of_model("gone")}
    expected = {path.replace("${key}", "gone") for stage in ("train", "evaluate", "export")
                for section in ("outs", "metrics", "plots") for entry in STAGES[stage].get(
                    section, []) for path in ([entry] if isinstance(entry, str) else entry)}
    assert found == expected | {"plots/gone"}


def test_no_tracked_params_key_is_named_size_or_nfiles():
    """DVC leaves such keys out of its run-cache hash (dvc issue 10296)."""
    def keys(node):
        if isinstance(node, dict):
            for key, value in node.items():
                yield key
                yield from keys(value)
        elif isinstance(node, list):
            for item in node:
                yield from keys(item)

    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    assert not {"size", "nfiles"} & set(keys(raw))


@pytest.mark.parametrize("stage", ["download", "prepare", "train", "evaluate", "export"])
def test_stages_that_compute_keep_every_output_in_the_dvc_cache(stage):
    """A run-cache entry restores in another clone only if the remote has every output
    it names, and `dvc push` sends only cached ones: no `cache: false` here."""
    for section in ("outs", "metrics", "plots"):
        for entry in STAGES[stage].get(section, []):
            options = next(iter(entry.values())) if isinstance(entry, dict) else {}
            assert options.get("cache", True), f"{stage}: uncached output {entry}"


def declared_paths() -> set[str]:
    """Every path a stage of dvc.yaml names: deps, outs, metrics and plots."""
    found = set()
    for stage in STAGES.values():
        for section in ("deps", "outs", "metrics", "plots"):
            for entry in stage.get(section, []):
                found |= {entry} if isinstance(entry, str) else set(entry)
    return found


def named_paths() -> set[str]:
    """Every file `stages.common.paths` names (a model's as dvc.yaml's template), but
    DVC's own two files and the folder of the prepared splits."""
    named = {str(value) for name, value in vars(paths).items() if name.isupper()
             and isinstance(value, Path)} - {"dvc.yaml", "params.yaml", "data/prepared"}
    named |= {str(paths.prepared(split)) for split in ("train", "validation", "test")}
    return named | set(paths.PER_MODEL.values())


def test_every_path_the_code_names_is_one_dvc_yaml_declares():
    assert named_paths() - declared_paths() == set()


def test_every_output_dvc_yaml_declares_is_named_in_the_code():
    outputs_declared = {path for stage in STAGES.values() for section in ("outs", "metrics",
                        "plots") for entry in stage.get(section, [])
                        for path in ([entry] if isinstance(entry, str) else entry)}
    assert outputs_declared - named_paths() == set()
