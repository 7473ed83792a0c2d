"""Print the JSON Schema of params.yaml that editors read (`make schema`).

    python -m stages.schema > params.schema.json

Generated from the same pydantic models that validate params.yaml
(`stages.config.schema`); a test fails when the shipped file is stale.
"""

from __future__ import annotations

import json
import sys

from stages.common.cli import run
from stages.config.schema import json_schema


def main(argv: list[str]) -> None:
    """Write the schema to stdout."""
    if argv:
        sys.exit(__doc__)
    print(json.dumps(json_schema(), indent=2, sort_keys=True))


if __name__ == "__main__":
    run(lambda: main(sys.argv[1:]))
