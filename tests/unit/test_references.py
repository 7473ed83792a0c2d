"""References that resolve: every "README: X" and "docs/X.md#Y" the code and docs cite
names a section that exists, every path they name exists, every `make X` is a target."""

from __future__ import annotations

import re
import subprocess

import pytest

from harness import ROOT

SOURCES = [path.relative_to(ROOT).as_posix() for path in sorted(
    [*ROOT.glob("stages/**/*.py"), *ROOT.glob("tests/**/*.py"), *ROOT.glob("benchmarks/*.py"),
     *ROOT.glob("benchmarks/*/*.py"), *ROOT.glob("docs/*.md"), *ROOT.glob("stages/**/*.md"),
     ROOT / "README.md", ROOT / "Makefile", ROOT / ".ci/run", ROOT / "dvc.yaml",
     ROOT / "params.yaml", *ROOT.glob("requirements*.txt"), ROOT / ".github/workflows/ci.yml",
     ROOT / "pyproject.toml"]) if path.name != "test_references.py"]
README_SECTION = re.compile(r"README: ([A-Z][\w ,'/-]*[\w'])")
DOC_LINK = re.compile(r"(?:docs/)?(\b[a-z]+\.md)#([\w-]+)")
MARKDOWN_LINK = re.compile(r"\]\(([^)#\s]+)(?:#([\w-]+))?\)")
PATH = re.compile(r"\b((?:stages|tests|benchmarks|docs|\.ci|\.dvc|\.github)/[\w./-]*\w)")
MAKE = re.compile(r"(?:`|\(|run |^#\s+|;\s+)make ([a-z][\w-]*)", re.M)
TEMPLATE = ("<", "{", "*", "$")


def slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(doc: str) -> set[str]:
    text = (ROOT / doc).read_text()
    return {slug(line.lstrip("#")) for line in text.splitlines() if line.startswith("#")}


def make_targets() -> set[str]:
    text = (ROOT / "Makefile").read_text()
    return {name for line in text.splitlines() if (m := re.match(r"^([\w .$()/-]+):", line))
            for name in m[1].split()} | {"install-ray"}


def ignored(path: str) -> bool:
    """A path git ignores: one a command makes (benchmarks/.data, a venv's files)."""
    return any(subprocess.run(["git", "check-ignore", "-q", name], cwd=ROOT,
                              check=False).returncode == 0 for name in (path, f"{path}/"))


def cited(pattern: re.Pattern) -> list[tuple[str, re.Match]]:
    return [(source, match) for source in SOURCES
            for match in pattern.finditer((ROOT / source).read_text())]


def test_every_readme_section_cited_exists():
    sections = {line.lstrip("#").strip() for line in (ROOT / "README.md").read_text()
                .splitlines() if line.startswith("#")}
    wrong = [f"{source}: README: {m[1]}" for source, m in cited(README_SECTION)
             if m[1] not in sections]
    assert wrong == [], "\n".join(wrong)


def test_every_doc_anchor_cited_exists():
    wrong = []
    for source, m in cited(DOC_LINK):
        doc = "README.md" if m[1].lower() == "readme.md" else f"docs/{m[1]}"
        if (ROOT / doc).is_file() and m[2] not in anchors(doc):
            wrong.append(f"{source}: {m[0]}")
    assert wrong == [], "\n".join(wrong)


def test_every_markdown_link_resolves():
    wrong = []
    for source, m in cited(MARKDOWN_LINK):
        if not source.endswith(".md") or m[1].startswith(("http", "mailto")):
            continue
        target = (ROOT / source).parent / m[1]
        if not target.exists():
            wrong.append(f"{source}: {m[1]}")
        elif m[2] and target.suffix == ".md" and m[2] not in anchors(
                target.resolve().relative_to(ROOT).as_posix()):
            wrong.append(f"{source}: {m[1]}#{m[2]}")
    assert wrong == [], "\n".join(wrong)


def test_every_path_named_exists():
    tracked = set(subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True,
                                 check=True).stdout.split())
    wrong = []
    for source, m in cited(PATH):
        path = m[1].rstrip(".")
        rest = (ROOT / source).read_text()[m.end():m.end() + 1]
        if rest in TEMPLATE or any(c in path for c in TEMPLATE):
            continue
        if not (ROOT / path).exists() and path not in tracked and not ignored(path):
            wrong.append(f"{source}: {path}")
    assert wrong == [], "\n".join(wrong)


def test_every_make_target_named_exists():
    targets = make_targets()
    wrong = [f"{source}: make {m[1]}" for source, m in cited(MAKE) if m[1] not in targets]
    assert wrong == [], "\n".join(wrong)


@pytest.mark.parametrize("stale", ["GRADIENT_TAPE_TARGET", "make figures"])
def test_the_stale_names_are_gone(stale):
    assert [s for s in SOURCES if stale in (ROOT / s).read_text()] == []
