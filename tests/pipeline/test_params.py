"""What a user relies on when editing params.yaml, end to end with the real `dvc`
CLI: a model is one block (add, remove, rename), and a bad edit never costs the
last good outputs."""

from __future__ import annotations

import csv
import json
import re
import time

import pytest

from harness import MODELS, error_lines
from stages.common import outputs, paths

WIDE_MLP = {
    "tutorial": "a wider MLP",
    "layers": [{"Flatten": {}}, {"Dense": {"units": 256, "activation": "relu"}},
               {"Dense": {"units": 10, "activation": "softmax"}}],
    "optimizer": "Adam", "loss": "sparse_categorical_crossentropy",
    "batch_size": 64, "epochs": 1, "loop": "fit",
}


def with_models(project, models: dict) -> None:
    project.set_params({"models": models})


def plotted(project, *revisions) -> dict[str, list]:
    """`dvc plots show/diff --json`: chart title or file -> the data points it draws."""
    command = ("plots", "diff", *revisions) if revisions else ("plots", "show")
    data = json.loads(project.dvc(*command, "--json").stdout)["data"]
    return {name: [point for chart in charts for point in chart["content"]["data"]["values"]]
            if charts[0]["type"] == "vega" else charts for name, charts in data.items()}


def reported_models(project) -> dict[str, list[str]]:
    """Which models each report output and DVC listing names, in their order."""
    leaderboard = re.findall(r"^\| \d+ \| `(\w+)`", (project.path / paths.LEADERBOARD)
                             .read_text(), flags=re.MULTILINE)
    summary = [row["model"] for row in project.read_json(str(paths.SUMMARY))["leaderboard"]]
    with (project.path / paths.LEARNING_CURVES).open() as handle:
        curves = list(dict.fromkeys(row["model"] for row in csv.DictReader(handle)))
    [workspace] = json.loads(project.dvc("metrics", "show", "--json").stdout).values()
    metrics = [m for m in re.findall(r"^metrics/(\w+)\.json$", "\n".join(workspace["data"]),
                                     flags=re.MULTILINE) if m != "data"]
    charts = plotted(project)
    drawn = list(dict.fromkeys(point["model"] for point in charts["validation accuracy"]))
    confusion = [name.split("/")[1] for name in charts if name.endswith("confusion.csv")]
    return {"leaderboard": sorted(leaderboard), "summary": sorted(summary), "curves": curves,
            "metrics show": sorted(metrics), "plots show": drawn,
            "confusion charts": sorted(confusion)}


def assert_reports_list(project, models: list[str]) -> None:
    for where, names in reported_models(project).items():
        expected = models if where in ("curves", "plots show") else sorted(models)
        assert names == expected, where  # params order where order shows


def test_adding_a_model_is_one_block_in_params(reproduced_copy):
    project = reproduced_copy
    with_models(project, {**project.params()["models"], "wide_mlp": WIDE_MLP})
    new = {"validate", "train@wide_mlp", "evaluate@wide_mlp", "export@wide_mlp", "report"}
    assert project.repro().ran == new
    assert_reports_list(project, [*MODELS, "wide_mlp"])
    assert project.status() == {}


def test_removing_a_model_removes_it_everywhere(reproduced_copy):
    project = reproduced_copy
    models = project.params()["models"]
    del models["simple_dense"]
    with_models(project, models)
    assert project.repro().ran == {"validate", "report"}
    remaining = [m for m in MODELS if m != "simple_dense"]
    assert_reports_list(project, remaining)
    left = [p for p in outputs.of_model("simple_dense") if (project.path / p).exists()]
    assert left == [], "outputs of a removed model stay in the workspace"
    assert project.status() == {}


@pytest.mark.slow
def test_renaming_a_model_is_a_new_model_and_the_old_name_is_gone(reproduced_copy):
    project = reproduced_copy
    models = {("qs" if name == "quickstart" else name): block
              for name, block in project.params()["models"].items()}
    with_models(project, models)
    assert project.repro().ran == {"validate", "train@qs", "evaluate@qs", "export@qs", "report"}
    assert_reports_list(project, list(models))
    assert not any((project.path / p).exists() for p in outputs.of_model("quickstart"))


@pytest.mark.slow
def test_plots_diff_draws_every_model_for_each_revision(reproduced_copy):
    project = reproduced_copy
    project.set_params({"models.quickstart.epochs": 2})
    project.repro()
    curves = plotted(project, "HEAD")["validation loss"]
    for revision in ("HEAD", "workspace"):
        assert {p["model"] for p in curves if p["rev"] == revision} == set(MODELS), revision
    quickstart = [p for p in curves if p["model"] == "quickstart"]
    assert sorted((p["rev"], int(p["epoch"])) for p in quickstart) == [
        ("HEAD", 1), ("workspace", 1), ("workspace", 2)]


