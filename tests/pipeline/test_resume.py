"""Training killed anywhere ends where an uninterrupted run ends: the same bytes.

`dvc repro` is killed (SIGKILL to its whole process group, warm start on, as a closed
laptop or a preempted machine does it) right after a model prints an epoch line; the
next `dvc repro` resumes that model from its last finished epoch. A fit model with
dropout and a gradient-tape model with dropout, each killed once; every output then
equals a run never interrupted (times aside), `dvc status` is clean, no backup is left.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess

import pytest

from harness import BIN, ENV, TAPE_DROPOUT, Project, written

EPOCHS = 3
pytestmark = pytest.mark.slow  # a minute: three `dvc repro`s and an uninterrupted one


@pytest.fixture
def projects(reproduced, tmp_path) -> tuple[Project, Project]:
    """Two copies of one project: quickstart (fit, dropout) and tape_dropout, 3 epochs."""
    first = reproduced.copy(tmp_path / "uninterrupted")
    models = first.params()["models"]
    first.set_params({"models": {
        "quickstart": {**models["quickstart"], "epochs": EPOCHS},
        "tape_dropout": {**models["simple_dense"], **TAPE_DROPOUT, "epochs": EPOCHS}}})
    first.commit("two models that draw random numbers, three epochs each")
    return first, first.copy(tmp_path / "killed")


def repro_killed_after(project: Project, line: str) -> str:
    """`dvc repro`, killed (the whole process group) when it prints `line`; its output."""
    process = subprocess.Popen([BIN / "dvc", "repro"], cwd=project.path, env=ENV, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               start_new_session=True)
    seen = []
    for output in process.stdout:
        seen.append(output)
        if output.startswith(line):
            os.killpg(process.pid, signal.SIGKILL)
            break
    process.wait()
    assert process.returncode == -signal.SIGKILL, "".join(seen)
    return "".join(seen)


def test_a_killed_training_resumes_to_the_bytes_of_an_uninterrupted_one(projects):
    uninterrupted, killed = projects
    uninterrupted.repro()
    repro_killed_after(killed, f"train@quickstart epoch 2/{EPOCHS}")
    second = repro_killed_after(killed, f"train@tape_dropout epoch 2/{EPOCHS}")
    assert re.search(rf"resuming train@quickstart at epoch [23]/{EPOCHS} from ", second), second
    third = killed.repro().stdout
    assert re.search(rf"resuming train@tape_dropout at epoch [23]/{EPOCHS} from ", third), third
    assert "Running stage 'train@quickstart'" not in third  # finished in the second run
    assert killed.stale_stages() == set()
    assert not list((killed.path / ".dvc/tmp/resume").glob("*"))  # each backup removed
    mine, theirs = written(killed.path), written(uninterrupted.path)
    assert mine.keys() == theirs.keys()
    assert [name for name in mine if mine[name] != theirs[name]] == []
