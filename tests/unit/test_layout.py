"""The house as a newcomer reads it: commands are thin, folders hold one role and
import only the folders below them, no two modules share a name, and the README's
layout names every folder and command there is."""

from __future__ import annotations

import ast
from collections import Counter

import pytest

from harness import ROOT

STAGES = ROOT / "stages"
# Library folders, lowest first: each may import only itself and those before it.
LAYERS = ["common", "data", "config", "modeling", "reporting", "sharing", "parallel", "sweeps",
          "serving"]
COMMANDS = sorted(path.stem for path in STAGES.glob("*.py"))


@pytest.mark.parametrize("folder", LAYERS)
def test_each_library_folder_imports_only_the_folders_below_it(folder):
    allowed = {f"stages.{name}" for name in LAYERS[:LAYERS.index(folder) + 1]}
    for path in sorted((STAGES / folder).glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("stages."):
                assert ".".join(node.module.split(".")[:2]) in allowed, (path.name, node.module)


def test_every_folder_of_stages_is_a_known_role():
    folders = {path.name for path in STAGES.iterdir() if path.is_dir()
               and path.name != "__pycache__"}
    assert folders == {*LAYERS, "pipeline"}


def test_no_two_modules_share_a_name():
    names = Counter(path.stem for path in STAGES.rglob("*.py"))
    assert [name for name, count in names.items() if count > 1] == []


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_is_a_thin_file_of_flags_and_a_call(command):
    lines = (STAGES / f"{command}.py").read_text().splitlines()
    assert len(lines) <= 80, f"stages/{command}.py has {len(lines)} lines"


def test_the_readme_layout_names_every_folder_and_command():
    readme = (ROOT / "README.md").read_text()
    layout = readme[readme.index("## Project layout"):]
    for name in [*LAYERS, "pipeline"]:
        assert f"  {name}/" in layout, name
    for command in COMMANDS:
        assert f"  {command}.py" in layout, command
