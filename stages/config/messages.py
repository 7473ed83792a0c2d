"""Pydantic's validation errors as the one-line messages a user reads.

Each names the params key path as written in params.yaml
(`models.quickstart.layers[1].Dense.units`), says what is wrong, and offers
the nearest valid name where one is close ("did you mean 'epochs'?").
"""

from __future__ import annotations

import re
from typing import Any

from stages.common.cli import did_you_mean
from stages.config.layers import LAYERS
from stages.config.optimizers import LOSSES, OPTIMIZERS

KINDS = {"layers": "layer", "optimizer": "optimizer", "loss": "loss"}


def _path(loc: tuple) -> str:
    """('models', 'qs', 'layers', 1, 'Dense', 'Dense', 'units') -> models.qs.layers[1].Dense.units
    (a discriminated union repeats the class name as its tag)."""
    text = ""
    for i, part in enumerate(loc):
        if part == "[key]" or (i + 1 < len(loc) and loc[i + 1] == part):
            continue
        text += f"[{part}]" if isinstance(part, int) else f".{part}" if text else str(part)
    return text


def _kind(loc: tuple) -> str:
    return next((KINDS[p] for p in reversed(loc) if p in KINDS), "class")


def _yaml_hint(value: Any) -> str:
    try:
        float(value)
    except (TypeError, ValueError):
        return ""
    return " (YAML reads this as text: write numbers like 1.0e-3, with a dot)"


SIMPLE = {
    "missing": "missing key {path}",
    "int_type": "{where}must be an integer, got {value!r}",
    "float_type": "{where}must be a number, got {value!r}{hint}",
    "bool_type": "{where}must be true or false, got {value!r}",
    "string_type": "{where}must be text, got {value!r}",
    "finite_number": "{where}must be a finite number, got {value!r}",
    "dict_type": "{where}must be a mapping, got {value!r}",
    "model_type": "{where}must be a mapping, got {value!r}",
    "list_type": "{where}must be a list, got {value!r}",
    "too_short": "{where}must not be empty",
    "greater_than_equal": "{where}must be at least {ctx[ge]}, got {value!r}",
    "less_than": "{where}must be less than {ctx[lt]}, got {value!r}",
    "less_than_equal": "{where}must be at most {ctx[le]}, got {value!r}",
    "string_pattern_mismatch": "model name {value!r} must be letters, digits and _ "
                               "(it names DVC stages and files)",
}


def describe(error: dict) -> str:
    """One pydantic error as one line that names the params key."""
    kind, loc, ctx, value = error["type"], error["loc"], error.get("ctx", {}), error.get("input")
    path = _path(loc)
    where = f"{path} " if path else ""
    if kind in SIMPLE:
        return SIMPLE[kind].format(path=path, where=where, value=value, ctx=ctx, loc=loc,
                                   hint=_yaml_hint(value) if kind == "float_type" else "")
    if kind == "greater_than":
        return f"{where}must be greater than {ctx['gt']}, got {value!r}"
    if kind == "unknown_key":
        return f"unknown key {path + '.' if path else ''}{ctx['key']}{ctx['hint']}"
    if kind == "literal_error":
        options = re.findall(r"'([^']*)'", ctx.get("expected", ""))
        return (f"{where}must be one of {ctx.get('expected')}, got {value!r}"
                f"{did_you_mean(value, options)}")
    if kind == "union_tag_invalid":
        return _not_allowed(path, ctx["tag"], _kind(loc))
    if kind == "union_tag_not_found":
        return (f"{where}must be a {_kind(loc)} name or a one-key mapping "
                f"{{Name: {{argument: value}}}}, got {value!r}")
    message = error["msg"]  # our own checks (PydanticCustomError) word theirs fully
    if message.startswith("must"):
        return f"{where}{message}"
    return f"{path}.{message}" if message.startswith("layers[") else f"{path}: {message}"


def _not_allowed(path: str, name: str, kind: str) -> str:
    allowed = {"layer": LAYERS, "optimizer": OPTIMIZERS, "loss": LOSSES}.get(kind, {})
    if re.fullmatch(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)+", name):
        hint = ", a dotted import path; only Keras built-in classes are allowed"
    elif name == "Lambda":
        hint = " (Lambda layers run arbitrary code)"
    else:
        hint = did_you_mean(name, allowed)
    return (f"{path}: {name!r} is not an allowed {kind}{hint}; "
            f"allowed: {', '.join(sorted(allowed))}")


