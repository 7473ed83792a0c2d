"""Mutation scores: how many of the small bugs mutmut plants the fast tests catch.

    make mutants        # or: .venv/bin/python -m benchmarks.mutants [--skip-run]

Runs `mutmut run` over the modules `[tool.mutmut]` in pyproject.toml names (the ones
whose bugs would silently corrupt results: dvc.lock merges, code fingerprints, the
handed values, the params schema, IDX files, the download), against the fast tests
that cover them, then writes the score per module to benchmarks/results/mutants.json
(docs/tests.md shows it). A survivor is either killed by a new test or listed in
EQUIVALENT with why no test can tell it from the original; the score leaves those out.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tomllib
from collections import Counter
from pathlib import Path

from benchmarks import results

ROOT = Path(__file__).resolve().parent.parent
# Mutant -> why it behaves as the original (checked by reading `mutmut show NAME`).
BIG_ENDIAN = ("`int.from_bytes`/`to_bytes` without a byte order: big-endian, Python 3.11's "
              "default, as written")
WRAPPER = ("the one-key wrapper model without `Strict` as its base: its one field is the "
           "arguments model, itself `Strict`, and `_one_key_mapping` lets one key through")
UPPER = "the HTTP method in lower case: urllib3 upper-cases it (requests and retry checks)"
HEADER = "a header name in another case: HTTP header names are case-insensitive (both ends)"
LAST_PART = "another way to the URL's last `/` part (rsplit without a limit, [+1] of two, ...)"
UNREACHED = "after the loop, which the retry policy always ends first by raising"
HISTORY = ("`Retry.increment` without the URL or the error: with only `total` set, they change "
           "its history, not its count")
EQUIVALENT: dict[str, str] = {
    "stages.data.idx.x_parse__mutmut_14": BIG_ENDIAN,
    "stages.data.idx.x_parse__mutmut_35": BIG_ENDIAN,
    "stages.data.idx.x_encode__mutmut_11": BIG_ENDIAN,
    "stages.data.idx.x_encode__mutmut_20": BIG_ENDIAN,
    "stages.config.params_file.x_keras_object__mutmut_3": WRAPPER,
    "stages.config.params_file.x_keras_object__mutmut_5": WRAPPER,
    "stages.data.fetch.x__attempt__mutmut_4": ("`preload_content=None` for `False`: urllib3 "
                                               "reads it as false, and streams"),
    "stages.data.fetch.x__attempt__mutmut_9": UPPER,
    "stages.data.fetch.x__attempt__mutmut_16": UPPER,
    "stages.data.fetch.x__download__mutmut_61": UPPER,
    "stages.data.fetch.x__download__mutmut_9": HEADER,
    "stages.data.fetch.x__download__mutmut_10": HEADER,
    "stages.data.fetch.x__attempt__mutmut_24": HEADER,
    "stages.data.fetch.x__attempt__mutmut_25": HEADER,
    "stages.data.fetch.x__attempt__mutmut_37": LAST_PART,
    "stages.data.fetch.x__attempt__mutmut_40": LAST_PART,
    "stages.data.fetch.x__attempt__mutmut_41": LAST_PART,
    "stages.data.fetch.x__download__mutmut_30": ("`range(500, 601)` for `range(500, 600)`: "
                                                 "HTTP has no status 600"),
    "stages.data.fetch.x__download__mutmut_37": UNREACHED,
    "stages.data.fetch.x__download__mutmut_67": UNREACHED,
    "stages.data.fetch.x__download__mutmut_68": UNREACHED,
    "stages.data.fetch.x__download__mutmut_69": UNREACHED,
    "stages.data.fetch.x__download__mutmut_55": HISTORY,
    "stages.data.fetch.x__download__mutmut_56": HISTORY,
    "stages.data.fetch.x__download__mutmut_58": HISTORY,
    "stages.data.fetch.x__download__mutmut_59": HISTORY,
    "stages.data.fetch.x__stream__mutmut_7": ("`file=None` for `file=sys.stderr`: tqdm's "
                                              "default is sys.stderr"),
    "stages.data.fetch.x__stream__mutmut_14": ("no `file=` for `file=sys.stderr`: tqdm's "
                                               "default is sys.stderr"),
    "stages.data.fetch.x__stream__mutmut_19": ("`read(None)` for `read(CHUNK)`: the same bytes "
                                               "and digest, read in one piece (memory aside)"),
    "stages.common.code_deps.x_modules__mutmut_16": (
        "`node.module or \"XXXX\"` for `node.module or \"\"`: a relative import has no "
        "module, and neither text starts with `stages.`"),
}
STATUS = {1: "killed", 3: "killed", 0: "survived", 5: "no tests", 33: "no tests",
          34: "skipped", 36: "timeout", 24: "timeout", -24: "timeout", 152: "timeout",
          255: "timeout", 37: "caught by type check"}


def modules() -> list[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mutmut"]
    return config["only_mutate"]


def outcomes(module: str) -> dict[str, str]:
    """Each of the module's mutants and what became of it, from mutmut's own record."""
    meta = ROOT / "mutants" / f"{module}.meta"
    found = json.loads(meta.read_text())["exit_code_by_key"] if meta.is_file() else {}
    return {name: STATUS.get(code, "suspicious") for name, code in found.items()}


def table() -> tuple[dict, list[str]]:
    rows, survivors = [], []
    for module in modules():
        found = outcomes(module)
        counts = Counter(found.values())
        equivalent = [name for name in found if name in EQUIVALENT]
        counted = len(found) - len(equivalent)
        killed = counts["killed"] + counts["timeout"] + counts["caught by type check"]
        survivors += [name for name, status in found.items()
                      if status not in ("killed", "timeout") and name not in EQUIVALENT]
        score = f"**{100 * killed / counted:.0f}%**" if counted else "no mutants"
        rows.append([f"`{module}`", str(len(found)), str(killed), str(len(equivalent)),
                     str(counted - killed), score])
    return {"columns": ["module", ">mutants", ">killed", ">equivalent", ">survived",
                        ">score"], "rows": rows}, survivors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--skip-run", action="store_true", help="score the last run only")
    args = parser.parse_args()
    if not args.skip_run:
        subprocess.run([Path(sys.executable).parent / "mutmut", "run", "--max-children", "2"],
                       cwd=ROOT, check=True)
    scores, survivors = table()
    print(results.markdown(scores))
    if survivors:
        print("survivors (kill them with a test, or explain them in EQUIVALENT):")
        print("\n".join(f"  {name}" for name in survivors))
    equivalent = {"columns": ["mutant", "why it is equivalent"],
                  "rows": [[f"`{name}`", why] for name, why in EQUIVALENT.items()]}
    results.save("mutants", {"scores": scores, "equivalent": equivalent})


if __name__ == "__main__":
    main()
