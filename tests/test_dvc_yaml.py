"""dvc.yaml agrees with the code and with params.yaml."""

from __future__ import annotations

import ast

import yaml

from harness import MODELS, ROOT

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
    for name in ("download", "prepare", "report"):
        assert code_deps(stages[name]) == imported_modules(name), name
    for name in ("train", "evaluate"):
        assert code_deps(stages[name]["do"]) == imported_modules(name), name


def test_data_stages_never_import_tensorflow():
    for stage in ("download", "prepare"):
        for module in imported_modules(stage):
            source = (ROOT / "stages" / f"{module}.py").read_text()
            assert "import keras" not in source and "tensorflow" not in source, module


def test_report_and_top_level_plots_cover_every_model_in_params():
    report_deps = set(DVC_YAML["stages"]["report"]["deps"])
    for model in MODELS:
        assert f"metrics/{model}.json" in report_deps, f"add metrics/{model}.json to report deps"
        assert f"metrics/train/{model}.json" in report_deps
    for plot in DVC_YAML["plots"]:
        [(title, definition)] = plot.items()
        files = set(definition["y"])
        assert files == {f"plots/{m}/history.csv" for m in MODELS}, title


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
