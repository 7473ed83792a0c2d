"""A sweep's search space, in the `-S` grammar DVC users know, for Ray Tune to search.

    -S 'models.quickstart.optimizer.Adam.learning_rate=tag(log, interval(1e-4, 1e-2))'
    -S 'models.quickstart.batch_size=choice(32, 64, 128)'
    -S 'models.quickstart.layers[1].Dense.units=choice(64, 128, 256)'

Hydra's own override parser reads each one (the grammar of `dvc exp run -S` and
of Hydra's Optuna sweeper: `choice`, `range`, `interval`, `tag(log, ...)`), and
each sweep becomes the Ray Tune distribution Hydra's Optuna sweeper would make
of it: a choice, a (log-)uniform float, a (log-)uniform integer. A layer is
addressed by its index: `layers[1]` as written here, `layers.1` as DVC carries
it (`dvc exp run -S models.quickstart.layers.1.Dense.units=64` works as is).
Before anything is scheduled, every key must exist and every end of every
range, and every choice, must pass the params schema.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from stages.common import paths
from stages.common.cli import UserError, did_you_mean
from stages.config import params_file

INDEX = re.compile(r"\[(\d+)\]")


def dvc_key(key: str) -> str:
    """`layers[1].Dense.units` -> `layers.1.Dense.units`: the form DVC's grammar carries."""
    return INDEX.sub(r".\1", key)


@dataclass
class Space:
    """Fixed overrides, and the searched keys with the values each may take."""

    fixed: dict[str, Any]
    searched: dict[str, Any]     # key -> a Hydra sweep (ChoiceSweep, RangeSweep, IntervalSweep)

    def model(self) -> str:
        """The one model block a search changes (its metric is that model's)."""
        blocks = {key.split(".")[1] for key in [*self.fixed, *self.searched]
                  if key.startswith("models.")}
        if len(blocks) != 1 or not all(key.startswith("models.") for key in self.searched):
            raise UserError("a search changes one model's block (models.<name>....), whose "
                            f"metric it follows; these keys touch {sorted(blocks) or 'none'}")
        return blocks.pop()

    def tune(self) -> dict[str, Any]:
        """Ray Tune's search space: each searched key's distribution."""
        return {key: _distribution(key, sweep) for key, sweep in self.searched.items()}

    def overrides(self, config: dict[str, Any]) -> list[str]:
        """One trial's `-S` arguments for `dvc exp run`."""
        values = {**self.fixed, **config}
        return [f"{key}={as_text(value)}" for key, value in values.items()]


def parse(arguments: list[str]) -> Space:
    """The `-S` arguments as a search space, or one line naming what is wrong."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.core.override_parser.types import Sweep
    from hydra.errors import HydraException

    fixed, searched = {}, {}
    for argument in arguments:
        key, _, value = argument.partition("=")
        try:
            [override] = OverridesParser.create().parse_overrides([f"{dvc_key(key)}={value}"])
        except HydraException as error:
            raise UserError(f"-S {argument}: {str(error).splitlines()[0]}") from None
        found = override.value()
        (searched if isinstance(found, Sweep) else fixed)[override.key_or_group] = found
    if not searched:
        raise UserError("a search needs at least one -S with choice(), range() or interval()")
    return Space(fixed, searched)


def _distribution(key: str, sweep) -> Any:
    from hydra.core.override_parser.types import ChoiceSweep, IntervalSweep, RangeSweep
    from ray import tune

    log = "log" in sweep.tags
    if isinstance(sweep, ChoiceSweep):
        return tune.choice(list(sweep.list))
    if isinstance(sweep, RangeSweep):
        return tune.choice(list(sweep.range()))
    if isinstance(sweep, IntervalSweep):
        low, high = sweep.start, sweep.end
        if isinstance(low, int) and isinstance(high, int):
            return (tune.lograndint if log else tune.randint)(low, high + 1)
        return (tune.loguniform if log else tune.uniform)(float(low), float(high))
    raise UserError(f"-S {key}: {type(sweep).__name__} cannot be searched")


def as_text(value: Any) -> str:
    """A value as `-S` writes it."""
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):
        return value
    return yaml.safe_dump(value, default_flow_style=True).strip().removesuffix("...").strip()


def _candidates(sweep) -> list[Any]:
    """The values of a sweep the schema must accept: every choice, each end of a range."""
    from hydra.core.override_parser.types import ChoiceSweep, RangeSweep

    if isinstance(sweep, ChoiceSweep):
        return list(sweep.list)
    if isinstance(sweep, RangeSweep):
        values = list(sweep.range())
        return [values[0], values[-1]] if values else []
    return [sweep.start, sweep.end]


def check(space: Space) -> None:
    """Refuse the search unless every key exists and every choice and every end of every
    range passes the params schema."""
    from dvc.utils.hydra import apply_overrides

    raw = yaml.safe_load(paths.PARAMS.read_text())
    for key in [*space.fixed, *space.searched]:
        _exists(raw, key)
    first = {key: _candidates(sweep)[0] for key, sweep in space.searched.items()}
    with tempfile.TemporaryDirectory() as scratch:
        for key, sweep in space.searched.items():
            for value in _candidates(sweep):
                copy = Path(scratch) / "params.yaml"
                shutil.copy(paths.PARAMS, copy)
                trial = space.overrides({**first, key: value})
                apply_overrides(copy, trial)
                try:
                    params_file.load(copy)
                except UserError as error:
                    raise UserError(f"-S {key}={as_text(value)}: {error}") from None


def _exists(raw: Any, key: str) -> None:
    node, walked = raw, []
    for part in key.split("."):
        walked.append(part)
        if isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        elif isinstance(node, dict) and part in node:
            node = node[part]
        else:
            options = list(node) if isinstance(node, dict) else []
            raise UserError(f"-S {key}: unknown key {'.'.join(walked)}"
                            f"{did_you_mean(part, options)}")


def default(key: str) -> Any:
    """The value params.yaml holds at `key` (the report sets the best trial beside it)."""
    node = yaml.safe_load(paths.PARAMS.read_text())
    for part in key.split("."):
        node = node[int(part)] if isinstance(node, list) else node.get(part)
        if node is None:
            return None
    return node
