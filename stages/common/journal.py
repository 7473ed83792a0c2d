"""A note of each stage whose command ran in this clone, with the outputs it wrote.

DVC does not keep a record of which stages it ran and which it restored from its
run-cache; `stages.compare` needs one to say what a branch retrained. Each stage,
when its command succeeds under DVC, appends its name and the md5 of each file it
wrote (what dvc.lock records for them) to `.dvc/tmp/runs.jsonl` in this clone. A
dvc.lock entry whose outputs match a note was made here; any other came from the
DVC cache or run-cache (a teammate's, CI's, another branch's). Kept local: DVC's
tmp folder is never committed or pushed.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import time
from pathlib import Path

from stages.common import outputs

JOURNAL = Path(".dvc/tmp/runs.jsonl")
KEPT = 2000  # notes; older ones are dropped


def _md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as stream:
        while chunk := stream.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def record(stage: str) -> None:
    """Note that `stage`'s command ran here and wrote its (file) outputs as they are now
    (stages side by side append in turn; the oldest notes go past KEPT)."""
    cached, uncached = outputs.of_stage(stage)
    written = {str(path): _md5(path) for path in [*cached, *uncached] if path.is_file()}
    note = json.dumps({"stage": stage, "at": round(time.time()), "outs": written})
    with contextlib.suppress(OSError):  # a note is a convenience: never a failure
        JOURNAL.parent.mkdir(parents=True, exist_ok=True)
        with JOURNAL.open("a+") as journal:
            fcntl.flock(journal, fcntl.LOCK_EX)
            journal.write(note + "\n")
            journal.seek(0)
            lines = journal.read().splitlines()
            if len(lines) > KEPT:
                journal.truncate(0)
                journal.write("\n".join(lines[-KEPT:]) + "\n")


def ran_here(stage: str, entry: dict) -> bool:
    """Whether dvc.lock's `entry` for `stage` records outputs a run here wrote. (A stage
    with only folders for outputs, `validate`, is never taken from the run-cache: any
    run of it here counts.)"""
    recorded = {out["path"]: out.get("md5") for out in entry.get("outs", [])
                if not str(out.get("md5", "")).endswith(".dir")}
    if not JOURNAL.is_file():
        return False
    for line in JOURNAL.read_text().splitlines():
        note = json.loads(line)
        if note["stage"] == stage and all(note["outs"].get(path) == md5
                                          for path, md5 in recorded.items()):
            return True
    return False
