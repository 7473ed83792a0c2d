"""The library versions that can change results: a dependency of train and evaluate.

DVC reruns a stage when its dependencies change, and restores a run-cache
entry only for the same dependencies. Code and params are dependencies; the
libraries that turn them into models are not, unless they are written down.
`validate` writes the Python version (`.python-version`) and the exact pins
of the libraries that make the models and their pictures (`requirements.txt`)
to `data/validated/environment.json`, which train and evaluate depend on: a
version bump reruns them, and a run-cache entry made under other versions is
never restored. Tools that cannot change results (pytest, ruff, linters) are
left out, so bumping them reruns nothing.

The file is only true if the running environment matches it, so `validate`,
`train`, `evaluate` and `export` all refuse to run when an installed version differs.
"""

from __future__ import annotations

import importlib.metadata
import json
import re
import sys
from pathlib import Path

from stages.common import paths
from stages.common.cli import UserError

# What can change the bytes of a model, a metric or a picture.
RESULT_PACKAGES = ("tensorflow", "keras", "numpy", "h5py", "matplotlib", "pillow")
PIN = re.compile(r"^\s*([A-Za-z0-9_.-]+)\s*==\s*([^\s;#]+)")


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pinned(requirements: Path = paths.REQUIREMENTS, python: Path = paths.PYTHON_VERSION
           ) -> dict[str, str]:
    """The declared versions: Python major.minor and each result package's `==` pin."""
    pins = {_normal(m[1]): m[2] for line in requirements.read_text().splitlines()
            if (m := PIN.match(line))}
    missing = [name for name in RESULT_PACKAGES if name not in pins]
    if missing:
        raise UserError(f"{requirements} must pin {', '.join(missing)} exactly (name==version): "
                        "their versions decide the results")
    return {"python": python.read_text().strip(), **{n: pins[n] for n in RESULT_PACKAGES}}


def installed() -> dict[str, str]:
    """The versions this process runs with."""
    versions = {"python": f"{sys.version_info.major}.{sys.version_info.minor}"}
    for name in RESULT_PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def check(expected: dict[str, str], source: str | Path) -> None:
    """Refuse to go on when the running versions are not the ones `source` records."""
    actual = installed()
    wrong = [f"{name} {version} (installed: {actual.get(name)})"
             for name, version in expected.items() if actual.get(name) != version]
    if wrong:
        raise UserError(f"{source} wants {', '.join(wrong)}; results made with other versions "
                        "would not match it. Run `make install`, or change the pins in "
                        "requirements.txt (which reruns what they affect)")


def check_recorded() -> None:
    """Refuse to go on when the running versions are not the ones `validate` recorded
    (train, evaluate and export depend on that file)."""
    if not paths.ENVIRONMENT.is_file():
        raise UserError(f"{paths.ENVIRONMENT} is missing: run `dvc repro` (the validate stage "
                        "writes it)")
    check(json.loads(paths.ENVIRONMENT.read_text()), paths.ENVIRONMENT)
