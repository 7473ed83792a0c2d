"""This branch against its base, as one Markdown report a person reads (and CI posts).

Per model, test accuracy and loss on both sides, the change and an arrow; the params
that changed; which stages this branch changed, and of those which ran here and which
came from the DVC cache or run-cache (`stages.common.journal`); and, per model whose
training changed, both sides' learning curves in one picture.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from stages.common import handed, journal, paths
from stages.tools import tool_pictures as pictures
from stages.tools.sharing.revisions import Revision, changed_params

MARKER = "<!-- mnist-zoo comparison -->"  # CI finds its own pull-request comment by it


def arrow(old: float | None, new: float | None, scale: float, unit: str, digits: int) -> str:
    """`▲ +0.70 pp`, `▼ -0.0545`, `=`; or `new`, `removed` when one side has none."""
    if old is None or new is None:
        return "new" if old is None else "removed"
    change = (new - old) * scale
    if round(change, digits) == 0:
        return "="
    return f"{'▲' if change > 0 else '▼'} {change:+.{digits}f}{unit}"


def _cell(value: float | None, scale: float, unit: str, digits: int) -> str:
    return "n/a" if value is None else f"{value * scale:.{digits}f}{unit}"


def model_rows(base: Revision, here: Revision, models: list[str]) -> list[str]:
    """The table of models: accuracy and loss on both sides, with the change."""
    rows = [f"| model | test accuracy ({base.label} → here) | change | "
            f"test loss ({base.label} → here) | change |", "|---|---:|---|---:|---|"]
    for name in models:
        metrics = str(paths.of_model("test_metrics", name))
        old, new = base.json(metrics) or {}, here.json(metrics) or {}
        accuracy = (old.get("test_accuracy"), new.get("test_accuracy"))
        loss = (old.get("test_loss"), new.get("test_loss"))
        rows.append(f"| `{name}` | {_cell(accuracy[0], 100, '%', 2)} → "
                    f"{_cell(accuracy[1], 100, '%', 2)} | {arrow(*accuracy, 100, ' pp', 2)} | "
                    f"{_cell(loss[0], 1, '', 4)} → {_cell(loss[1], 1, '', 4)} | "
                    f"{arrow(*loss, 1, '', 4)} |")
    return rows


def stage_lines(base: Revision, here: Revision) -> tuple[list[str], list[str]]:
    """What this branch changed in dvc.lock; of it, which stages ran here."""
    old, new = base.lock(), here.lock()
    changed = [name for name, entry in new.items() if old.get(name) != entry]
    ran = [name for name in changed if journal.ran_here(name, new[name])]
    lines = [f"**Stages** this branch changed: {len(changed)} of {len(new)}"]
    if changed:
        restored = [name for name in changed if name not in ran]
        lines += [f"- ran here: {', '.join(f'`{n}`' for n in ran) or 'none'}",
                  f"- from the DVC cache or run-cache: "
                  f"{', '.join(f'`{n}`' for n in restored) or 'none'}"]
    return lines, changed


def _history(revision: Revision, name: str) -> list[dict]:
    text = revision.read(paths.of_model("history", name)) or ""
    rows = [{key: float(value) for key, value in row.items()}
            for row in csv.DictReader(io.StringIO(text))]
    return [{**row, "epoch": int(row["epoch"]) + 1} for row in rows]


def report(base: Revision, here: Revision, out: Path) -> str:
    """The whole report; the learning-curve pictures go into `out`."""
    title = f"## mnist-zoo: this branch against `{base.label}`"
    if not base.lock() or not any(base.json(paths.of_model("test_metrics", name))
                                  for name in base.params().get("models", {})):
        return (f"{MARKER}\n{title}\n\n{base.label} has no results to compare with: no "
                "dvc.lock there, or its metrics are in neither the DVC cache nor the remote "
                "(run the pipeline on it and `dvc push`).\n")
    models = handed.models() or list(here.params().get("models", {}))
    models += [name for name in base.params().get("models", {}) if name not in models]
    lines = [MARKER, title, "", *model_rows(base, here, models), ""]
    changed = changed_params(base.params(), here.params())
    lines.append("**Params changed:**" + ("" if changed else " none"))
    lines += [f"- `{key}`: {old} → {new}" for key, (old, new) in changed.items()]
    stages, changed_stages = stage_lines(base, here)
    lines += ["", *stages]
    retrained = [name for name in models if f"train@{name}" in changed_stages]
    if retrained:
        lines += ["", f"**Learning curves** ({base.label} dashed, this branch solid):"]
    for name in retrained:
        picture = out / f"{name}.png"
        pictures.compared_history(picture, _history(base, name), _history(here, name), name,
                                  base.label)
        lines.append(f"- `{name}`: `{picture}`")
    return "\n".join(lines) + "\n"
