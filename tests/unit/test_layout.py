"""The house as a newcomer reads it: the pipeline on one side of `stages/`, the tools around
it in `stages/tools/`, each behind its door; commands are thin, folders import only the
folders below them, no two modules share a name, and the README's layout names every
folder and command there is."""

from __future__ import annotations

import ast
from collections import Counter
from pathlib import Path

import pytest

from harness import ROOT

STAGES = ROOT / "stages"
# The pipeline's library folders, lowest first: each may import only itself and those before.
PIPELINE = ["common", "data", "config", "modeling", "reporting"]
# The tools, each a folder of stages/tools/, lowest first (the shared helpers are tools' own).
TOOLS = ["warm", "reading", "sharing", "parallel", "sweeps", "serving"]
TOOL_HELPERS = {"stages.tools.children", "stages.tools.ray_cluster", "stages.tools.tool_pictures"}
# The one door from the pipeline's side to the tools: the warm start's client.
DOOR = "stages.tools.warm.client"
COMMANDS = sorted(path.stem for path in STAGES.glob("*.py"))


def imports(path: Path) -> set[str]:
    """The `stages...` modules a file imports (`from X import y` gives X, and X.y when
    y is a module)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("stages"):
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names
                      if (ROOT / Path(*f"{node.module}.{alias.name}".split("."))).with_suffix(
                          ".py").exists()}
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("stages")}
    return found


def pipeline_path() -> dict[Path, int]:
    """Every module the DVC stages import, transitively, with its length in lines."""
    todo = [f"stages.pipeline.{path.stem}" for path in (STAGES / "pipeline").glob("*.py")]
    found: dict[Path, int] = {}
    while todo:
        path = (ROOT / Path(*todo.pop().split("."))).with_suffix(".py")
        if path.is_file() and path not in found:
            found[path] = len(path.read_text().splitlines())
            todo += imports(path)
    return found


@pytest.mark.parametrize("folder", [*PIPELINE, "pipeline"])
def test_the_pipeline_imports_no_tool_but_through_its_one_door(folder):
    order = [*PIPELINE, "pipeline"]  # the DVC stages, above their library
    allowed = {f"stages.{name}" for name in order[:order.index(folder) + 1]}
    for path in sorted((STAGES / folder).glob("*.py")):
        for module in imports(path):
            if module.startswith("stages.tools"):
                assert module in (DOOR, "stages.tools.warm"), (path.name, module)
            else:
                assert ".".join(module.split(".")[:2]) in allowed | {"stages"}, (path.name,
                                                                                  module)


@pytest.mark.parametrize("tool", TOOLS)
def test_each_tool_imports_the_pipeline_and_only_the_tools_below_it(tool):
    allowed = {f"stages.tools.{name}" for name in TOOLS[:TOOLS.index(tool) + 1]} | TOOL_HELPERS | {
        "stages.tools"}
    for path in sorted((STAGES / "tools" / tool).glob("*.py")):
        for module in imports(path):
            if module.startswith("stages.tools."):
                assert ".".join(module.split(".")[:3]) in allowed, (path.name, module)


def test_the_pipeline_path_is_short_and_holds_no_tool_but_the_door():
    found = pipeline_path()
    tools = {path.relative_to(ROOT).as_posix() for path in found if "tools" in path.parts}
    assert tools == {"stages/tools/warm/client.py"}
    assert STAGES / "tools" / "warm" / "server.py" not in found


def test_each_tool_says_what_it_adds_and_how_to_turn_it_off():
    for tool in TOOLS:
        readme = STAGES / "tools" / tool / "README.md"
        assert readme.is_file(), readme
        assert "off" in readme.read_text().lower() or "only when" in readme.read_text(), tool


def test_ls_stages_shows_the_pipeline_and_the_tools_apart():
    folders = {path.name for path in STAGES.iterdir() if path.is_dir()
               and path.name != "__pycache__"}
    assert folders == {*PIPELINE, "pipeline", "tools"}
    tools = {path.name for path in (STAGES / "tools").iterdir() if path.is_dir()
             and path.name != "__pycache__"}
    assert tools == set(TOOLS)


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
    for name in [*PIPELINE, "pipeline", "tools", *TOOLS]:
        assert f"  {name}/" in layout, name
    for command in COMMANDS:
        assert f"  {command}.py" in layout, command

