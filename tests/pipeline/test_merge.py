"""Branches that merge without a hand (stages/merge.py, .gitattributes): two branches that
changed different models merge, rebase and cherry-pick with no conflict, and one plain
`dvc repro` after trains nothing, leaves `dvc status` clean and keeps each branch's
metrics; when both changed the same model, the one conflict is in params.yaml; a clone
that skipped the set-up merges line by line, as git does by default."""

from __future__ import annotations

import sys

import pytest

from harness import Project

TRAINING = ("train@", "evaluate@", "export@")


def install(project: Project) -> None:
    project.python("-m", "stages.merge", "install")


def branch(project: Project, name: str, changes: dict, start: str = "main") -> None:
    """A branch off `start` with `changes` to params.yaml, reproduced and committed."""
    project.git("checkout", "-q", "-b", name, start)
    project.set_params(changes)
    project.repro()
    project.commit(f"{name}: {changes}")


def conflicts(project: Project) -> set[str]:
    return set(project.git("diff", "--name-only", "--diff-filter=U").stdout.split())


def trains_nothing_and_ends_clean(project: Project) -> None:
    after = project.repro()
    assert not {stage for stage in after.ran if stage.startswith(TRAINING)}, after.ran
    assert project.status() == {}


@pytest.fixture
def two_branches(reproduced_copy) -> Project:
    """main trained; `a` gives simple_dense 2 epochs, `b` gives quickstart 2 epochs."""
    project = reproduced_copy
    install(project)
    branch(project, "a", {"models.simple_dense.epochs": 2})
    branch(project, "b", {"models.quickstart.epochs": 2})
    project.git("checkout", "-q", "a")
    return project


def test_branches_that_changed_different_models_merge_and_report(two_branches):
    """The merge needs no hand; `stages.compare` then reports the merged branch against
    main, and against a commit with no results in one line."""
    project = two_branches
    merged = project.git("merge", "--no-edit", "b", check=False)
    assert merged.returncode == 0 and conflicts(project) == set(), merged.stdout
    trains_nothing_and_ends_clean(project)
    epochs = {m: project.read_json(f"metrics/{m}.json")["epochs"]
              for m in ("cnn_sgd", "quickstart", "simple_dense")}
    assert epochs == {"cnn_sgd": 1, "quickstart": 2, "simple_dense": 2}  # each branch's own
    project.commit("merged, reproduced")

    (project.path / ".dvc/tmp/runs.jsonl").unlink()  # as a clone that ran none of it
    report = project.python("-m", "stages.compare", "main").stdout
    lines = report.splitlines()
    assert lines[1] == "## mnist-zoo: this branch against `main`"
    [simple] = [line for line in lines if line.startswith("| `simple_dense` |")]
    old, new = (project.json_at("main", "metrics/simple_dense.json"),
                project.read_json("metrics/simple_dense.json"))
    change = 100 * (new["test_accuracy"] - old["test_accuracy"])
    assert f"{100 * old['test_accuracy']:.2f}% → {100 * new['test_accuracy']:.2f}%" in simple
    assert (f"{'▲' if change > 0 else '▼'} {change:+.2f} pp" in simple if round(change, 2)
            else "| = |" in simple)
    assert "| `cnn_sgd` |" in report and "- `models.simple_dense.epochs`: 1 → 2" in report
    assert "- `models.quickstart.epochs`: 1 → 2" in report
    assert "- ran here: none" in report and "`train@quickstart`" in report
    for model in ("quickstart", "simple_dense"):
        picture = project.path / "reports/compare" / f"{model}.png"
        assert picture.read_bytes()[:4] == b"\x89PNG" and f"`{model}`: `" in report
    assert not (project.path / "reports/compare/cnn_sgd.png").exists()  # not retrained

    first = project.git("rev-list", "--max-parents=0", "HEAD").stdout.strip()  # no results
    [line] = [line for line in project.python("-m", "stages.compare", first).stdout.splitlines()
              if "no results" in line]
    assert line.startswith(f"{first} has no results to compare with")


@pytest.mark.slow
@pytest.mark.parametrize("how", ["rebase", "cherry-pick"])
def test_a_rebase_and_a_cherry_pick_need_no_hand_either(two_branches, how):
    project = two_branches
    args = ["rebase", "b"] if how == "rebase" else ["cherry-pick", "b"]
    done = project.git(*args, check=False)
    assert done.returncode == 0 and conflicts(project) == set(), done.stdout + done.stderr
    trains_nothing_and_ends_clean(project)
    assert project.read_json("metrics/quickstart.json")["epochs"] == 2
    assert project.read_json("metrics/simple_dense.json")["epochs"] == 2


def test_the_same_model_changed_twice_conflicts_in_params_yaml_alone(reproduced_copy):
    project = reproduced_copy
    install(project)
    branch(project, "two", {"models.quickstart.epochs": 2})
    branch(project, "three", {"models.quickstart.epochs": 3})
    merged = project.git("merge", "--no-edit", "two", check=False)
    assert merged.returncode != 0
    assert conflicts(project) == {"params.yaml"}  # the person's decision, nothing else
    project.git("checkout", "--ours", "params.yaml")  # they keep three's 3 epochs
    project.commit("merge two: quickstart keeps 3 epochs")
    trains_nothing_and_ends_clean(project)  # three's run comes from the run-cache
    assert project.read_json("metrics/quickstart.json")["epochs"] == 3


@pytest.mark.slow
def test_a_clone_without_the_set_up_merges_line_by_line(two_branches, tmp_path):
    """What `install` turns on: without it, dvc.lock and the report conflict as they do
    in any DVC project; with it, nothing does."""
    project = two_branches
    for driver in ("dvc-lock", "pipeline-output"):  # as in a clone that skipped it
        project.git("config", "--remove-section", f"merge.{driver}")
    merged = project.git("merge", "--no-edit", "b", check=False)
    assert merged.returncode != 0 and "dvc.lock" in conflicts(project)
    project.git("merge", "--abort")
    install(project)
    assert project.git("merge", "--no-edit", "b", check=False).returncode == 0
    assert sys.executable in project.git("config", "merge.dvc-lock.driver").stdout
