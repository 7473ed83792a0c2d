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

from harness import BIN, ENV, MODELS, TIMED, metrics_show, without_timing

TRAIN = {f"train@{m}" for m in MODELS}
EVALUATE = {f"evaluate@{m}" for m in MODELS}
EXPORT = {f"export@{m}" for m in MODELS}
ALL_STAGES = {"validate", "download", "prepare", "report", *TRAIN, *EVALUATE, *EXPORT}
TUTORIAL_PARAMS = {"cnn_sgd": 542_230, "quickstart": 101_770, "simple_dense": 25_450}


def declared_outputs(project) -> set[str]:
    lock = yaml.safe_load((project.path / "dvc.lock").read_text())
    return {out["path"] for stage in lock["stages"].values() for out in stage.get("outs", [])}


def touch(project, module: str) -> None:
    """An edit of one stages/ module that changes no behaviour: a comment."""
    path = project.path / module
    path.write_text(path.read_text() + "\n# an edit\n")


def test_full_repro_builds_everything_and_then_nothing_reruns(reproduced):
    lock = yaml.safe_load((reproduced.path / "dvc.lock").read_text())
    assert set(lock["stages"]) == ALL_STAGES
    for path in declared_outputs(reproduced):
        target = reproduced.path / path
        files = list(target.rglob("*")) if target.is_dir() else [target]
        assert files and all(f.stat().st_size > 0 for f in files if f.is_file()), path
    assert reproduced.status() == {}
    again = reproduced.repro()
    assert again.ran == set() and "Data and pipelines are up to date" in again.stdout


def test_metrics_show_has_one_row_per_model_and_every_model_learns(reproduced):
    """One epoch on 1,800 synthetic digits: every model does far better than chance
    (0.1), with the tutorial's parameter count."""
    metrics = metrics_show(reproduced)
    for model in MODELS:
        assert 0.3 < metrics[f"metrics/{model}.json"]["test_accuracy"] <= 1, model
        assert metrics[f"metrics/train/{model}.json"]["epochs"] == 1
        assert metrics[f"metrics/{model}.json"]["trainable_params"] == TUTORIAL_PARAMS[model]


def test_editing_one_model_reruns_only_that_model(reproduced_copy):
    project = reproduced_copy
    project.set_params({"models.quickstart.epochs": 2})
    assert project.stale_stages() == {"validate"}  # what it hands the rest decides the rest
    assert project.repro().ran == {"validate", "train@quickstart", "evaluate@quickstart",
                                   "export@quickstart", "report"}
    assert project.read_json("metrics/quickstart.json")["epochs"] == 2
    project.commit("quickstart: 2 epochs")
    diff = json.loads(project.dvc("metrics", "diff", "--json", "HEAD~1").stdout)
    assert set(diff) == {"metrics/quickstart.json", "metrics/train/quickstart.json",
                         "exports/quickstart.json"}
    assert diff["metrics/quickstart.json"]["epochs"] == {"old": 1, "new": 2, "diff": 1}


def test_a_key_no_stage_reads_reruns_nothing(reproduced_copy):
    reproduced_copy.set_params({"notes": "tried a new idea"})
    assert reproduced_copy.status() == {}


def test_validation_fraction_reruns_prepare_and_after_but_not_download(reproduced_copy):
    reproduced_copy.set_params({"prepare.validation_fraction": 0.2})
    result = reproduced_copy.repro("prepare")
    assert result.ran == {"validate", "prepare"}  # download is up to date and skipped
    # New training data: every model retrains (and, as its model changes, re-evaluates);
    # report reads the new split counts in metrics/.
    assert reproduced_copy.stale_stages() == TRAIN | {"report"}


