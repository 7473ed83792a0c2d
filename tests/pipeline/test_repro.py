"""`python -m stages.repro`: independent stages side by side in the workspace, with the
outputs, dvc.lock and the run-cache ending exactly as a plain `dvc repro` of the same
commit leaves them."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys

import pytest
import yaml

from harness import ENV, MODELS, ROOT, TIMED, Project, processes_in, run

TRAIN = {f"train@{m}" for m in MODELS}
EVALUATE = {f"evaluate@{m}" for m in MODELS}


def repro(project: Project, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    return run([sys.executable, "-m", "stages.repro", *args], project.path, check=check,
               env={**ENV, "PYTHONPATH": str(ROOT)}, timeout=900)


def outputs(project: Project) -> dict[str, str]:
    return {path: digest for path, digest in project.snapshot().items()
            if path.startswith(("models/", "metrics/", "plots/", "reports/", "data/"))}


def lock_stages(project: Project) -> list[str]:
    return list(yaml.safe_load((project.path / "dvc.lock").read_text())["stages"])


def test_a_lock_file_a_killed_dvc_left_unreadable_is_reset(reproduced_copy):
    """DVC rewrites .dvc/tmp/rwlock in place: a kill mid-write leaves it empty, and every
    plain DVC command fails on it after (treeverse/dvc#7615; one of 20 kills found it)."""
    rwlock = reproduced_copy.path / ".dvc/tmp/rwlock"
    rwlock.write_text("")
    refused = reproduced_copy.repro(check=False)
    assert refused.returncode and "rwlock" in refused.stderr  # DVC's own behaviour
    result = repro(reproduced_copy)
    assert "repro: .dvc/tmp/rwlock was left unreadable by a killed DVC command" in result.stdout
    assert result.stdout.splitlines()[-1].startswith("repro: 0 ran")
    assert reproduced_copy.repro(check=False).returncode == 0


@pytest.mark.slow
def test_side_by_side_gives_what_a_plain_repro_gives(reproduced, reproduced_data, tmp_path):
    """Same bytes in every output (timing figures aside), the same dvc.lock, nothing stale
    after, and a run-cache from which a teammate's `dvc repro --pull` restores it all."""
    project = Project.create(tmp_path / "project", reproduced_data["url"],
                             reproduced_data["sha256"])
    result = repro(project, "--jobs", "2")
    lines = result.stdout.splitlines()
    for model in MODELS:  # each stage's own lines come through, between repro's
        for kind in ("train", "evaluate", "export"):
            assert f"repro: started {kind}@{model}  [" in result.stdout
            assert re.search(rf"^repro: done {kind}@{model} in \d+\.\ds  \[", result.stdout,
                             re.MULTILINE)
        assert re.search(rf"^train@{model}: val_accuracy \d\.\d{{4}} after 1 epoch",
                         result.stdout, re.MULTILINE)
    assert re.search(r"\[\d+ waiting, \d+ running, \d+ done\]", lines[1])
    assert not [line for line in lines if line.startswith(("Running stage", "Updating lock"))]
    assert lines[-1].startswith(f"repro: {4 + 3 * len(MODELS)} ran, 0 from the run-cache, "
                                "0 up to date, 0 failed")
    assert lock_stages(project) == lock_stages(reproduced)  # DVC's own order
    ours, theirs = project.lock_hashes(), reproduced.lock_hashes()
    assert {path for path in theirs if ours[path] != theirs[path]} <= TIMED
    mine, plain = outputs(project), outputs(reproduced)
    assert mine.keys() == plain.keys()
    assert {path for path in plain if mine[path] != plain[path]} <= TIMED
    assert project.status() == {}
    assert "up to date" in repro(project).stdout.splitlines()[-1]  # and a no-op is one

    project.dvc("remote", "add", "-d", "storage", tmp_path / "dvc-remote")
    project.dvc("push", "--run-cache")
    project.commit("results")
    clone = tmp_path / "clone"
    run(["git", "clone", "-q", project.path, clone], tmp_path)
    run(["git", "rm", "-q", "--cached", "dvc.lock"], clone)
    (clone / "dvc.lock").unlink()
    restored = Project(clone).repro("--pull")
    assert restored.restored >= TRAIN | EVALUATE | {"download", "prepare"}
    assert not restored.ran & (TRAIN | EVALUATE)


def test_an_up_to_date_workspace_runs_nothing(reproduced_copy):
    """DVC's own status decides: on a workspace a plain `dvc repro` left, nothing runs."""
    result = repro(reproduced_copy)
    total = 4 + 3 * len(MODELS)
    assert result.stdout.splitlines()[0] == f"repro: {total} stages, up to 2 at a time"
    assert result.stdout.splitlines()[-1].startswith(
        f"repro: 0 ran, 0 from the run-cache, {total} up to date")
    assert reproduced_copy.status() == {}


@pytest.mark.slow
def test_a_failing_model_is_named_and_the_others_finish(tmp_path, mirror):
    project = Project.create(tmp_path / "project", mirror["npz_url"], mirror["npz_sha256"],
                             models=["cnn_sgd", "quickstart"])
    project.set_params({"models.cnn_sgd.optimizer": {"SGD": {"learning_rate": 1.0e12}}})
    result = repro(project, "--jobs", "2", check=False)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    [line] = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert re.match(r"error: 1 stage\(s\) failed: train@cnn_sgd: error: model cnn_sgd "
                    r"diverged: loss became (nan|inf)", line), line
    assert "repro: FAILED train@cnn_sgd: error: model cnn_sgd diverged" in result.stdout
    kept = set(lock_stages(project))
    others = {f"{kind}@quickstart" for kind in ("train", "evaluate", "export")}
    assert others <= kept and not {"train@cnn_sgd", "evaluate@cnn_sgd", "export@cnn_sgd",
                                   "report"} & kept
    assert (project.path / "models/quickstart.keras").is_file()
    assert not (project.path / "models/cnn_sgd.keras").exists()
    assert project.stale_stages() == {"train@cnn_sgd", "evaluate@cnn_sgd", "export@cnn_sgd",
                                      "report"}


@pytest.mark.slow
def test_ctrl_c_stops_the_stages_and_keeps_what_finished(tmp_path, mirror):
    project = Project.create(tmp_path / "project", mirror["npz_url"], mirror["npz_sha256"],
                             models=["cnn_sgd", "quickstart"])
    process = subprocess.Popen([sys.executable, "-m", "stages.repro", "--jobs", "2"],
                               cwd=project.path, env={**ENV, "PYTHONPATH": str(ROOT)},
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen = []
    for line in process.stdout:
        seen.append(line)
        if line.startswith("repro: done train@"):  # one model finished, others running
            os.kill(process.pid, signal.SIGINT)
            break
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, "".join(seen) + stderr
    assert "interrupted: stopped the running stages" in stderr
    kept = lock_stages(project)
    assert {"validate", "download", "prepare"} <= set(kept) and set(kept) & TRAIN
    assert "report" not in kept
    assert not processes_in(project.path), "processes left running in the workspace"

    repro(project, "--jobs", "2")  # and again: it finishes
    assert project.status() == {}
    assert set(lock_stages(project)) == {"validate", "download", "prepare", "report", *(
        f"{kind}@{m}" for kind in ("train", "evaluate", "export") for m in ("cnn_sgd",
                                                                           "quickstart"))}
