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
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
SHIPPED_MODELS = list(yaml.safe_load((ROOT / "params.yaml").read_text())["models"])
# The models of every test project: one of each kind (`fit` with logits, `fit` with
# softmax and one-hot labels, the GradientTape loop). The DVC contracts hold for any
# set; every model params.yaml ships is trained by tests/pipeline/test_zoo.py.
MODELS = ["cnn_sgd", "quickstart", "simple_dense"]  # in the order of params.yaml
UNIT_MODELS = tuple(MODELS)
# The only outputs allowed to differ between two runs of the same code on the same
# machine: the files that carry wall-clock measurements, and the SavedModel export
# (TensorFlow writes ids that change from one process to the next:
# docs/serving.md#exports-exportmodel).
TIMED = {*(f"metrics/train/{m}.json" for m in MODELS), *(f"metrics/{m}.json" for m in MODELS),
         *(f"exports/{m}" for m in MODELS), *(f"exports/{m}.json" for m in MODELS),
         "reports/summary.json", "reports/leaderboard.md", "plots/leaderboard.csv"}
TIMING_KEYS = {"train_seconds", "examples_per_second", "test_images_per_second"}
PROJECT_FILES = ("dvc.yaml", "params.yaml", "params.schema.json", ".gitignore", ".dvcignore",
                 ".gitattributes",
                 ".dvc/config", ".dvc/.gitignore", ".dvc/plots", "stages", "requirements.txt",
                 ".python-version", "Makefile")
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
    def create(cls, path: Path, data_url: str, data_sha256: str, epochs: int | None = 1,
               models: list[str] | None = None, source: Path = ROOT) -> Project:
        """Copy the project (this checkout's, or the tree at `source`), point it at the
        data, keep `models` (the test models by default), commit (`epochs=None` keeps
        each model's own)."""
        path.mkdir(parents=True, exist_ok=True)
        for name in PROJECT_FILES:
            source_file, target = source / name, path / name
            if not source_file.exists():
                continue
            if source_file.is_dir():
                shutil.copytree(source_file, target,
                                ignore=shutil.ignore_patterns("__pycache__"))
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source_file, target)
        project = cls(path)
        project.git("init", "-q", "-b", "main")
        models = {name: block for name, block in project.params()["models"].items()
                  if name in (models or MODELS)}
        if epochs is not None:
            models = {name: {**block, "epochs": epochs} for name, block in models.items()}
        project.set_params({"data.url": data_url, "data.sha256": data_sha256,
                            "data.retries": 0, "data.timeout_seconds": 5, "models": models})
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

    def repro(self, *args, check: bool = True, **kwargs) -> subprocess.CompletedProcess:
        """`dvc repro ARGS`; the result's `.ran` and `.restored` name the stages that ran
        and the stages taken from the run-cache."""
        result = self.dvc("repro", *args, check=check, **kwargs)
        result.ran, result.restored = ran(result), restored(result)
        return result

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

    def json_at(self, rev: str, relative: str) -> dict:
        """A DVC-tracked JSON file as it was at `rev` (from the DVC cache)."""
        code = f"import dvc.api, sys; sys.stdout.write(dvc.api.read({relative!r}, rev={rev!r}))"
        return json.loads(self.python("-c", code).stdout)

    def snapshot(self) -> dict[str, str]:
        """sha256 of every workspace file but params.yaml (git's and DVC's own files aside)."""
        skip = (".git/", ".dvc/cache/", ".dvc/tmp/")
        return {str(rel): sha256(path) for path in sorted(self.path.rglob("*"))
                if path.is_file() and (rel := path.relative_to(self.path)).as_posix() !=
                "params.yaml" and not rel.as_posix().startswith(skip)}


def ran(result: subprocess.CompletedProcess) -> set[str]:
    """Stages a `dvc repro` (or `dvc exp run`) executed."""
    return set(re.findall(r"Running stage '([^']+)'", result.stdout))


def restored(result: subprocess.CompletedProcess) -> set[str]:
    """Stages `dvc repro` took from the run-cache instead of running."""
    return set(re.findall(r"Stage '([^']+)' is cached - skipping run", result.stdout))


def without_timing(metrics: dict) -> dict:
    """{file: figures} without the wall-clock figures (and without the exports' reports,
    which carry their export times and the SavedModel's size: see TIMED)."""
    return {path: {k: v for k, v in figures.items() if k not in TIMING_KEYS}
            for path, figures in metrics.items() if not path.startswith("exports/")}


def metrics_show(project: Project) -> dict:
    """`dvc metrics show --json` as {file: figures} (one revision: the workspace)."""
    [workspace] = json.loads(project.dvc("metrics", "show", "--json").stdout).values()
    return {path: body["data"] for path, body in workspace["data"].items()}


def experiments(project: Project) -> dict[str, list[dict]]:
    """`dvc exp show --json`: experiment name -> the data of each of its runs."""
    found: dict[str, list[dict]] = {}
    for rev in json.loads(project.dvc("exp", "show", "--json").stdout):
        for exp in rev.get("experiments") or []:
            found.setdefault(exp["name"], []).extend(r["data"] for r in exp["revs"])
    return found


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


def shipped_recipe(model: str, **changes) -> dict:
    """The shipped params' recipe of `model`, as `validate` hands it to training (through
    JSON, as the train stage reads it), with `changes`."""
    from stages.config import params_file

    handed = params_file.for_stages(params_file.load(ROOT / "params.yaml"))["train", model]
    return json.loads(json.dumps({**handed, **changes}))


def shipped_params_with(dotted: str, value) -> dict:
    """The shipped params.yaml with one key changed (see `set_dotted`)."""
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    set_dotted(raw, dotted, value)
    return raw


# A gradient-tape model given dropout (the tutorials' gradient-tape models have none): with
# quickstart (fit, dropout), a model of each loop that draws random numbers while it trains.
TAPE_DROPOUT = {"layers": [{"Flatten": {}}, {"Dense": {"units": 32, "activation": "relu"}},
                           {"Dropout": {"rate": 0.2}}, {"Dense": {"units": 10}}]}

# What a SavedModel holds that differs run to run whatever starts it (measured: also
# between two cold runs); everything else the model stages write must be the same bytes.
UNSTABLE = ("saved_model/",)


def processes_in(folder: Path) -> dict[str, str]:
    """The command lines, by PID, of the processes whose directory is in `folder` (a
    DVC worker, a stage, a sweep trial's; the warm start's server lives in `/`)."""
    found = {}
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and Path(os.readlink(proc / "cwd")).is_relative_to(folder):
                found[proc.name] = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
    return found


def written(directory: Path) -> dict[str, bytes]:
    """Every file the model stages wrote, times left out of their JSON."""
    found = {}
    for top in ("models", "metrics", "plots", "exports"):
        for path in sorted((directory / top).rglob("*")):
            name = path.relative_to(directory).as_posix()
            if not path.is_file() or any(part in name for part in UNSTABLE):
                continue
            data = path.read_bytes()
            if name == "plots/leaderboard.csv":  # its second column: training seconds
                data = b"\n".join(b",".join(row.split(b",")[::2]) for row in data.splitlines())
            if name.endswith(".json"):
                figures = without_times(json.loads(data))
                if name.startswith("exports/"):  # the SavedModel's size moves with its ids
                    figures.get("saved_model", {}).pop("bytes", None)
                data = json.dumps(figures, sort_keys=True).encode()
            found[name] = data
    return found


def without_times(value):
    if isinstance(value, dict):
        return {key: without_times(item) for key, item in value.items()
                if key not in TIMING_KEYS and key != "export_seconds"}
    return value