# What reruns when a library group is edited: one row of the README's table each.
# `validate` reruns first for any edit (it depends on all of stages/); what it writes
# (data/validated/code/) decides what reruns after it.
RERUNS = [
    ("stages/config/layers.py", set()),                 # the schema, Keras tables, shapes
    ("stages/config/messages.py", set()),
    ("stages/data/fetch.py", {"download"}),
    ("stages/common/files.py", ALL_STAGES - {"validate"}),
    ("stages/common/cli.py", ALL_STAGES - {"validate"}),
    ("stages/tools/warm/client.py", TRAIN | EVALUATE | EXPORT),  # the one door
    ("stages/tools/warm/server.py", set()),      # re-imports the stage's own modules
    ("stages/modeling/scoring.py", EVALUATE),
    ("stages/modeling/loops.py", TRAIN),
    ("stages/modeling/build.py", TRAIN | EVALUATE),
    ("stages/modeling/saving.py", TRAIN | EVALUATE | EXPORT),
    ("stages/modeling/formats.py", EXPORT),
    ("stages/reporting/pictures.py", {"prepare"} | EVALUATE),
    ("stages/reporting/leaderboard.py", {"report"}),
    ("stages/tools/sweeps/trial.py", set()),     # commands and sweeps: no stage runs them
    ("stages/predict.py", set()),
]


@pytest.mark.parametrize(("module", "stale"), RERUNS, ids=[m for m, _ in RERUNS])
def test_editing_a_library_group_makes_stale_exactly_its_users(reproduced_copy, module, stale):
    touch(reproduced_copy, module)
    assert reproduced_copy.stale_stages() == {"validate"}
    assert reproduced_copy.repro("validate", "--single-item").ran == {"validate"}
    assert reproduced_copy.stale_stages() == stale


def test_schema_code_reruns_validate_and_nothing_else(reproduced_copy):
    """Validate reruns and writes the same values: every other stage stays up to date."""
    touch(reproduced_copy, "stages/config/params_file.py")
    assert reproduced_copy.repro().ran == {"validate"}
    assert reproduced_copy.status() == {}


def test_an_evaluation_only_module_reruns_evaluation_not_training(reproduced_copy):
    touch(reproduced_copy, "stages/modeling/scoring.py")
    executed = reproduced_copy.repro().ran
    assert {"validate"} | EVALUATE <= executed <= {"validate", "report"} | EVALUATE  # no train


@pytest.mark.slow
def test_pictures_rerun_no_training(reproduced_copy):
    touch(reproduced_copy, "stages/reporting/pictures.py")
    executed = reproduced_copy.repro().ran
    assert {"validate", "prepare"} | EVALUATE <= executed <= {"validate", "prepare",
                                                              "report"} | EVALUATE
    assert reproduced_copy.status() == {}


@pytest.mark.slow
def test_an_unchanged_retrain_does_not_rerun_evaluation(reproduced_copy):
    """Training code edited, models retrained to the same bytes: evaluation stays up to
    date; only the report reruns, for the new wall-clock training figures."""
    project = reproduced_copy
    touch(project, "stages/modeling/loops.py")
    retrained = {"train@quickstart", "train@simple_dense"}  # one per training loop
    assert project.repro(*retrained).ran == {"validate", *retrained}
    assert project.stale_stages() == TRAIN - retrained | {"report"}


def test_tutorial_text_retrains_nothing(reproduced_copy):
    reproduced_copy.set_params({"models.quickstart.tutorial": "my notes on it"})
    assert reproduced_copy.repro().ran == {"validate", "report"}
    assert "my notes on it" in (reproduced_copy.path / "reports/leaderboard.md").read_text()


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


@pytest.mark.slow
def test_branches_compare_with_metrics_and_params_diff(reproduced_copy):
    project = reproduced_copy
    project.git("checkout", "-q", "-b", "more-epochs")
    project.set_params({"models.cnn_sgd.epochs": 2})
    project.repro()
    project.commit("cnn_sgd: 2 epochs")
    diff = json.loads(project.dvc("metrics", "diff", "main", "--json").stdout)
    assert set(diff) == {"metrics/cnn_sgd.json", "metrics/train/cnn_sgd.json",
                         "exports/cnn_sgd.json"}
    params = json.loads(project.dvc("params", "diff", "main", "--json").stdout)
    assert params == {"params.yaml": {"models.cnn_sgd.epochs": {"old": 1, "new": 2,
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


@pytest.mark.slow
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
