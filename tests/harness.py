"""The end-to-end harness: the real `dvc` CLI in a temporary git repository.

`Project` is a copy of mnist-zoo in its own committed git repo, with params
pointing at a synthetic MNIST served over HTTP on 127.0.0.1. Tests drive it
exactly as a user would: `dvc repro`, `dvc status --json`, `git commit`, ...
"""

from __future__ import annotations

import functools
import hashlib
import http.server
import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import yaml

from stages import params

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
MODELS = list(params.load(ROOT / "params.yaml").models)
PROJECT_FILES = ("dvc.yaml", "params.yaml", "params.schema.json", ".gitignore", ".dvcignore",
                 ".dvc/config", ".dvc/.gitignore", ".dvc/plots", "stages", "requirements.txt",
                 ".python-version")
ENV = {
    **os.environ,
    "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    "DVC_NO_ANALYTICS": "1",
    "GIT_AUTHOR_NAME": "mnist-zoo tests", "GIT_AUTHOR_EMAIL": "tests@mnist-zoo.invalid",
    "GIT_COMMITTER_NAME": "mnist-zoo tests", "GIT_COMMITTER_EMAIL": "tests@mnist-zoo.invalid",
    "PYTHONDONTWRITEBYTECODE": "1",
}


def sha256(path: Path) -> str:
    """Hex sha256 of a file."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    """Serves files without logging every request to the test output."""

    def log_message(self, *args):
        pass


class Server:
    """A static HTTP server for `directory` on 127.0.0.1, in a daemon thread."""

    def __init__(self, directory: Path, handler=QuietHandler) -> None:
        self.httpd = http.server.ThreadingHTTPServer(
            ("127.0.0.1", 0), functools.partial(handler, directory=str(directory)))
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def run(args, cwd: Path, check: bool = True, **kwargs) -> subprocess.CompletedProcess:
    """Run a command with the harness environment, capturing text output."""
    kwargs.setdefault("env", ENV)
    result = subprocess.run([str(a) for a in args], cwd=cwd, text=True, capture_output=True,
                            **kwargs)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, args))} exited {result.returncode}\n"
                             f"stdout:\n{result.stdout[-4000:]}\nstderr:\n{result.stderr[-4000:]}")
    return result


class Project:
    """A committed copy of the project in `path`."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    @classmethod
    def create(cls, path: Path, data_url: str, data_sha256: str,
               epochs: int | None = 1) -> Project:
        """Copy the project, point it at the synthetic data, commit (`epochs=None`
        keeps each model's own)."""
        path.mkdir(parents=True, exist_ok=True)
        for name in PROJECT_FILES:
            source, target = ROOT / name, path / name
            if source.is_dir():
                shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, target)
        project = cls(path)
        if not (path / ".dvc/plots/offline.html").exists():  # `make install` makes it
            project.python("-m", "stages.plots_html")
        project.git("init", "-q", "-b", "main")
        epochs = {} if epochs is None else {f"models.{m}.epochs": epochs
                                            for m in project.params()["models"]}
        project.set_params({"data.url": data_url, "data.sha256": data_sha256,
                            "data.retries": 0, "data.timeout_seconds": 5, **epochs})
        project.commit("mnist-zoo test project")
        return project

    def copy(self, path: Path) -> Project:
        """An independent copy (git history, DVC cache and workspace included)."""
        shutil.copytree(self.path, path, symlinks=True)
        return Project(path)

    def dvc(self, *args, check: bool = True, **kwargs) -> subprocess.CompletedProcess:
        return run([BIN / "dvc", *args], self.path, check=check, **kwargs)

    def git(self, *args, check: bool = True) -> subprocess.CompletedProcess:
        return run(["git", *args], self.path, check=check)

    def python(self, *args, check: bool = True) -> subprocess.CompletedProcess:
        return run([sys.executable, *args], self.path, check=check)

    def commit(self, message: str) -> None:
        self.git("add", "-A")
        self.git("commit", "-q", "--allow-empty", "-m", message)

    def params(self) -> dict:
        return yaml.safe_load((self.path / "params.yaml").read_text())

    def set_params(self, changes: dict) -> None:
        """Set dotted keys in params.yaml, e.g. {"models.quickstart.epochs": 2}."""
        data = self.params()
        for dotted, value in changes.items():
            set_dotted(data, dotted, value)
        (self.path / "params.yaml").write_text(yaml.safe_dump(data, sort_keys=False))

    def status(self) -> dict:
        """`dvc status --json`: {} when everything is up to date."""
        return json.loads(self.dvc("status", "--json").stdout or "{}")

    def stale_stages(self) -> set[str]:
        """Names of the stages `dvc status` says would rerun."""
        return {name.split(":")[-1] for name in self.status()}

    def lock_hashes(self) -> dict[str, str]:
        """Output path -> md5 from dvc.lock, for every stage."""
        lock = yaml.safe_load((self.path / "dvc.lock").read_text())
        return {out["path"]: out["md5"] for stage in lock["stages"].values()
                for out in stage.get("outs", [])}

    def read_json(self, relative: str) -> dict:
        return json.loads((self.path / relative).read_text())

    def snapshot(self) -> dict[str, str]:
        """sha256 of every workspace file but params.yaml (git's and DVC's own files aside)."""
        skip = (".git/", ".dvc/cache/", ".dvc/tmp/")
        return {str(rel): sha256(path) for path in sorted(self.path.rglob("*"))
                if path.is_file() and (rel := path.relative_to(self.path)).as_posix() !=
                "params.yaml" and not rel.as_posix().startswith(skip)}


def run_module(cwd: Path, *args, check: bool = False) -> subprocess.CompletedProcess:
    """`python -m <args>` in `cwd` with this checkout's `stages` importable."""
    return run([sys.executable, "-m", *args], cwd, check=check,
               env={**ENV, "PYTHONPATH": str(ROOT)}, timeout=300)


def error_lines(result: subprocess.CompletedProcess) -> list[str]:
    """The `error: ...` lines a stage printed (DVC's own say `ERROR:`)."""
    return [line for line in result.stderr.splitlines() if line.startswith("error:")]


def set_dotted(data: dict, dotted: str, value) -> None:
    """Set one key of nested params (`...` deletes it). Path parts that are digits
    index into lists: "models.quickstart.layers.1"."""
    *parents, leaf = dotted.split(".")
    node = data
    for key in parents:
        node = node[int(key)] if isinstance(node, list) else node[key]
    if value is ...:
        del node[leaf]
    else:
        node[int(leaf) if isinstance(node, list) else leaf] = value


def shipped_params_with(dotted: str, value) -> dict:
    """The shipped params.yaml with one key changed (see `set_dotted`)."""
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    set_dotted(raw, dotted, value)
    return raw
