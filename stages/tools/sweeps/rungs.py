"""ASHA whose rungs outlive the driver.

Ray Tune saves the searcher's history with a search's state but not the scheduler's:
a search resumed with `--resume` would start ASHA with empty rungs, and a hopeless
trial that reaches a rung first always goes on, so every result already gathered
would stop nothing. `KeptASHA` writes its rungs (each trial's figure at each
milestone) to a JSON file beside Ray Tune's state after every result, and reads them
back when the resumed search adds its first trial.
"""

from __future__ import annotations

from pathlib import Path

from ray.tune.schedulers import ASHAScheduler

from stages.common.files import read_json, write_json


class KeptASHA(ASHAScheduler):
    """Ray Tune's ASHA, its rungs kept in the JSON file `kept`."""

    def __init__(self, *, kept: str, **settings) -> None:
        super().__init__(**settings)
        self._kept = kept
        self._loaded = False

    def on_trial_add(self, tune_controller, trial) -> None:
        if not self._loaded and Path(self._kept).is_file():
            kept = read_json(self._kept)["brackets"]  # the same settings: as many brackets
            for bracket, rungs in zip(self._brackets, kept, strict=True):
                bracket._rungs = [(milestone, recorded) for milestone, recorded in rungs]
        self._loaded = True
        super().on_trial_add(tune_controller, trial)

    def on_trial_result(self, tune_controller, trial, result: dict) -> str:
        action = super().on_trial_result(tune_controller, trial, result)
        self._keep()
        return action

    def on_trial_complete(self, tune_controller, trial, result: dict) -> None:
        super().on_trial_complete(tune_controller, trial, result)
        self._keep()

    def _keep(self) -> None:
        write_json(self._kept, {"brackets": [bracket._rungs for bracket in self._brackets]})
