"""Benchmark figures with their provenance, and the docs' tables rendered from them.

Each benchmark ends with `save(name, tables)`: its tables (columns and rows, the
figures as it prints them) go to `benchmarks/results/<name>.json` with the commit,
the CPU model, the core count, the library versions and the date. A doc shows a
table by a marker, `<!-- results NAME.TABLE -->` ... `<!-- /results -->`, which
`python -m stages.regenerate` fills from the file (a fast test fails when a committed
table and its file disagree, and when one table is shown in two places).
"""

from __future__ import annotations

import datetime
import importlib.metadata
import json
import os
import platform
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

RESULTS = ROOT / "benchmarks" / "results"
DOCS = ("README.md", *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "docs").glob("*.md")))
MARKER = re.compile(r"(<!-- results ([\w-]+)\.([\w-]+) -->\n)(.*?)(<!-- /results -->)", re.S)
LIBRARIES = ("tensorflow", "keras", "dvc", "onnxruntime")
# What decides the figures: a change here not yet committed is named beside the commit.
CODE = ("stages", "benchmarks/*.py", "benchmarks/hooks", "benchmarks/tutorials", "params.yaml",
        "dvc.yaml", "requirements.txt")


def cpu_model() -> str:
    """The CPU's model name, as /proc/cpuinfo gives it."""
    with open("/proc/cpuinfo") as info:
        for line in info:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


def machine() -> dict:
    """Where the figures come from: commit, CPU, cores, versions, date."""
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                          capture_output=True, text=True, check=False).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--",
                            *CODE], cwd=ROOT, capture_output=True, text=True,
                           check=False).stdout.strip()
    return {"commit": head + ("+changes" if dirty else ""), "cpu": cpu_model(),
            "cores": os.cpu_count(), "python": platform.python_version(),
            "versions": {name: importlib.metadata.version(name) for name in LIBRARIES},
            "date": datetime.date.today().isoformat()}


def describe(found: dict) -> str:
    return (f"{found['cpu']}, {found['cores']} cores; commit {found['commit']}, "
            f"{found['date']}")


def save(name: str, tables: dict[str, dict]) -> Path:
    """Write the benchmark's tables ({table: {"columns": [...], "rows": [[...]]}}) with
    their provenance to benchmarks/results/<name>.json, and print where."""
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    found = {"benchmark": name, "command": " ".join(["python -m", f"benchmarks.{name}",
                                                    *sys.argv[1:]]),
             **machine(), "tables": tables}
    path.write_text(json.dumps(found, indent=2) + "\n")
    print(f"\n{describe(found)}: written to {path.relative_to(ROOT)}")
    return path


def markdown(table: dict) -> str:
    """A table as Markdown: columns whose name starts with '>' are right-aligned."""
    heads = [column.lstrip(">") for column in table["columns"]]
    rule = ["---:" if column.startswith(">") else "---" for column in table["columns"]]
    lines = ["| " + " | ".join(heads) + " |", "|" + "|".join(rule) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in table["rows"]]
    return "\n".join(lines)


def render(name: str, table: str) -> str:
    """One marked table's text: the table, then where its figures came from."""
    path = RESULTS / f"{name}.json"
    if not path.is_file():
        return f"(no results yet: run `python -m benchmarks.{name}`)\n"
    found = json.loads(path.read_text())
    if table not in found["tables"]:
        return f"(benchmarks/results/{name}.json has no table {table!r})\n"
    return (f"{markdown(found['tables'][table])}\n\n<sub>`benchmarks/results/{name}.json`: "
            f"{describe(found)}</sub>\n")


def rendered(text: str) -> str:
    """A doc with every marked table filled from its results file."""
    return MARKER.sub(lambda m: m[1] + render(m[2], m[3]) + m[5], text)


def docs() -> dict[Path, str]:
    """Each doc that shows a results table, with the text it should hold."""
    found = {}
    for name in DOCS:
        text = (ROOT / name).read_text()
        if MARKER.search(text):
            found[Path(name)] = rendered(text)
    return found


def shown() -> list[tuple[str, str]]:
    """Every (doc, NAME.TABLE) marker, in order."""
    return [(name, f"{m[2]}.{m[3]}") for name in DOCS
            for m in MARKER.finditer((ROOT / name).read_text())]
