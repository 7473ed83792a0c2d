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


def sweep_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "stages.sweep", *args]


def env(tmp_path) -> dict:
    return {**ENV, **TOKEN, "MNIST_ZOO_NODE_DIR": str(tmp_path / "nodes"),
            "PYTHONPATH": str(ROOT), "TUNE_GLOBAL_CHECKPOINT_S": "1"}


SPACE = ["-S", f"{QS}.optimizer.Adam.learning_rate=choice(0.001, 0.003, 10.0)",
         "-S", f"{QS}.layers[1].Dense.units=choice(16, 64)", "-S", f"{QS}.epochs=3"]


def swept(data: dict) -> tuple[float, int]:
    block = data["params"]["params.yaml"]["data"]["models"]["quickstart"]
    return block["optimizer"]["Adam"]["learning_rate"], block["layers"][1]["Dense"]["units"]


@pytest.mark.slow
def test_tpe_with_asha_stops_the_hopeless_resumes_and_brings_the_rest_home(team, cluster,
                                                                           tmp_path):
    """Six trials of TPE with ASHA over a space with a hopeless region (Adam at 10); the
    driver is killed after two trials end (a laptop's lid closing) and started again
    with --resume."""
    project = team["project"]
    arguments = sweep_command("--search", "tpe", "--trials", "6", "--early-stop", "asha",
                              "--concurrent", "2", "--address", cluster.address, *SPACE)
    process = subprocess.Popen(arguments, cwd=project.path, env=env(tmp_path), text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    first = []
    for line in process.stdout:
        first.append(line)
        if sum(line.startswith(("sweep: done", "sweep: stopped")) for line in first) == 2:
            process.send_signal(signal.SIGKILL)
            break
    process.wait(timeout=60)
    result = run([*arguments, "--resume"], project.path, env=env(tmp_path), check=False,
                 timeout=1500)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    before, after = "".join(first), result.stdout
    ended = {name for text in (before, after) for name in re.findall(
        r"sweep: (?:done|stopped|FAILED) (sweep-[0-9a-f]+-[0-9a-f]+)", text)}
    assert len(ended) == 6, before + after
    stopped = re.findall(r"sweep: stopped (\S+) early at epoch (\d)", before + after)
    assert stopped and all(int(epoch) < 3 for _, epoch in stopped), before + after
    done = sorted({*re.findall(r"sweep: done (\S+)", before + after)})
    first_done = set(re.findall(r"sweep: done (\S+)", before))
    trained_again = set(re.findall(r"sweep: done (\S+) \(trained\)", after))
    assert not first_done & trained_again, "a trial finished before the kill trained again"

    found = experiments(project)
    names = sorted(name for name in found if name.startswith("sweep-"))
    assert names == done and all(len(found[name]) == 1 for name in names)
    for name in names:  # each with its params, the searched layer width among them
        rate, units = swept(found[name][0])
        assert rate in (0.001, 0.003, 10.0) and units in (16, 64)
        assert "metrics/quickstart.json" in found[name][0]["metrics"]
    sweep_id = done[0].split("-")[1]
    report = (project.path / f"reports/sweeps/{sweep_id}.md").read_text()
    assert "### Stopped early (not experiments)" in report
    assert all(name in report for name in done) and all(n in report for n, _ in stopped)
    assert (project.path / f"reports/sweeps/{sweep_id}.png").read_bytes()[:4] == b"\x89PNG"

    # The best trial's model, without training: its experiment and the team's DVC remote.
    best = max(names, key=lambda name: found[name][0]["metrics"]
               ["metrics/train/quickstart.json"]["data"]["val_accuracy"])
    project.dvc("exp", "apply", best)
    project.dvc("pull")
    assert project.stale_stages() == set()


def test_bad_search_spaces_are_refused_before_anything_is_scheduled(team, tmp_path):
    project = team["project"]
    for space, message in (
        ([f"{QS}.epoch=choice(1, 2)"], f"unknown key {QS}.epoch (did you mean 'epochs'?)"),
        ([f"{QS}.batch_size=choice(0, 32)"], f"{QS}.batch_size must be greater than 0"),
        ([f"{QS}.optimizer.Adam.learning_rate=interval(a, b)"], "learning_rate"),
        ([f"{QS}.batch_size=choice(32, 64)", "models.cnn_sgd.batch_size=choice(32, 64)"],
         "a search changes one model's block"),
        ([f"{QS}.layers[1].Dense.units=choice(64, -1)"], "units must be greater than 0"),
    ):
        args = [arg for item in space for arg in ("-S", item)]
        result = run(sweep_command("--search", "tpe", "--trials", "2", *args), project.path,
                     env=env(tmp_path), check=False, timeout=120)
        assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
        [line] = error_lines(result)
        assert message in line, line
    assert not (tmp_path / "nodes").exists()  # nothing reached Ray
