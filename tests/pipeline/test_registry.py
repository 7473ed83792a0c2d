"""The registry: every model a DVC artifact that `dvc artifacts get` fetches from the team's
git remote (a bare repository) and DVC remote (a directory) without a clone, by name,
by version and by stage, versions and stages being GTO's git tags; and the artifacts
follow the `models:` of params.yaml with no hand edit."""

from __future__ import annotations

import pytest
import yaml

from harness import BIN, MODELS, run


def artifacts(project) -> dict:
    return yaml.safe_load((project.path / "dvc.yaml").read_text())["artifacts"]


def get(origin, name: str, out, cwd, *which: str) -> bytes:
    run([BIN / "dvc", "artifacts", "get", origin, name, *which, "-o", out, "--force"], cwd)
    return out.read_bytes()


@pytest.mark.slow
def test_a_model_is_fetched_by_name_version_and_stage_without_a_clone(reproduced, tmp_path):
    project = reproduced.copy(tmp_path / "team")
    assert set(artifacts(project)) == set(MODELS)
    origin = tmp_path / "origin.git"
    run(["git", "init", "-q", "--bare", "-b", "main", origin], tmp_path)
    project.dvc("remote", "add", "-d", "storage", tmp_path / "dvc-remote")
    project.commit("the team's DVC remote")
    project.git("remote", "add", "origin", str(origin))
    project.git("push", "-q", "origin", "HEAD:refs/heads/main")
    project.dvc("push")
    first = (project.path / "models/cnn_sgd.keras").read_bytes()
    run([BIN / "gto", "register", "cnn_sgd", "--version", "v1.0.0"], project.path)
    run([BIN / "gto", "assign", "cnn_sgd", "--version", "v1.0.0", "--stage", "prod"],
        project.path)
    project.git("push", "-q", "origin", "--tags")

    # A second version: cnn_sgd trained two epochs, registered, not promoted.
    project.set_params({"models.cnn_sgd.epochs": 2})
    project.repro()
    project.commit("cnn_sgd: 2 epochs")
    project.git("push", "-q", "origin", "HEAD:refs/heads/main")
    project.dvc("push")
    run([BIN / "gto", "register", "cnn_sgd", "--version", "v1.1.0"], project.path)
    project.git("push", "-q", "origin", "--tags")
    second = (project.path / "models/cnn_sgd.keras").read_bytes()
    assert first != second

    elsewhere = tmp_path / "elsewhere"  # no clone, no DVC project: just DVC installed
    elsewhere.mkdir()
    assert get(origin, "cnn_sgd", elsewhere / "latest.keras", elsewhere) == second
    assert get(origin, "cnn_sgd", elsewhere / "v1.keras", elsewhere, "--rev", "v1.0.0") == first
    assert get(origin, "cnn_sgd", elsewhere / "v11.keras", elsewhere, "--rev", "v1.1.0") == second
    assert get(origin, "cnn_sgd", elsewhere / "prod.keras", elsewhere, "--stage", "prod") == first


def test_the_registry_follows_the_models_of_params_yaml(reproduced_copy):
    project = reproduced_copy
    models = project.params()["models"]
    models["wide"] = {**models["quickstart"], "tutorial": "a wider quickstart"}
    del models["simple_dense"]
    project.set_params({"models": models})
    project.repro("validate")
    listed = artifacts(project)
    assert set(listed) == set(MODELS) - {"simple_dense"} | {"wide"}
    assert listed["wide"] == {"path": "models/wide.keras", "type": "model",
                              "desc": "a wider quickstart", "labels": ["mnist", "keras", "fit"]}
    text = (project.path / "dvc.yaml").read_text()
    assert text.startswith("# mnist-zoo pipeline:")  # the rest of dvc.yaml as it was
    project.repro("--force", "validate")
    assert (project.path / "dvc.yaml").read_text() == text  # rewritten only on a change
