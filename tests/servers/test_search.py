"""Sweeps that search (`stages.sweep --search`), end to end on Ray's multi-node test
cluster: Optuna's TPE with ASHA early stopping, every finished trial a DVC experiment
that comes home once, the stopped ones only in the report, a layer width searched
through -S, a driver killed and resumed, bad search spaces refused."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from harness import ENV, ROOT, error_lines, experiments, processes_in, run
from services import TOKEN

QS = "models.quickstart"


def sweep_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "stages.sweep", *args]


def env(tmp_path) -> dict:
    return {**ENV, **TOKEN, "MNIST_ZOO_NODE_DIR": str(tmp_path / "nodes"),
            "PYTHONPATH": str(ROOT), "TUNE_GLOBAL_CHECKPOINT_S": "1"}


def parent(pid: str) -> int | None:
    """The parent of process `pid` (None if it is gone)."""
    with contextlib.suppress(OSError):
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    return None


SPACE = ["-S", f"{QS}.optimizer.Adam.learning_rate=choice(0.001, 0.003, 10.0)",
         "-S", f"{QS}.layers[1].Dense.units=choice(16, 64)", "-S", f"{QS}.epochs=3"]


def swept(data: dict) -> tuple[float, int]:
    block = data["params"]["params.yaml"]["data"]["models"]["quickstart"]
    return block["optimizer"]["Adam"]["learning_rate"], block["layers"][1]["Dense"]["units"]


@pytest.mark.slow
def test_tpe_with_asha_stops_the_hopeless_resumes_and_brings_the_rest_home(team, cluster,
                                                                           tmp_path):
    """Six trials of TPE with ASHA over a space with a hopeless region (Adam at 10); the
    driver is killed (a laptop's lid closing) after two trials end, while a third is
    between epochs, and started again with --resume: that trial resumes its epoch, and
    ASHA still knows the figures at its rungs from before the kill.

    ASHA stops a trial only against figures already at its rung, so the first trial at
    a rung always goes on: seed 20 draws two good trials first, then three hopeless ones
    among the last four (seed 0 drew a hopeless one second, and it went on when it beat
    its partner to epoch 1)."""
    project = team["project"]
    arguments = sweep_command("--search", "tpe", "--trials", "6", "--early-stop", "asha",
                              "--seed", "20", "--concurrent", "2", "--address",
                              cluster.address, *SPACE)
    process = subprocess.Popen(arguments, cwd=project.path, env=env(tmp_path), text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    first: list[str] = []
    reader = threading.Thread(target=lambda: first.extend(process.stdout), daemon=True)
    reader.start()
    nodes = Path(os.environ["MNIST_ZOO_NODE_DIR"])  # the cluster's, set by its fixture

    def between_epochs() -> set[str]:  # unfinished trials with a backup on their node
        ended = set(re.findall(r"sweep: (?:done|stopped|FAILED) (\S+)", "".join(first)))
        backups = nodes.glob("resume/*/train@quickstart/progress.json")
        return {path.parents[1].name for path in backups} - ended if len(ended) >= 2 else set()

    while process.poll() is None and not between_epochs():
        time.sleep(0.02)
    # The lid closes: the driver and the Ray workers running trials die at once.
    trials = [pid for pid, command in processes_in(nodes).items() if " exp run " in command]
    for pid in {process.pid, *map(parent, trials)} - {None}:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
    process.wait(timeout=60)
    reader.join(timeout=60)
    backed_up = between_epochs()
    assert backed_up, "".join(first)
    result = run([*arguments, "--resume"], project.path, env=env(tmp_path), check=False,
                 timeout=1500)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    before, after = "".join(first), result.stdout
    ended = {name for text in (before, after) for name in re.findall(
        r"sweep: (?:done|stopped|FAILED) (sweep-[0-9a-f]+-[0-9a-f]+)", text)}
    assert len(ended) == 6, before + after
    stopped = re.findall(r"sweep: stopped (\S+) early at epoch (\d)", before + after)
    # The three hopeless trials stop at a rung below the last, bar one whose stop the kill
    # cut between ASHA's decision and Ray Tune's record of it (it then trains to the end).
    assert len({name for name, _ in stopped}) >= 2, before + after
    assert all(int(epoch) < 3 for _, epoch in stopped), before + after
    done = sorted({*re.findall(r"sweep: done (\S+)", before + after)})
    first_done = set(re.findall(r"sweep: done (\S+)", before))
    trained_again = set(re.findall(r"sweep: done (\S+) \(trained\)", after))
    assert not first_done & trained_again, "a trial finished before the kill trained again"
    resumed = set(re.findall(r"sweep: (?:done|stopped) (\S+) .*resumed at epoch [23]", after))
    assert backed_up <= resumed, after  # each between epochs at the kill resumed its epoch

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


def test_asha_remembers_its_rungs_across_a_resume(tmp_path):
    """Ray Tune restores a resumed search's scheduler as it was created (its rungs empty):
    the kept rungs make the resumed ASHA stop a hopeless trial against a figure reached
    before the kill, where a forgetful one lets the first trial at a rung go on."""
    from types import SimpleNamespace

    from ray.tune.schedulers import TrialScheduler

    from stages.tools.sweeps.rungs import KeptASHA

    def scheduler() -> KeptASHA:
        return KeptASHA(kept=str(tmp_path / "rungs.json"), time_attr="epoch",
                        metric="val_accuracy", mode="max", max_t=3, grace_period=1,
                        reduction_factor=3)

    good, hopeless = SimpleNamespace(trial_id="good"), SimpleNamespace(trial_id="hopeless")
    before = scheduler()
    before.on_trial_add(None, good)
    assert before.on_trial_result(None, good, {"epoch": 1, "val_accuracy": 0.9}) == \
        TrialScheduler.CONTINUE
    resumed = scheduler()  # the driver killed; Ray Tune unpickles the scheduler it began with
    resumed.on_trial_add(None, hopeless)
    assert resumed.on_trial_result(None, hopeless, {"epoch": 1, "val_accuracy": 0.1}) == \
        TrialScheduler.STOP


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
