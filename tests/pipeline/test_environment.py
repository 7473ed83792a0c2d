"""The library versions that can change results are a dependency of training and
evaluation, end to end with the real `dvc` CLI: a real other Keras release reruns
them and never reuses a run-cache entry made under another version; a pin of a
tool that cannot change results reruns nothing."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from harness import ENV, Project, error_lines
from services import unavailable

OTHER_KERAS = "3.15.0"  # the release before the pinned one: same API, another version


@pytest.fixture(scope="session")
def other_keras(tmp_path_factory):
    """A real install of another Keras release, put first on PYTHONPATH by the test."""
    target = tmp_path_factory.mktemp("keras-overlay")
    result = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                             "--target", str(target), f"keras=={OTHER_KERAS}"],
                            capture_output=True, text=True, check=False)
    if result.returncode:
        unavailable(f"cannot install keras=={OTHER_KERAS} from PyPI: "
                    f"{(result.stderr.strip().splitlines() or ['no message'])[-1]}")
    return target


def pin(project: Project, package: str, version: str) -> None:
    path = project.path / "requirements.txt"
    text, count = re.subn(rf"(?m)^{package}==\S+", f"{package}=={version}", path.read_text())
    assert count == 1, package
    path.write_text(text)


def test_a_tool_pin_reruns_nothing(reproduced_copy):
    project = reproduced_copy
    before = project.snapshot()
    pin(project, "tqdm", "0.0.1")  # the progress bar: changes no result
    assert project.stale_stages() == {"validate"}
    assert project.repro().ran == {"validate"}  # same versions recorded: nothing more
    after = project.snapshot()
    assert {p: h for p, h in after.items() if p not in ("requirements.txt", "dvc.lock")} == {
        p: h for p, h in before.items() if p not in ("requirements.txt", "dvc.lock")}
    assert project.status() == {}


@pytest.mark.slow
def test_another_library_version_retrains_and_never_reuses_its_run_cache(
        tmp_path, mirror, other_keras):
    project = Project.create(tmp_path / "project", mirror["npz_url"], mirror["npz_sha256"])
    project.set_params({"models": {"quickstart": project.params()["models"]["quickstart"]}})
    project.repro()
    project.commit("results under the pinned Keras")
    pinned = project.snapshot()
    model = (project.path / "models/quickstart.keras").read_bytes()

    # The pin moves but the install does not: refused before any output is touched.
    pin(project, "keras", OTHER_KERAS)
    result = project.repro(check=False)
    [message] = error_lines(result)
    assert f"requirements.txt wants keras {OTHER_KERAS} (installed: 3.15.1)" in message
    assert "make install" in message
    assert project.snapshot() == {**pinned, "requirements.txt": project.snapshot()[
        "requirements.txt"]}

    # With that release really installed, training and evaluation rerun: no run-cache
    # entry made under 3.15.1 is taken for 3.15.0.
    overlay = {**ENV, "PYTHONPATH": str(other_keras)}
    result = project.repro(env=overlay)
    assert result.ran == {"validate", "train@quickstart", "evaluate@quickstart",
                          "export@quickstart", "report"}
    assert not result.restored
    assert f'"keras": "{OTHER_KERAS}"' in (project.path / "data/validated/environment.json"
                                            ).read_text()

    # A stage run under other versions than the recorded ones refuses to run.
    refused = project.python("-m", "stages.pipeline.evaluate", "quickstart", check=False)
    assert refused.returncode == 1
    assert f"wants keras {OTHER_KERAS} (installed: 3.15.1)" in refused.stderr

    # Back to the pin: the earlier results come back from the run-cache, untrained.
    pin(project, "keras", "3.15.1")
    result = project.repro()
    assert result.restored == {"train@quickstart", "evaluate@quickstart", "export@quickstart"}
    assert (project.path / "models/quickstart.keras").read_bytes() == model
