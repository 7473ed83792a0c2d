"""Train once per team, end to end with the real `dvc` CLI against real servers:
a DVC remote (a directory, OpenSSH, WebDAV, S3 on SeaweedFS), a shared run-cache, experiments
that travel between clones through a bare git repository, and remotes that
fail without ever putting a wrong file in the workspace."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

from harness import BIN, ENV, MODELS, Project, error_lines, ran, run
from services import SSHServer, WebDAVServer, free_port

# The directory remote runs with `make test`; the servers' runs, slower, with
# `make test-slow` (CI runs both).
KINDS = ("directory", *(pytest.param(kind, marks=pytest.mark.slow)
                      for kind in ("ssh", "webdav", "s3")))
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
        elif kind == "s3":
            self.server = request.getfixturevalue("s3_server")
            self.url = self.server.url(tmp_path.name)
            self.credentials = {"endpointurl": self.server.endpoint,
                                "access_key_id": self.server.key,
                                "secret_access_key": self.server.secret}
        else:
            server = request.getfixturevalue("webdav_server")
            self.storage = server.root / tmp_path.name
            self.storage.mkdir()  # a WebDAV remote's base folder must exist (else 409)
            self.url = server.url(tmp_path.name)
            self.credentials = {"user": server.user, "password": server.password}

    def corrupt(self, md5: str) -> None:
        """Flip a byte in the middle of the object stored for `md5`, on the server."""
        if self.kind == "s3":
            files = self.server.files()
            [stored] = files.glob(f"{self.url[5:]}/**/{md5[:2]}/{md5[2:]}")
            data = bytearray(files.cat_file(stored))
            data[len(data) // 2] ^= 0xFF
            files.pipe_file(stored, bytes(data))
            return
        [stored] = self.storage.rglob(f"{md5[:2]}/{md5[2:]}")
        data = bytearray(stored.read_bytes())
        data[len(data) // 2] ^= 0xFF
        stored.chmod(0o644)
        stored.write_bytes(bytes(data))

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
    ("s3", "down", "cannot connect .*Could not connect to the endpoint URL.*is the server up"),
    ("s3", "wrong key", "refused the credentials .*Forbidden.*secret_access_key.*config.local"),
    ("s3", "missing bucket", "bucket 'not-there' does not exist.*create it"),
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
    if fault == "wrong key" and kind == "ssh":
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", tmp_path / "other"], tmp_path)
        project.dvc("remote", "modify", "--local", "storage", "keyfile", tmp_path / "other")
    elif fault == "wrong password":
        project.dvc("remote", "modify", "--local", "storage", "password", "not-it")
    elif fault == "wrong key" and kind == "s3":
        project.dvc("remote", "modify", "--local", "storage", "secret_access_key", "not-it")
    elif fault == "missing bucket":
        project.dvc("remote", "modify", "--local", "storage", "url", "s3://not-there/cache")
    elif fault == "missing base folder":
        project.dvc("remote", "modify", "--local", "storage", "url", server.url("missing"))
    stopping = fault == "down" and kind != "s3"  # S3: a port nothing listens on instead
    if fault == "down" and kind == "s3":
        project.dvc("remote", "modify", "--local", "storage", "endpointurl",
                    f"http://127.0.0.1:{free_port()}")
    before = project.snapshot()
    if stopping:
        server.stop()
    try:
        check = project.python("-m", "stages.remote", "check", check=False)
        push = project.dvc("push", "--run-cache", check=False,  # botocore: no retry
                           env={**ENV, "AWS_MAX_ATTEMPTS": "1"})
    finally:
        if stopping:
            server.restart()
    assert check.returncode == 1 and "Traceback" not in check.stderr
    [line] = error_lines(check)
    assert re.search(message, line), line
    url = project.dvc("config", "--local", "remote.storage.url").stdout.strip()
    assert f"DVC remote 'storage' ({url})" in line  # names the remote it means
    # DVC fails too, except that SeaweedFS makes a missing bucket on the first upload
    # (AWS refuses it: NoSuchBucket); the check stopped `make push` before it either way.
    assert push.returncode != 0 or fault == "missing bucket"
    assert project.snapshot() == before


def test_a_port_that_reads_like_a_status_code_is_still_a_server_that_is_down():
    """A refused connection to port 401xx is "cannot connect", not HTTP 401 (CI met one)."""
    import socket

    from stages.tools.sharing.remote_check import _problem

    for port in [*range(40100, 40200), *range(40300, 40400)]:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) != 0:  # nothing listens there
                break
    with socket.socket() as client, pytest.raises(ConnectionRefusedError) as refused:
        client.connect(("127.0.0.1", port))
    for error in (refused.value, OSError(f"Connect call failed ('127.0.0.1', {port})")):
        assert _problem(error, "ssh").startswith("cannot connect"), _problem(error, "ssh")
    assert _problem(PermissionError("HTTP 401 Unauthorized"), "webdav").startswith(
        "the server refused the credentials")


def test_the_remote_check_says_when_all_is_well(team):
    result = team["a"].python("-m", "stages.remote", "check")
    assert result.stdout.startswith("remote: DVC remote 'storage' (") and "answers" in result.stdout


def test_a_corrupted_object_on_the_remote_never_reaches_the_workspace(team, tmp_path):
    """DVC hashes every object it downloads. With a model's bytes flipped on the
    server, `dvc repro --pull` takes it as missing and trains that model again, to
    the right bytes; `dvc pull` of committed results fails naming it, writing no model."""
    a, remote = team["a"], team["remote"]
    a.dvc("push", "--run-cache")
    remote.corrupt(a.lock_hashes()["models/quickstart.keras"])
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


@pytest.mark.slow
def test_make_push_and_make_pull_on_s3_with_the_keys_in_the_environment(request, reproduced,
                                                                        tmp_path):
    """The team's two commands, as the README gives them, against the S3 store, each
    clone holding no key at all: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, as on a
    CI runner or a machine with an AWS profile. B gets A's committed results, runs nothing."""
    remote = Remote("s3", request, tmp_path)
    keys = {"AWS_ACCESS_KEY_ID": remote.server.key,
            "AWS_SECRET_ACCESS_KEY": remote.server.secret}
    make = ["make", "-o", "install", f"VENV={BIN.parent}"]  # this environment, installed
    origin = tmp_path / "origin.git"
    run(["git", "init", "-q", "--bare", "-b", "main", origin], tmp_path)
    a = reproduced.copy(tmp_path / "a")
    a.dvc("remote", "add", "-d", "storage", remote.url)
    a.dvc("remote", "modify", "storage", "endpointurl", remote.server.endpoint)
    a.commit("the team's S3 remote (no key: those stay with each person)")
    a.git("remote", "add", "origin", str(origin))
    a.git("push", "-q", "origin", "HEAD:refs/heads/main")
    assert "secret" not in (a.path / ".dvc/config").read_text()
    keyless = run([*make, "push"], a.path, check=False)
    assert keyless.returncode != 0
    assert "no credentials were found" in keyless.stderr and "AWS_ACCESS_KEY_ID" in keyless.stderr
    run([*make, "push"], a.path, env={**ENV, **keys})

    run(["git", "clone", "-q", origin, tmp_path / "b"], tmp_path)
    b = Project(tmp_path / "b")
    result = run([*make, "pull"], b.path, env={**ENV, **keys})
    assert not ran(result), result.stdout  # A's committed results, pulled: nothing to run
    assert outputs(b) == outputs(a) and b.stale_stages() == set()


