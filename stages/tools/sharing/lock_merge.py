"""Git merges of what the pipeline writes: dvc.lock stage by stage, its committed outputs kept.

A `dvc.lock` changed on two branches conflicts in git's line-by-line merge even when
the branches changed different models (DVC ships no merge driver: dvc#1015, dvc#8233).
Merged stage by stage instead, as git merges files:
- an entry changed on one side only is taken from that side;
- an entry both sides changed alike is kept; one they changed differently, or that one
  side removed and the other changed, is dropped, so that `dvc repro` reruns the stage
  (or, if either side's run is in the run-cache, restores it, training nothing);
- an entry removed on one side and untouched on the other is removed.
The stage's outputs that git holds (validate's handed values, the report's tables)
are generated: on a file both sides changed, the merge keeps ours, and as both sides
then changed the stage's dvc.lock entry too, it is dropped and `dvc repro` writes them
anew from the merged inputs. Git calls these as merge drivers
(`.gitattributes`; `python -m stages.merge install` configures this clone).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

DROPPED = object()


def merge_entry(base: Any, ours: Any, theirs: Any) -> Any:
    """One stage's entry (None: absent on that side), or DROPPED."""
    if ours == theirs:
        return ours
    if ours == base:
        return theirs
    if theirs == base:
        return ours
    return DROPPED


def merge_stages(base: dict, ours: dict, theirs: dict) -> tuple[dict, list[str]]:
    """The merged `stages:` mapping (ours' order, then theirs' new ones), and the stages
    dropped because both sides changed them differently."""
    merged, dropped = {}, []
    for name in [*ours, *(name for name in theirs if name not in ours)]:
        entry = merge_entry(base.get(name), ours.get(name), theirs.get(name))
        if entry is DROPPED:
            dropped.append(name)
        elif entry is not None:
            merged[name] = entry
    return merged, dropped


def read_lock(path: Path) -> dict:
    """A dvc.lock as a mapping ({} for a side that has none)."""
    text = path.read_text() if path.is_file() else ""
    return yaml.safe_load(text) or {}


def merge_lock_files(base: Path, ours: Path, theirs: Path) -> list[str]:
    """Merge `theirs` into `ours` (git's %A, written in place); the dropped stages."""
    from dvc.utils.serialize import dump_yaml  # DVC's own layout of dvc.lock

    old, mine, other = read_lock(base), read_lock(ours), read_lock(theirs)
    stages, dropped = merge_stages(old.get("stages") or {}, mine.get("stages") or {},
                                   other.get("stages") or {})
    merged = {**other, **mine, "stages": stages}
    dump_yaml(str(ours), merged)
    return dropped
