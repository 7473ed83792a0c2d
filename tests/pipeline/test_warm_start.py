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
import yaml

from harness import ENV, ROOT, TAPE_DROPOUT, run, without_times, written

WARM_MODELS = ("quickstart", "tape_dropout")
STAGES = ("train", "evaluate", "export")


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


@pytest.fixture(scope="module")
def empty(workspace, tmp_path_factory) -> Path:
    """The prepared workspace with the two models validated and no output of any model
    stage: each run below starts from nothing, so a stage that writes nothing fails."""
    folder = tmp_path_factory.mktemp("empty") / "workspace"
    shutil.copytree(workspace, folder, ignore=shutil.ignore_patterns(
        "models", "metrics", "plots", "exports", "reports"))
    params = yaml.safe_load((folder / "params.yaml").read_text())
    quickstart = params["models"]["quickstart"]
    params["models"] = {"quickstart": quickstart,
                        "tape_dropout": {**params["models"]["simple_dense"], **TAPE_DROPOUT}}
    (folder / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    run([sys.executable, "-m", "stages.pipeline.validate"], folder,
        env={**ENV, "PYTHONPATH": str(ROOT), "MNIST_ZOO_WARM": "0"})
    return folder


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


def run_all(directory: Path, env: dict) -> None:
    for model in WARM_MODELS:
        for name in STAGES:
            result = stage(directory, env, f"stages.pipeline.{name}", model)
            assert "Traceback" not in result.stderr and result.stderr == "", result.stderr


def test_a_forked_stage_gives_the_bytes_of_a_fresh_process(empty, tmp_path, runtime):
    """Train, evaluate and export of a fit model and a gradient-tape model, both with
    dropout, from empty outputs: cold (a fresh process each) in one copy, warm (forked
    from the server) in another; every file the same bytes, times aside."""
    cold_dir, warm_dir = tmp_path / "cold", tmp_path / "warm"
    shutil.copytree(empty, cold_dir)
    shutil.copytree(empty, warm_dir)
    run_all(cold_dir, environment(runtime, MNIST_ZOO_WARM="0"))
    assert not servers(runtime)
    run_all(warm_dir, environment(runtime))
    assert servers(runtime), "the stages did not go through a warm server"
    cold, warm = written(cold_dir), written(warm_dir)
    for model in WARM_MODELS:
        assert f"models/{model}.keras" in cold and f"metrics/{model}.json" in cold
        assert f"exports/{model}/1/model.onnx" in cold
    assert sorted(warm) == sorted(cold)
    assert [name for name in cold if warm[name] != cold[name]] == []


# The stage as `python -m` runs it, on a machine whose platform the warm start reads as
# macOS (TensorFlow itself cannot be told so: it would not import).
NOT_LINUX = ("import runpy, sys; from stages.tools.warm import client; "
             "client.PLATFORM = 'darwin'; module = sys.argv[1]; sys.argv = sys.argv[1:]; "
             "runpy.run_module(module, run_name='__main__', alter_sys=True)")


def test_where_the_warm_start_cannot_run_a_stage_runs_plainly_with_the_same_bytes(
        empty, tmp_path, runtime):
    """A platform without Linux's prctl (forced: the warm start reads the platform as
    macOS): no server, one line saying so, and the bytes a warm stage gives."""
    plain_dir, warm_dir = tmp_path / "plain", tmp_path / "warm"
    shutil.copytree(empty, plain_dir)
    shutil.copytree(empty, warm_dir)
    for name in ("train", "evaluate"):
        result = run([sys.executable, "-c", NOT_LINUX, f"stages.pipeline.{name}",
                      "quickstart"], plain_dir, env=environment(runtime))
        assert result.stderr == ("warm start: off on darwin (it needs Linux); this stage "
                                 "imports TensorFlow itself\n")
    assert not servers(runtime)
    for name in ("train", "evaluate"):
        stage(warm_dir, environment(runtime), f"stages.pipeline.{name}", "quickstart")
    assert servers(runtime)
    plain, warm = written(plain_dir), written(warm_dir)
    assert "models/quickstart.keras" in plain and "metrics/quickstart.json" in plain
    assert plain == warm


def test_many_stages_through_one_server_never_hang(stage_dir, tmp_path, runtime):
    """TensorFlow and fork: 18 stages, three at a time (a copy each), each in bounded
    time, each writing into a copy whose evaluation outputs were removed first, each
    the figures a fresh process gives."""
    cold = tmp_path / "cold"
    shutil.copytree(stage_dir, cold)
    stage(cold, environment(runtime, MNIST_ZOO_WARM="0"), "stages.pipeline.evaluate",
          "quickstart")
    expected = json.loads((cold / "metrics/quickstart.json").read_text())
    env = environment(runtime)

    def evaluate_six_times(index: int) -> list[dict]:
        directory = tmp_path / f"copy{index}"
        shutil.copytree(stage_dir, directory)
        found = []
        for _ in range(6):
            for name in ("metrics/quickstart.json", "metrics/quickstart.per_class.json"):
                (directory / name).unlink(missing_ok=True)
            stage(directory, env, "stages.pipeline.evaluate", "quickstart", timeout=120)
            found.append(json.loads((directory / "metrics/quickstart.json").read_text()))
        return found

    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        found = [figures for run in pool.map(evaluate_six_times, range(3)) for figures in run]
    assert len(found) == 18
    assert [without_times(f) for f in found] == [without_times(expected)] * 18
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



FREEZE_PROBE = """
import gc
from stages.tools.warm import client


def main():
    from stages.modeling import backend

    backend.start([1, 2])
    print(gc.get_freeze_count())


if __name__ == "__main__":
    client.run(__spec__.name, main)
"""


def test_a_stage_finds_tensorflows_objects_frozen_warm_or_plain(tmp_path, runtime):
    """A stage's `backend.start` freezes what is loaded (gc.freeze), forked or not: its
    full collections pass TensorFlow's objects by (0.15-0.2 s each, docs/benchmarks.md)."""
    (tmp_path / "freeze_probe.py").write_text(FREEZE_PROBE)
    warm = stage(tmp_path, environment(runtime), "freeze_probe")
    plain = stage(tmp_path, environment(runtime, MNIST_ZOO_WARM="0"), "freeze_probe")
    assert int(warm.stdout) > 100_000 and int(plain.stdout) > 100_000