@pytest.mark.slow
def test_ci_retrains_only_what_a_branch_changed_and_downloads_only_what_that_needs(
        request, reproduced, tmp_path):
    """CI's pipeline job (`make pull-changed`: `dvc repro --pull --allow-missing`) on a
    branch that changed one model, against the S3 store holding main's results: that
    model's stages run; the others' outputs stay on the remote, where the comparison
    with main still reads their figures."""
    remote = Remote("s3", request, tmp_path)
    a = reproduced.copy(tmp_path / "a")
    remote.connect(a)
    a.dvc("push", "--run-cache")
    origin = tmp_path / "origin.git"
    run(["git", "init", "-q", "--bare", "-b", "main", origin], tmp_path)
    a.git("remote", "add", "origin", str(origin))
    a.git("push", "-q", "origin", "HEAD:refs/heads/main")
    run(["git", "clone", "-q", origin, tmp_path / "b"], tmp_path)
    b = Project(tmp_path / "b")
    remote.connect(b)
    b.git("checkout", "-q", "-b", "two-epochs")
    b.set_params({"models.quickstart.epochs": 2})
    b.commit("quickstart: two epochs")

    result = run(["make", "-o", "install", f"VENV={BIN.parent}", "pull-changed"], b.path)
    assert ran(result) == {"validate", "train@quickstart", "evaluate@quickstart",
                           "export@quickstart", "report"}, result.stdout
    assert not (b.path / "models/cnn_sgd.keras").exists()  # unchanged: left on the remote
    assert not (b.path / "exports/simple_dense").exists()
    b.dvc("pull")  # everything now: what it recorded is what a full workspace gives
    assert b.stale_stages() == set()
    compared = b.python("-m", "stages.compare", "origin/main").stdout
    accuracy = a.read_json("metrics/cnn_sgd.json")["test_accuracy"]
    [row] = [line for line in compared.splitlines() if line.startswith("| `cnn_sgd`")]
    assert row.count(f"{accuracy * 100:.2f}") == 2, row  # main's and this branch's: the same


