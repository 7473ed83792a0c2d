"""Train once per team, end to end with the real `dvc` CLI against real servers:
a DVC remote (a directory, OpenSSH, WebDAV), a shared run-cache, experiments
that travel between clones through a bare git repository, and remotes that
fail without ever putting a wrong file in the workspace."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest

from harness import MODELS, Project, error_lines, run
from services import SSHServer, WebDAVServer

# The directory remote runs with `make test`; the servers' runs, slower, with
# `make test-slow` (CI runs both).
KINDS = ("directory", pytest.param("ssh", marks=pytest.mark.slow),
         pytest.param("webdav", marks=pytest.mark.slow))
TRAINED = {f"{kind}@{m}" for kind in ("train", "evaluate", "export") for m in MODELS}


@pytest.fixture(scope="session")
def ssh_server(tmp_path_factory):
    server = SSHServer(tmp_path_factory.mktemp("sshd"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def webdav_server(tmp_path_factory):
    root = tmp_path_factory.mktemp("webdav-root")
    server = WebDAVServer(tmp_path_factory.mktemp("webdav"), root)
    server.root = root
    yield server
    server.stop()


class Remote:
    """How a clone connects to one kind of DVC remote: the URL everyone shares and
    the credentials that stay in each clone's `.dvc/config.local`."""

    def __init__(self, kind: str, request, tmp_path: Path) -> None:
        self.kind, self.storage = kind, tmp_path / "dvc-remote"  # where the server keeps it
        if kind == "directory":
            self.url, self.credentials = str(self.storage), {}
        elif kind == "ssh":
            server = request.getfixturevalue("ssh_server")
            self.url, self.credentials = server.url(self.storage), {
                "keyfile": str(server.keyfile)}
        else:
            server = request.getfixturevalue("webdav_server")
            self.storage = server.root / tmp_path.name
            self.storage.mkdir()  # a WebDAV remote's base folder must exist (else 409)
            self.url = server.url(tmp_path.name)
            self.credentials = {"user": server.user, "password": server.password}

    def connect(self, project: Project, name: str = "storage") -> None:
        project.dvc("remote", "add", "--local", "-d", name, self.url)
        project.dvc("remote", "modify", "--local", name, "verify", "true")
        for key, value in self.credentials.items():
            project.dvc("remote", "modify", "--local", name, key, value)


@pytest.fixture(params=KINDS)
def remote(request, tmp_path) -> Remote:
    return Remote(request.param, request, tmp_path)


@pytest.fixture
def team(reproduced, remote, tmp_path) -> dict:
    """Clone A, which ran the whole pipeline, and a bare git repository standing for
    the team's git server, holding the project's code but none of A's results."""
    origin = tmp_path / "origin.git"
    run(["git", "init", "-q", "--bare", "-b", "main", origin], tmp_path)
    a = reproduced.copy(tmp_path / "a")
    a.git("remote", "add", "origin", str(origin))
    a.git("push", "-q", "origin", "HEAD~1:refs/heads/main")  # the code commit only
    remote.connect(a)
    return {"a": a, "origin": origin, "remote": remote, "full": reproduced.repro_seconds}


def fresh_clone(team: dict, path: Path) -> Project:
    run(["git", "clone", "-q", team["origin"], path], path.parent)
    clone = Project(path)
    team["remote"].connect(clone)
    return clone


def outputs(project: Project) -> dict[str, str]:
    return {path: digest for path, digest in project.snapshot().items()
            if path.startswith(("models/", "metrics/", "plots/", "reports/", "data/"))}


def test_a_fresh_clone_restores_every_stage_from_the_shared_run_cache(team, tmp_path):
    """`dvc repro --pull` takes each stage A ran from the run-cache and its outputs
    from the remote. (`dvc pull --run-cache` alone fetches the run records, not the
    outputs they name: with it, `dvc repro` would train again.)"""
    a = team["a"]
    started = time.perf_counter()
    a.dvc("push", "--run-cache")
    pushed = time.perf_counter() - started
    b = fresh_clone(team, tmp_path / "b")
    assert not (b.path / "models").exists()
    started = time.perf_counter()
    result = b.repro("--pull")
    seconds = time.perf_counter() - started
    assert result.restored >= TRAINED | {"download", "prepare"}, result.stdout
    assert not result.ran & TRAINED, "a stage trained although the run-cache had it"
    assert outputs(b) == outputs(a)  # byte for byte, timing figures included: A's own files
    print(f"\n[{team['remote'].kind}] push --run-cache {pushed:.1f}s; fresh clone "
          f"repro --pull {seconds:.1f}s (full repro {team['full']:.1f}s)")

    # In B, one model changes: only it trains; pushed, A reuses it without training.
    b.set_params({"models.quickstart.epochs": 2})
    assert b.repro().ran == {"validate", "train@quickstart", "evaluate@quickstart",
                             "export@quickstart", "report"}
    b.dvc("push", "--run-cache")
    a.set_params({"models.quickstart.epochs": 2})
    result = a.repro("--pull")
    assert result.restored == {"train@quickstart", "evaluate@quickstart",
                               "export@quickstart"}, result.stdout
    for path in ("models/quickstart.keras", "metrics/quickstart.json"):
        assert (a.path / path).read_bytes() == (b.path / path).read_bytes(), path


