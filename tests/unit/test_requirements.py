"""Installs that match what you run: `make pipeline` installs the pipeline's libraries and no
test tool; `make test` adds the tests' and linters' tools from their own pinned file."""

from __future__ import annotations

import re
import shutil
import subprocess

from harness import ROOT

PIN = re.compile(r"^([A-Za-z0-9_.\-\[\]]+)==\S+")


def pins(name: str) -> dict[str, str]:
    """A requirements file's `name==version` lines, by normalised name (extras dropped)."""
    found = {}
    for line in (ROOT / name).read_text().splitlines():
        if match := PIN.match(line.split("#")[0].strip()):
            found[re.sub(r"\[.*\]", "", match[1]).lower().replace("_", "-")] = line
    return found


def test_every_line_of_every_requirements_file_is_an_exact_pin_or_an_include():
    includes = ("-r requirements.txt", "-r requirements-serve.txt")
    for name in ("requirements.txt", "requirements-dev.txt", "requirements-ray.txt",
                 "requirements-triton.txt", "requirements-serve.txt"):
        for line in (ROOT / name).read_text().splitlines():
            code = line.split("#")[0].strip()
            assert not code or PIN.match(code) or code in includes, (name, line)


def test_the_pipeline_installs_no_test_or_lint_tool():
    pipeline, dev = pins("requirements.txt"), pins("requirements-dev.txt")
    assert {"pytest", "ruff", "playwright", "wsgidav", "tritonclient"} <= set(dev)
    assert set(pipeline) & set(dev) == set()
    assert "-r requirements.txt" in (ROOT / "requirements-dev.txt").read_text()


def test_no_module_of_stages_imports_a_test_tool():
    tools = {name.replace("-", "_") for name in pins("requirements-dev.txt")}
    tools |= {"tritonclient", "pytest", "playwright", "wsgidav", "cheroot", "jsonschema"}
    for path in (ROOT / "stages").rglob("*.py"):
        text = path.read_text()
        for tool in tools:
            assert not re.search(rf"^\s*(import|from) {tool}\b", text, re.M), (path, tool)


def test_make_pipeline_in_a_fresh_clone_reads_only_the_pipeline_requirements(tmp_path):
    clone = tmp_path / "clone"
    shutil.copytree(ROOT, clone, ignore=shutil.ignore_patterns(".venv", ".git", ".dvc/cache"))
    planned = subprocess.run(["make", "-n", "pipeline"], cwd=clone, capture_output=True,
                             text=True, check=True).stdout
    assert "-r requirements.txt" in planned
    assert "requirements-dev.txt" not in planned and "requirements-ray.txt" not in planned
    assert "requirements-serve.txt" not in planned
    tested = subprocess.run(["make", "-n", "test"], cwd=clone, capture_output=True, text=True,
                            check=True).stdout
    assert "-r requirements-dev.txt" in tested
