"""dvc.yaml agrees with the code and with params.yaml."""

from __future__ import annotations

import ast

import pytest
import yaml

from harness import MODELS, ROOT
from stages import paths

DVC_YAML = yaml.safe_load((ROOT / "dvc.yaml").read_text())


def imported_modules(module: str, seen: set[str] | None = None) -> set[str]:
    """stages/*.py files a stage module imports, directly or not (lazy imports too)."""
    seen = set() if seen is None else seen
    if module in seen:
        return seen
    seen.add(module)
    tree = ast.parse((ROOT / "stages" / f"{module}.py").read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "stages":
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("stages."):
            names = [node.module.split(".", 1)[1]]
        else:
            continue
        for name in names:
            imported_modules(name, seen)
    return seen


def code_deps(stage: dict) -> set[str]:
    return {dep.removeprefix("stages/").removesuffix(".py") for dep in stage["deps"]
            if dep.startswith("stages/")}


def test_each_stage_depends_on_exactly_the_modules_it_imports():
    stages = DVC_YAML["stages"]
    for name in ("validate", "download", "prepare", "report"):
        assert code_deps(stages[name]) == imported_modules(name), name
    for name in ("train", "evaluate"):
        assert code_deps(stages[name]["do"]) == imported_modules(name), name


def third_party_imports(module: str) -> set[str]:
    """Top-level packages a stages/ module imports anywhere in its code."""
    tree = ast.parse((ROOT / "stages" / f"{module}.py").read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_stages_that_need_no_model_never_import_tensorflow():
    for stage in ("validate", "download", "prepare", "report"):
        for module in imported_modules(stage):
            assert not {"tensorflow", "keras"} & third_party_imports(module), module


def test_report_and_charts_need_no_list_of_models():
    """Adding a model is a params.yaml edit: nothing in dvc.yaml names a model."""
    assert "metrics" in DVC_YAML["stages"]["report"]["deps"]  # the whole folder
    for model in MODELS:
        assert model not in (ROOT / "dvc.yaml").read_text()
    sources = {"validation accuracy": {"plots/learning_curves.csv": "val_accuracy"},
               "validation loss": {"plots/learning_curves.csv": "val_loss"},
               "test accuracy vs training time": {"plots/leaderboard.csv": "test_accuracy"}}
    for plot in DVC_YAML["plots"]:
        [(title, definition)] = plot.items()
        assert definition["y"] == sources.pop(title), title
        assert (ROOT / ".dvc/plots" / f"{definition['template']}.json").is_file()
    assert not sources, f"charts missing: {sources}"


def test_validate_runs_before_every_stage_and_tracks_every_section_read():
    stages = DVC_YAML["stages"]
    assert stages["validate"]["params"] == ["seed", "data", "prepare", "train", "evaluate",
                                            "models"]  # not `notes`, which no stage reads
    [out] = stages["validate"]["outs"]
    assert out == {"data/validated": {"cache": False, "persist": True}}
    assert "data/validated/data.json" in stages["download"]["deps"]
    assert "data/validated/models/${key}.json" in stages["train"]["do"]["deps"]
    for stage in ("train", "evaluate"):
        assert "data/validated/environment.json" in stages[stage]["do"]["deps"]
    for name in ("requirements.txt", ".python-version"):
        assert name in stages["validate"]["deps"]


def declared_outputs(stage: dict) -> tuple[set[str], set[str]]:
    """(cached, committed) outputs of a dvc.yaml stage, plots and metrics included."""
    cached, committed = set(), set()
    for section in ("outs", "metrics", "plots"):
        for entry in stage.get(section, []):
            path, options = next(iter(entry.items())) if isinstance(entry, dict) else (entry, {})
            (committed if options.get("cache") is False else cached).add(path)
    return cached, committed


@pytest.mark.parametrize("stage", ["download", "prepare", "train", "evaluate", "report"])
def test_restore_hints_name_exactly_the_outputs_dvc_removes(stage):
    """cli.run tells how to get back what DVC removed: paths.stage_outputs must match."""
    definition = DVC_YAML["stages"][stage]
    definition = definition.get("do", definition)
    address = f"{stage}@quickstart" if stage in ("train", "evaluate") else stage
    cached, committed = paths.stage_outputs(address)
    expected = [{p.replace("${key}", "quickstart") for p in group}
                for group in declared_outputs(definition)]
    assert [set(map(str, cached)), set(map(str, committed))] == expected


def test_train_and_evaluate_track_only_their_own_model_block():
    assert DVC_YAML["stages"]["train"]["do"]["params"] == [
        "seed", "train.steps_per_execution", "models.${key}"]
    assert "models.${key}.epochs" in DVC_YAML["stages"]["evaluate"]["do"]["params"]


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


@pytest.mark.parametrize("stage", ["download", "prepare", "train", "evaluate"])
def test_stages_that_compute_keep_every_output_in_the_dvc_cache(stage):
    """A run-cache entry restores in another clone only if the remote has every output
    it names, and `dvc push` sends only cached ones: no `cache: false` here."""
    definition = DVC_YAML["stages"][stage]
    cached, committed = declared_outputs(definition.get("do", definition))
    assert cached and not committed, f"{stage}: uncached outputs {committed}"