@pytest.mark.slow
def test_an_experiment_travels_between_clones_without_training(team, tmp_path):
    a = team["a"]
    a.git("push", "-q", "--force", "origin", "HEAD:refs/heads/main")  # the baseline B clones
    a.dvc("exp", "run", "-n", "qs-2-epochs", "-S", "models.quickstart.epochs=2")
    trained = (a.path / "models/quickstart.keras").read_bytes()
    metrics = a.read_json("metrics/quickstart.json")
    a.dvc("exp", "push", "origin", "qs-2-epochs")  # git refs to origin, data to the remote
    b = fresh_clone(team, tmp_path / "b")
    b.dvc("exp", "pull", "origin", "qs-2-epochs")
    shown = json.loads(b.dvc("exp", "show", "--json").stdout)
    [experiment] = [exp for rev in shown for exp in (rev.get("experiments") or [])
                    if exp.get("name") == "qs-2-epochs"]
    [run_] = experiment["revs"]
    assert run_["data"]["params"]["params.yaml"]["data"]["models"]["quickstart"]["epochs"] == 2
    assert run_["data"]["metrics"]["metrics/quickstart.json"]["data"] == metrics
    b.dvc("exp", "apply", "qs-2-epochs")
    b.dvc("pull")
    assert (b.path / "models/quickstart.keras").read_bytes() == trained
    assert b.stale_stages() == set(), "applying a pulled experiment left work to do"


BROKEN = [  # (remote kind, fault, what the one line says)
    ("ssh", "down", "cannot connect .*Connect call failed.*is the server up"),
    ("webdav", "down", "cannot connect .*Connection refused.*is the server up"),
    ("ssh", "wrong key", "refused the credentials .*Permission denied.*config.local"),
    ("webdav", "wrong password", "refused the credentials .*401.*config.local"),
    ("webdav", "missing base folder", "base folder does not exist on the server; create it"),
]


@pytest.mark.parametrize(("kind", "fault", "message"), BROKEN)
def test_a_broken_remote_is_one_clear_message_and_changes_nothing(request, reproduced,
                                                                   tmp_path, kind, fault,
                                                                   message):
    """`python -m stages.remote check` (run first by `make push` and `make pull`) says in
    one line what is wrong; DVC's own push fails too (with a line per file) and
    leaves the workspace as it was."""
    remote = Remote(kind, request, tmp_path)
    project = reproduced.copy(tmp_path / "a")
    remote.connect(project)
    server = request.getfixturevalue(f"{kind}_server")
    if fault == "wrong key":
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", tmp_path / "other"], tmp_path)
        project.dvc("remote", "modify", "--local", "storage", "keyfile", tmp_path / "other")
    elif fault == "wrong password":
        project.dvc("remote", "modify", "--local", "storage", "password", "not-it")
    elif fault == "missing base folder":
        project.dvc("remote", "modify", "--local", "storage", "url", server.url("missing"))
    before = project.snapshot()
    if fault == "down":
        server.stop()
    try:
        check = project.python("-m", "stages.remote", "check", check=False)
        push = project.dvc("push", "--run-cache", check=False)
    finally:
        if fault == "down":
            server.restart()
    assert check.returncode == 1 and "Traceback" not in check.stderr
    [line] = error_lines(check)
    assert re.search(message, line), line
    url = project.dvc("config", "--local", "remote.storage.url").stdout.strip()
    assert f"DVC remote 'storage' ({url})" in line  # names the remote it means
    assert push.returncode != 0
    assert project.snapshot() == before


def test_the_remote_check_says_when_all_is_well(team):
    result = team["a"].python("-m", "stages.remote", "check")
    assert result.stdout.startswith("remote: DVC remote 'storage' (") and "answers" in result.stdout


def test_a_corrupted_object_on_the_remote_never_reaches_the_workspace(team, tmp_path):
    """DVC hashes every object it downloads. With a model's bytes flipped on the
    server, `dvc repro --pull` takes it as missing and trains that model again, to
    the right bytes; `dvc pull` of committed results fails naming it, writing no model."""
    a, remote = team["a"], team["remote"]
    a.dvc("push", "--run-cache")
    md5 = a.lock_hashes()["models/quickstart.keras"]
    [stored] = remote.storage.rglob(f"{md5[:2]}/{md5[2:]}")
    data = bytearray(stored.read_bytes())
    data[len(data) // 2] ^= 0xFF
    stored.chmod(0o644)
    stored.write_bytes(bytes(data))
    good = (a.path / "models/quickstart.keras").read_bytes()

    b = fresh_clone(team, tmp_path / "b")
    result = b.repro("--pull")
    assert "train@quickstart" in result.ran and "train@quickstart" not in result.restored
    assert result.restored >= TRAINED - {"train@quickstart"}
    assert (b.path / "models/quickstart.keras").read_bytes() == good

    a.git("push", "-q", "--force", "origin", "HEAD:refs/heads/main")  # A's committed results
    c = fresh_clone(team, tmp_path / "c")
    result = c.dvc("pull", check=False)
    assert result.returncode != 0
    [line] = [line for line in result.stderr.splitlines() if line.startswith("ERROR")]
    assert "Checkout failed" in line and "models/quickstart.keras" in result.stderr
    assert not (c.path / "models/quickstart.keras").exists()
    assert (c.path / "models/cnn_sgd.keras").exists()  # the sound objects arrive
