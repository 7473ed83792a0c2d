"""The warm start (stages/tools/warm/server.py): a stage forked from a process that imported
TensorFlow gives the bytes a fresh process gives, many stages through one server never
hang, nothing is left running after a run, a stopped stage takes its child along, and
MNIST_ZOO_WARM=0 turns it off. Each test has its own server (its own runtime folder)."""

from __future__ import annotations

import concurrent.futures
import json
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from harness import ENV, ROOT, TIMING_KEYS, run

STAGE_FILES = ("models/quickstart.keras", "metrics/quickstart.json",
               "plots/quickstart/confusion.csv", "plots/quickstart/confusion.png",
               "plots/quickstart/predictions.png", "metrics/train/quickstart.json",
               "metrics/history/quickstart.csv")


@pytest.fixture
def runtime() -> Path:
    """A runtime folder of this test's own (short: a socket's path takes 107 bytes)."""
    folder = Path(tempfile.mkdtemp(prefix="warm", dir="/tmp"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def stage_dir(trained, tmp_path) -> Path:
    """A private copy of the trained workspace to run stage commands in."""
    copy = tmp_path / "workspace"
    shutil.copytree(trained, copy)
    return copy


def environment(runtime: Path, **settings: str) -> dict:
    return {**ENV, "PYTHONPATH": str(ROOT), "XDG_RUNTIME_DIR": str(runtime), **settings}


def stage(directory: Path, env: dict, *args: str, check: bool = True,
          timeout: float = 300) -> subprocess.CompletedProcess:
    return run([sys.executable, "-m", *args], directory, check=check, env=env, timeout=timeout)


def servers(runtime: Path) -> list[int]:
    """The warm start servers whose socket is under `runtime` (not their children, which
    are forks of them with the same command line)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                command = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"stages.tools.warm.server" in command and any(
                    str(runtime).encode() in part for part in command):
                found.append(int(entry.name))
    return [pid for pid in found if parent(pid) not in found]


def parent(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except OSError:
        return None


def children(pid: int) -> list[int]:
    """The processes `pid` forked (its stages)."""
    try:
        return [int(child) for child in
                Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def gone_within(seconds: float, check) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not check():
            return True
        time.sleep(0.2)
    return False


def outputs(directory: Path) -> dict[str, bytes]:
    found = {}
    for name in STAGE_FILES:
        data = (directory / name).read_bytes()
        if name.endswith(".json"):
            figures = {k: v for k, v in json.loads(data).items() if k not in TIMING_KEYS}
            data = json.dumps(figures, sort_keys=True).encode()
        found[name] = data
    return found


def test_a_forked_stage_gives_the_bytes_of_a_fresh_process(stage_dir, tmp_path, runtime):
    cold = environment(runtime, MNIST_ZOO_WARM="0")
    warm = environment(runtime)
    for args in (("stages.pipeline.train", "quickstart"), ("stages.pipeline.evaluate",
                                                         "quickstart")):
        stage(stage_dir, cold, *args)
    fresh = outputs(stage_dir)
    assert not servers(runtime)
    for args in (("stages.pipeline.train", "quickstart"), ("stages.pipeline.evaluate",
                                                         "quickstart")):
        result = stage(stage_dir, warm, *args)
        assert "Traceback" not in result.stderr and result.stderr == "", result.stderr
    assert servers(runtime), "the stages did not go through a warm server"
    assert outputs(stage_dir) == fresh


def test_many_stages_through_one_server_never_hang(stage_dir, tmp_path, runtime):
    """TensorFlow and fork: 18 stages, three at a time, each done in bounded time with
    the same figures."""
    env = environment(runtime)
    stage(stage_dir, env, "stages.pipeline.evaluate", "quickstart")
    expected = json.loads((stage_dir / "metrics/quickstart.json").read_text())["test_accuracy"]
    copies = []
    for index in range(3):  # a directory each: the three run at once
        copy = tmp_path / f"copy{index}"
        shutil.copytree(stage_dir, copy)
        copies.append(copy)

    def evaluate(index: int) -> float:
        directory = copies[index % 3]
        stage(directory, env, "stages.pipeline.evaluate", "quickstart", timeout=120)
        return json.loads((directory / "metrics/quickstart.json").read_text())["test_accuracy"]

    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        found = list(pool.map(evaluate, range(18)))
    assert found == [expected] * 18
    assert len(servers(runtime)) == 1


def test_nothing_is_left_running_after_a_run(stage_dir, tmp_path, runtime):
    stage(stage_dir, environment(runtime, MNIST_ZOO_WARM_IDLE="2"), "stages.pipeline.evaluate",
          "quickstart")
    [server] = servers(runtime)
    assert gone_within(10, lambda: server in servers(runtime)), "idle server still running"
    assert list(runtime.glob("*/*.sock")) == []


def test_a_stopped_stage_takes_its_child_along(stage_dir, tmp_path, runtime):
    """Ctrl-C reaches the stage (exit 130, one line); a killed command's stage is killed."""
    env = environment(runtime)
    recipe = stage_dir / "data/validated/train/cnn_sgd.json"
    recipe.write_text(json.dumps({**json.loads(recipe.read_text()), "epochs": 50}))
    for how in (signal.SIGINT, signal.SIGKILL):
        process = subprocess.Popen([sys.executable, "-m", "stages.pipeline.train", "cnn_sgd"],
                                   cwd=stage_dir, env=env, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True)
        for line in process.stdout:
            if " epoch 1/50" in line:
                break
        [server] = servers(runtime)
        [child] = children(server)
        process.send_signal(how)
        _, stderr = process.communicate(timeout=60)
        assert gone_within(10, lambda c=child, s=server: c in children(s)), f"{how!r}: lives on"
        if how == signal.SIGINT:
            assert process.returncode == 130
            assert stderr.strip() == "interrupted: no output was written"
        else:
            assert process.returncode == -signal.SIGKILL


def test_the_switch_turns_it_off(stage_dir, tmp_path, runtime):
    result = stage(stage_dir, environment(runtime, MNIST_ZOO_WARM="0"),
                   "stages.pipeline.evaluate", "quickstart")
    assert result.stdout.startswith("evaluate@quickstart: test accuracy")
    assert not servers(runtime) and not list(runtime.glob("*/*.sock"))
