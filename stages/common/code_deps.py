"""The code each stage runs, fingerprinted: a stage's code dependency, as one file.

A stage runs its own module and every `stages` module that imports, directly or
not, lazy imports included (read from the code, not run). `validate` writes,
for each stage, those modules with each one's sha256 to
`data/validated/code/<stage>.json`, and the stage depends on that one file: an
edit reruns exactly the stages that run the edited module, as one dependency
per module would. One file instead of a dozen matters because DVC rewrites the
whole of dvc.lock after every stage it runs: with a dependency per module, that
rewrite was a third of DVC's own time around each stage (docs/benchmarks.md).
"""

from __future__ import annotations

import ast
import hashlib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # the checkout this code runs from


def module_file(dotted: str) -> Path | None:
    """`stages.common.cli` -> stages/common/cli.py, if it is a module of ours."""
    path = Path(*dotted.split(".")).with_suffix(".py")
    return path if (ROOT / path).is_file() else None


def modules(dotted: str) -> list[str]:
    """The files a module runs, relative to the checkout: itself and every `stages`
    module it imports, sorted."""
    seen: set[str] = set()
    waiting = [dotted]
    while waiting:
        path = module_file(waiting.pop())
        if path is None or path.as_posix() in seen:
            continue
        seen.add(path.as_posix())
        for node in ast.walk(ast.parse((ROOT / path).read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("stages."):
                waiting += [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
    return sorted(seen)


def fingerprint(dotted: str) -> dict[str, str]:
    """Each file `dotted` runs, with its sha256."""
    return {path: hashlib.sha256((ROOT / path).read_bytes()).hexdigest()
            for path in modules(dotted)}