def killed_once_under_way(command: list, cwd: Path, env: dict, started) -> bool:
    """Run `command`; SIGKILL its process group once `started()` says it has begun moving
    files; whether it was killed before it finished."""
    process = subprocess.Popen([str(c) for c in command], cwd=cwd, env=env, text=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
    while process.poll() is None and not started():
        time.sleep(0.02)
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
    return process.wait() == -signal.SIGKILL


@pytest.mark.slow
def test_make_push_and_make_pull_killed_midway_finish_when_run_again(request, reproduced,
                                                                    tmp_path):
    """Each killed (its whole process group) once its first files are moving, then run
    again: the remote ends complete, and the clone ends with every output, nothing run."""
    remote = Remote("s3", request, tmp_path)
    env = {**ENV, "AWS_ACCESS_KEY_ID": remote.server.key,
           "AWS_SECRET_ACCESS_KEY": remote.server.secret}
    make = ["make", "-o", "install", f"VENV={BIN.parent}"]
    origin = tmp_path / "origin.git"
    run(["git", "init", "-q", "--bare", "-b", "main", origin], tmp_path)
    a = reproduced.copy(tmp_path / "a")
    a.dvc("remote", "add", "-d", "storage", remote.url)
    a.dvc("remote", "modify", "storage", "endpointurl", remote.server.endpoint)
    a.commit("the team's S3 remote")
    a.git("remote", "add", "origin", str(origin))
    a.git("push", "-q", "origin", "HEAD:refs/heads/main")
    files, prefix = remote.server.files(), remote.url[len("s3://"):]
    assert killed_once_under_way([*make, "push"], a.path, env,
                                 lambda: files.exists(prefix) and bool(files.find(prefix)))
    run([*make, "push"], a.path, env=env)

    run(["git", "clone", "-q", origin, tmp_path / "b"], tmp_path)
    b = Project(tmp_path / "b")
    cache = b.path / ".dvc/cache/files/md5"
    assert killed_once_under_way([*make, "pull"], b.path, env,
                                 lambda: cache.is_dir() and any(cache.rglob("*")))
    result = run([*make, "pull"], b.path, env=env)
    assert not ran(result), result.stdout
    assert outputs(b) == outputs(a) and b.stale_stages() == set()