BAD_EDITS = [  # one of each kind the validator refuses
    ("models.quickstart.epochs", "five"),
    ("models.quickstart.batch_size", -8),
    ("models.quickstart.epoch", 3),
    ("models.quickstart.layers.3", {"Dense": {"units": 7}}),
    ("models.quickstart.loss", {"SparseCategoricalCrossentropy": {"from_logits": "yes"}}),
    ("models.quickstart.layers.1", {"Lambda": {"function": "x"}}),
    ("models.cnn_sgd.layers.2", {"Conv2D": {"filters": 3, "kernel_size": 3}}),
    ("seed", -1),
    ("prepare.validation_fraction", 1.5),
    ("data.sha256", "abc"),
]


@pytest.mark.slow
def test_a_bad_edit_stops_repro_before_any_output_is_touched(reproduced_copy):
    project = reproduced_copy
    good = (project.path / "params.yaml").read_text()
    before = project.snapshot()
    for key, value in BAD_EDITS:
        for target in ((), ("train@quickstart",)):
            project.set_params({key: value})
            result = project.repro(*target, check=False)
            assert result.returncode != 0, key
            [message] = error_lines(result)
            assert message.startswith("error: params.yaml: ") and "Traceback" not in result.stderr
            assert result.ran == {"validate"}, key
            assert project.snapshot() == before, f"{key}: outputs changed"
            (project.path / "params.yaml").write_text(good)
    assert project.status() == {}


@pytest.mark.slow
def test_a_bad_experiment_stops_before_any_output_is_touched(reproduced_copy):
    project = reproduced_copy
    before = project.snapshot()
    result = project.dvc("exp", "run", "-S", "models.quickstart.epochs=five", check=False)
    assert result.returncode != 0
    assert "error: params.yaml: models.quickstart.epochs must be an integer" in result.stderr
    assert project.snapshot() == before
    project.git("checkout", "params.yaml")  # `exp run -S` edits the workspace params
    project.dvc("exp", "run", "--queue", "-n", "bad-batch", "-S",
                "models.quickstart.batch_size=-8")
    project.dvc("queue", "start")
    deadline = time.monotonic() + 300
    while "Queued" in (status := project.dvc("queue", "status").stdout) or "Running" in status:
        assert time.monotonic() < deadline, status
        time.sleep(2)
    assert re.search(r"bad-batch\s.*Failed", status), status
    logs = project.dvc("queue", "logs", "bad-batch", check=False).stdout
    assert "models.quickstart.batch_size must be greater than 0, got -8" in logs
    assert project.snapshot() == before


def test_a_failed_training_says_how_to_get_the_last_good_outputs_back(reproduced_copy):
    """DVC removes train@cnn_sgd's outputs before it runs; a divergence then loses
    them from the workspace. The message's commands bring back the same bytes."""
    project = reproduced_copy
    cached, committed = outputs.of_stage("train@cnn_sgd")
    before = {str(p): project.snapshot()[str(p)] for p in [*cached, *committed]}
    project.set_params({"models.cnn_sgd.optimizer": {"SGD": {"learning_rate": 1.0e12}}})
    result = project.repro("train@cnn_sgd", check=False)
    [message] = error_lines(result)
    assert "model cnn_sgd diverged" in message
    assert not (project.path / paths.model("cnn_sgd")).exists()
    assert re.findall(r"`([^`]+)`", message) == ["dvc checkout train@cnn_sgd"]
    project.git("checkout", "params.yaml")
    project.dvc("checkout", "train@cnn_sgd")
    after = project.snapshot()
    assert {path: after.get(path) for path in before} == before


@pytest.mark.parametrize("command", [("status",), ("repro", "--dry")])
def test_an_unknown_model_name_on_the_command_line_is_one_line(reproduced_copy, command):
    """DVC's own answer for a stage that does not exist: no traceback."""
    result = reproduced_copy.dvc(*command, "train@lenet", check=False)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "train@lenet" in result.stderr


@pytest.mark.slow
def test_a_layers_argument_is_one_experiment_away(reproduced_copy):
    """DVC's -S grammar takes a list index as a dotted key (`layers.1`, not `layers[1]`):
    a layer's width is an experiment like any other param."""
    from harness import experiments

    project = reproduced_copy
    project.dvc("exp", "run", "-n", "wider", "-S", "models.quickstart.layers.1.Dense.units=64")
    [data] = experiments(project)["wider"]
    block = data["params"]["params.yaml"]["data"]["models"]["quickstart"]
    assert block["layers"][1] == {"Dense": {"units": 64, "activation": "relu"}}
    figures = data["metrics"]["metrics/quickstart.json"]["data"]
    assert figures["trainable_params"] == 784 * 64 + 64 + 64 * 10 + 10
