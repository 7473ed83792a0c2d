"""Rewrite the committed files that are generated from code (`make regenerate`).

    python -m stages.regenerate

- `params.schema.json`: the JSON Schema of params.yaml that editors read, from
  the same pydantic models that validate it (`stages.config.params_file`);
- `.dvc/plots/offline.html`: DVC's page template with the Vega libraries inline,
  from the pinned vl-convert-python (`stages.reporting.vega`), so `dvc plots
  show` and `dvc plots diff` draw with no network in any clone;
- the README's and docs' figures tables, from the benchmarks' results files
  (`benchmarks/results.py`).

All are committed, so a clone needs neither `make` nor this command; a fast test
fails when either is stale (a new pin, an edited schema, a new results file), naming this command.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from stages.common.cli import run
from stages.common.files import write_text
from stages.config.params_file import json_schema
from stages.reporting import vega

SCHEMA = Path("params.schema.json")


def generated() -> dict[Path, str]:
    """Each generated file's path and the text it should hold."""
    from benchmarks import results  # the checkout's, run from its root

    return {SCHEMA: json.dumps(json_schema(), indent=2, sort_keys=True) + "\n",
            vega.template_path(): vega.page(), **results.docs()}


def main(argv: list[str]) -> None:
    """Write every generated file whose text changed."""
    if argv:
        sys.exit(__doc__)
    for path, text in generated().items():
        if not path.is_file() or path.read_text() != text:
            write_text(path, text)
            print(f"regenerate: wrote {path}")
        else:
            print(f"regenerate: {path} is current")


if __name__ == "__main__":
    run(lambda: main(sys.argv[1:]))
