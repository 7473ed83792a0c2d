"""Sweeps that search (`stages.sweep --search`), end to end on Ray's multi-node test
cluster: Optuna's TPE with ASHA early stopping, every finished trial a DVC experiment
that comes home once, the stopped ones only in the report, a layer width searched
through -S, a driver killed and resumed, bad search spaces refused."""

from __future__ import annotations

import re
import signal
import subprocess
import sys

import pytest

from harness import ENV, ROOT, error_lines, experiments, run
from services import TOKEN

QS = "models.quickstart"


@pytest.fixture
def team(reproduced, tmp_path):
    """The user's clone (committed results), its bare git remote and a directory DVC
    remote holding the run-cache (as tests/servers/test_sweep.py's)."""
    origin = tmp_path / "origin.git"
    run(["git", "init", "-q", "--bare", "-b", "main", origin], tmp_path)
    project = reproduced.copy(tmp_path / "user")
    project.dvc("remote", "add", "-d", "storage", tmp_path / "dvc-remote")
    project.commit("the team's DVC remote")
    project.git("remote", "add", "origin", str(origin))
    project.git("push", "-q", "origin", "HEAD:refs/heads/main")
    project.dvc("push", "--run-cache")
    return project


def sweep_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "stages.sweep", *args]


def env(tmp_path) -> dict:
    return {**ENV, **TOKEN, "MNIST_ZOO_SWEEP_DIR": str(tmp_path / "nodes"),
            "PYTHONPATH": str(ROOT), "TUNE_GLOBAL_CHECKPOINT_S": "1"}


SPACE = ["-S", f"{QS}.optimizer.Adam.learning_rate=choice(0.001, 0.003, 10.0)",
         "-S", f"{QS}.layers[1].Dense.units=choice(16, 64)", "-S", f"{QS}.epochs=3"]


def swept(data: dict) -> tuple[float, int]:
    block = data["params"]["params.yaml"]["data"]["models"]["quickstart"]
    return block["optimizer"]["Adam"]["learning_rate"], block["layers"][1]["Dense"]["units"]


@pytest.mark.slow
def test_tpe_with_asha_stops_the_hopeless_and_brings_the_rest_home(team, cluster, tmp_path):
    result = run(sweep_command("--search", "tpe", "--trials", "6", "--early-stop", "asha",
                               "--concurrent", "2", "--address", cluster.address, *SPACE),
                 team.path, env=env(tmp_path), check=False, timeout=1500)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    done = re.findall(r"sweep: done (sweep-\w+-\w+)", result.stdout)
    stopped = re.findall(r"sweep: stopped (\S+) early at epoch (\d)", result.stdout)
    failed = re.findall(r"sweep: FAILED (\S+)", result.stdout)
    assert len(done) + len(stopped) + len(failed) == 6, result.stdout
    assert stopped and all(int(epoch) < 3 for _, epoch in stopped), result.stdout
    found = experiments(team)
    names = sorted(name for name in found if name.startswith("sweep-"))
    assert names == sorted(done) and all(len(found[name]) == 1 for name in names)
    for name in names:  # each with its params, the searched layer width among them
        rate, units = swept(found[name][0])
        assert rate in (0.001, 0.003, 10.0) and units in (16, 64)
        assert "metrics/quickstart.json" in found[name][0]["metrics"]
    sweep_id = done[0].split("-")[1]
    report = (team.path / f"reports/sweeps/{sweep_id}.md").read_text()
    assert "### Stopped early (not experiments)" in report
    assert all(done_name in report for done_name in done)
    assert (team.path / f"reports/sweeps/{sweep_id}.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.slow
def test_a_killed_driver_resumes_and_runs_only_what_was_missing(team, cluster, tmp_path):
    arguments = sweep_command("--search", "random", "--trials", "4", "--concurrent", "2",
                              "--address", cluster.address, *SPACE[:4], "-S", f"{QS}.epochs=1")
    process = subprocess.Popen(arguments, cwd=team.path, env=env(tmp_path), text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    first = []
    for line in process.stdout:
        first.append(line)
        if sum(line.startswith("sweep: done") for line in first) == 2:
            process.send_signal(signal.SIGKILL)  # the laptop's lid closes
            break
    process.wait(timeout=60)
    result = run([*arguments, "--resume"], team.path, env=env(tmp_path), check=False,
                 timeout=1500)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    trained_again = re.findall(r"sweep: done (\S+) \(trained\)", result.stdout)
    assert len(trained_again) <= 2, result.stdout  # the two finished ones are not retrained
    names = [name for name in experiments(team) if name.startswith("sweep-")]
    assert len(names) == 4 and len(set(names)) == 4


def test_bad_search_spaces_are_refused_before_anything_is_scheduled(team, tmp_path):
    for space, message in (
        ([f"{QS}.epoch=choice(1, 2)"], f"unknown key {QS}.epoch (did you mean 'epochs'?)"),
        ([f"{QS}.batch_size=choice(0, 32)"], f"{QS}.batch_size must be greater than 0"),
        ([f"{QS}.optimizer.Adam.learning_rate=interval(a, b)"], "learning_rate"),
        ([f"{QS}.batch_size=choice(32, 64)", "models.cnn_sgd.batch_size=choice(32, 64)"],
         "a search changes one model's block"),
        ([f"{QS}.layers[1].Dense.units=choice(64, -1)"], "units must be greater than 0"),
    ):
        args = [arg for item in space for arg in ("-S", item)]
        result = run(sweep_command("--search", "tpe", "--trials", "2", *args), team.path,
                     env=env(tmp_path), check=False, timeout=120)
        assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
        [line] = error_lines(result)
        assert message in line, line
    assert not (tmp_path / "nodes").exists()  # nothing reached Ray
