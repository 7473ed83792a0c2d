"""Another revision's results, read as `dvc metrics diff` reads them; the branch forked from.

A file git holds at a revision comes from git; one DVC holds comes from the DVC
cache or, failing that, the DVC remote (DVC's own file system over the revision).
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import yaml

from stages.common.cli import UserError
from stages.common.paths import PARAMS

PREFERRED = ("main", "master", "origin/main", "origin/master")


def git(*args: str) -> str:
    result = subprocess.run(["git", *args], capture_output=True, text=True, check=False)
    if result.returncode:
        raise UserError(f"git {' '.join(args)}: {result.stderr.strip().splitlines()[-1:]}")
    return result.stdout.strip()


def fork_base() -> str:
    """The branch this one forked from: of the other branches (local and remote) that do
    not contain this commit, the one whose common ancestor with it is nearest."""
    head, current = git("rev-parse", "HEAD"), git("rev-parse", "--abbrev-ref", "HEAD")
    found = []
    for ref in git("for-each-ref", "--format=%(refname:short)", "refs/heads",
                   "refs/remotes").splitlines():
        if ref in (current, f"origin/{current}") or ref.endswith("/HEAD"):
            continue
        base = git("merge-base", "HEAD", ref)
        if base and base != head:
            distance = int(git("rev-list", "--count", f"{base}..HEAD"))
            found.append((distance, ref not in PREFERRED, ref))
    if not found:
        raise UserError("no branch this one forked from: name the base "
                        "(python -m stages.compare main)")
    return min(found)[2]


class Revision:
    """The project at one revision (None: the workspace)."""

    def __init__(self, rev: str | None) -> None:
        self.rev = rev
        self.label = rev or "this workspace"
        if rev:
            git("rev-parse", "--verify", f"{rev}^{{commit}}")

    @contextmanager
    def _fs(self) -> Iterator:
        from dvc.fs import DVCFileSystem

        fs = DVCFileSystem(url=".", rev=self.rev)
        try:
            yield fs
        finally:
            fs.close()

    def read(self, path: str | Path) -> str | None:
        """A file's text at this revision (None if it has none, or its data is in neither
        the DVC cache nor the remote); in the workspace, the file, else DVC's copy."""
        if self.rev is None and Path(path).is_file():
            return Path(path).read_text()
        with self._fs() as fs:  # the workspace's missing outputs too (`--allow-missing`)
            try:
                return fs.read_text(str(path))
            except Exception:  # absent, or data DVC cannot fetch: its errors are many types
                return None

    def json(self, path: str | Path) -> dict | None:
        text = self.read(path)
        return json.loads(text) if text else None

    def lock(self) -> dict:
        """dvc.lock's stages at this revision ({} if it has none)."""
        text = self.read("dvc.lock")
        return ((yaml.safe_load(text) or {}).get("stages") or {}) if text else {}

    def params(self) -> dict:
        text = self.read(PARAMS)
        return (yaml.safe_load(text) or {}) if text else {}


def changed_params(old, new, prefix: str = "") -> dict[str, tuple]:
    """Dotted key -> (old, new) for every value that differs, lists by index as DVC's -S
    writes them (`models.quickstart.layers.1.Dense.units`), unlike `dvc params diff`,
    which shows a whole list when one number in it changed."""
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        old, new = dict(enumerate(old)), dict(enumerate(new))
    if not (isinstance(old, dict) and isinstance(new, dict)):
        return {prefix.rstrip("."): (old, new)} if old != new else {}
    found = {}
    for key in [*old, *(key for key in new if key not in old)]:
        found.update(changed_params(old.get(key), new.get(key), f"{prefix}{key}."))
    return found
