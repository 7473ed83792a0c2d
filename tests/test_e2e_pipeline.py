"""The DVC contract, end to end with the real `dvc` CLI: everything rebuilds,
only what changed reruns, results are bit-for-bit reproducible, branches and
experiments compare, and an interrupted run recovers."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time

import pytest
import yaml

from harness import BIN, ENV, MODELS

ALL_STAGES = {"validate", "download", "prepare", "report", *(f"train@{m}" for m in MODELS),
              *(f"evaluate@{m}" for m in MODELS)}
# Files that carry wall-clock measurements: the only outputs allowed to differ
# between two runs of the same code on the same machine.
TIMED = {*(f"metrics/train/{m}.json" for m in MODELS), *(f"metrics/{m}.json" for m in MODELS),
         "reports/summary.json", "reports/leaderboard.md", "plots/leaderboard.csv"}
TIMING_KEYS = {"train_seconds", "examples_per_second", "test_images_per_second"}


def ran(result) -> set[str]:
    """Stages a `dvc repro` actually executed."""
    return {line.split("'")[1] for line in result.stdout.splitlines()
            if line.startswith("Running stage '")}


def declared_outputs(project) -> set[str]:
    lock = yaml.safe_load((project.path / "dvc.lock").read_text())
    return {out["path"] for stage in lock["stages"].values() for out in stage.get("outs", [])}


def without_timing(metrics: dict) -> dict:
    return {path: {k: v for k, v in figures.items() if k not in TIMING_KEYS}
            for path, figures in metrics.items()}


def metrics_show(project) -> dict:
    """`dvc metrics show --json` as {file: figures} (one revision: the workspace)."""
    [workspace] = json.loads(project.dvc("metrics", "show", "--json").stdout).values()
    return {path: body["data"] for path, body in workspace["data"].items()}


def test_full_repro_builds_everything_and_then_nothing_reruns(reproduced):
    lock = yaml.safe_load((reproduced.path / "dvc.lock").read_text())
    assert set(lock["stages"]) == ALL_STAGES
    for path in declared_outputs(reproduced):
        target = reproduced.path / path
        files = list(target.rglob("*")) if target.is_dir() else [target]
        assert files and all(f.stat().st_size > 0 for f in files if f.is_file()), path
    assert reproduced.status() == {}
    again = reproduced.dvc("repro")
    assert ran(again) == set() and "Data and pipelines are up to date" in again.stdout


def test_metrics_show_has_one_row_per_model(reproduced):
    metrics = metrics_show(reproduced)
    for model in MODELS:
        assert 0 < metrics[f"metrics/{model}.json"]["test_accuracy"] <= 1
        assert metrics[f"metrics/train/{model}.json"]["epochs"] == 1


def test_editing_one_model_reruns_only_that_model(reproduced_copy):
    project = reproduced_copy
    project.set_params({"models.quickstart.epochs": 2})
    expected = {"validate", "train@quickstart", "evaluate@quickstart", "report"}
    assert project.stale_stages() == expected
    assert ran(project.dvc("repro")) == expected
    assert project.read_json("metrics/quickstart.json")["epochs"] == 2
    project.commit("quickstart: 2 epochs")
    diff = json.loads(project.dvc("metrics", "diff", "--json", "HEAD~1").stdout)
    assert set(diff) == {"metrics/quickstart.json", "metrics/train/quickstart.json"}
    assert diff["metrics/quickstart.json"]["epochs"] == {"old": 1, "new": 2, "diff": 1}


def test_a_key_no_stage_reads_reruns_nothing(reproduced_copy):
    reproduced_copy.set_params({"notes": "tried a new idea"})
    assert reproduced_copy.status() == {}


def test_validation_fraction_reruns_prepare_and_after_but_not_download(reproduced_copy):
    reproduced_copy.set_params({"prepare.validation_fraction": 0.2})
    # prepare's outputs drive the rest; validate checks the new value first
    assert reproduced_copy.stale_stages() == {"validate", "prepare"}
    result = reproduced_copy.dvc("repro", "prepare")
    assert ran(result) == {"validate", "prepare"}  # download is up to date and skipped
    # New training data: every model retrains (and, as its model changes, re-evaluates);
    # report reads the new split counts in metrics/.
    assert reproduced_copy.stale_stages() == {f"train@{m}" for m in MODELS} | {"report"}


def test_an_evaluation_only_module_reruns_evaluation_not_training(reproduced_copy):
    scoring = reproduced_copy.path / "stages/scoring.py"
    scoring.write_text(scoring.read_text() + "\n# a comment\n")
    evaluation = {f"evaluate@{m}" for m in MODELS}
    assert reproduced_copy.stale_stages() == evaluation
    executed = ran(reproduced_copy.dvc("repro"))
    assert evaluation <= executed <= evaluation | {"report"}  # never a train stage


def test_an_unchanged_retrain_does_not_rerun_evaluation(reproduced_copy):
    """Training code edited, models retrained to the same bytes: evaluation stays up to
    date; only the report reruns, for the new wall-clock training figures."""
    project = reproduced_copy
    fitting = project.path / "stages/fitting.py"
    fitting.write_text(fitting.read_text() + "\n# a comment\n")
    assert project.stale_stages() == {f"train@{m}" for m in MODELS}
    retrained = {"train@quickstart", "train@simple_dense"}  # one per training loop
    assert ran(project.dvc("repro", *retrained)) == retrained
    untouched = {f"train@{m}" for m in MODELS} - retrained
    assert project.stale_stages() == untouched | {"report"}


@pytest.mark.slow
def test_forced_rerun_gives_identical_outputs(reproduced, reproduced_copy):
    before = reproduced.lock_hashes()
    reproduced_copy.dvc("repro", "--force")
    after = reproduced_copy.lock_hashes()
    assert before.keys() == after.keys()
    changed = {path for path in before if before[path] != after[path]}
    assert changed <= TIMED, f"outputs differ between identical runs: {changed - TIMED}"
    assert without_timing(metrics_show(reproduced)) == without_timing(metrics_show(
        reproduced_copy))


def test_branches_compare_with_metrics_and_params_diff(reproduced_copy):
    project = reproduced_copy
    project.git("checkout", "-q", "-b", "more-epochs")
    project.set_params({"models.simple_cnn.epochs": 2})
    project.dvc("repro")
    project.commit("simple_cnn: 2 epochs")
    diff = json.loads(project.dvc("metrics", "diff", "main", "--json").stdout)
    assert set(diff) == {"metrics/simple_cnn.json", "metrics/train/simple_cnn.json"}
    params = json.loads(project.dvc("params", "diff", "main", "--json").stdout)
    assert params == {"params.yaml": {"models.simple_cnn.epochs": {"old": 1, "new": 2,
                                                                      "diff": 1}}}
    out = project.path / "plots_html"
    project.dvc("plots", "diff", "main", "-o", out)
    assert (out / "index.html").stat().st_size > 0


def test_plots_show_renders_every_chart_once(reproduced_copy):
    out = reproduced_copy.path / "plots_html"
    reproduced_copy.dvc("plots", "show", "-o", out)
    html = (out / "index.html").read_text()
    titles = re.findall(r'"title": \{"text": "([^"]+)"', html)
    expected = ["validation accuracy", "validation loss", "test accuracy vs training time",
                *(f"{model}: test confusion matrix" for model in MODELS)]
    assert sorted(titles) == sorted(expected)  # each data chart once, no table drawn twice
    pngs = re.findall(r'<img src="(static/[^"]+)"', html)
    assert len(pngs) == len(set(pngs)) == 1 + 3 * len(MODELS)
    for model in MODELS:
        assert html.count(f'"model": "{model}"') >= 2  # a line in both learning-curve charts


@pytest.mark.slow
def test_experiments_run_and_report_metrics(reproduced_copy):
    project = reproduced_copy
    project.dvc("exp", "run", "-n", "qs2", "-S", "models.quickstart.epochs=2")
    shown = json.dumps(json.loads(project.dvc("exp", "show", "--json").stdout))
    assert "qs2" in shown and "test_accuracy" in shown
    for name, epochs in (("dense2", 2), ("dense3", 3)):
        project.dvc("exp", "run", "--queue", "-n", name, "-S",
                    f"models.simple_dense.epochs={epochs}")
    project.dvc("queue", "start", "--jobs", "2")
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        status = project.dvc("queue", "status").stdout
        if "Queued" not in status and "Running" not in status:
            break
        time.sleep(3)
    assert "Failed" not in status, status
    shown = json.loads(project.dvc("exp", "show", "--json").stdout)
    names = json.dumps(shown)
    assert "dense2" in names and "dense3" in names


def test_an_interrupted_repro_recovers_with_the_same_results(reproduced, reproduced_copy,
                                                            tmp_path):
    project = reproduced_copy
    project.set_params({"models.cnn_sgd.epochs": 3})
    process = subprocess.Popen([BIN / "dvc", "repro"], cwd=project.path, env=ENV,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               start_new_session=True)
    for line in process.stdout:
        if "train@cnn_sgd epoch 2/3" in line:
            os.killpg(process.pid, signal.SIGKILL)
            break
    process.wait()
    model = project.path / "models/cnn_sgd.keras"
    assert not model.exists()  # DVC removed the old output; no partial one was written
    project.dvc("repro")
    interrupted = project.lock_hashes()
    clean = reproduced.copy(tmp_path / "clean")
    clean.set_params({"models.cnn_sgd.epochs": 3})
    clean.dvc("repro")
    reference = clean.lock_hashes()
    differing = {p for p in reference if reference[p] != interrupted[p]}
    assert differing <= TIMED, differing
