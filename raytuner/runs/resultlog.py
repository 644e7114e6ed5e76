"""Tune's JSON and CSV result loggers, recording each epoch of a trial once.

A trial that resumes from a checkpoint older than its last reported result replays the epochs
after that checkpoint. That happens when a worker dies between reporting an epoch and Tune
registering that epoch's checkpoint (Tune fetches it from the worker with a separate ``save``
task after logging the result), when a corrupt checkpoint falls back to the previous one, and
when a killed driver is resumed from a state saved before the last results. Ray's loggers
append every result, so ``result.json`` would list those epochs twice; raytuner's TensorBoard
view keeps the first report of each epoch, and so do these loggers, so ``result.json``,
``progress.csv``, ``summary.json`` and TensorBoard agree, each epoch once.

Ray's loggers also lose epochs: they write into the driver's staging folder, which Ray copies to
the run folder every 10 s or more, and each time a trial starts again (a retry after a failure, a
PBT exploit, an unpause) they first copy the run folder's file back over the staging one. A
restart within those seconds of the last copy put back a file without the latest epochs (a
retried trial's ``result.json`` was seen holding epochs [3, 4] and [1, 3, 4] of 1-4). These
loggers restore from the run folder only when the staging folder has no copy yet: a resumed
driver, whose staging folder is new.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from ray.tune.logger import CSVLoggerCallback, JsonLoggerCallback

from raytuner.runs.folder import RESULT_FILE

#: Ray's CSV logger writes this in each trial folder
PROGRESS_FILE = "progress.csv"


def result_epoch(result: dict[str, Any]) -> int | None:
    """The epoch a result reports (raytuner's ``epoch``, else Tune's iteration)."""
    value = result.get("epoch", result.get("training_iteration"))
    return int(value) if isinstance(value, int | float) else None


def recorded_epochs(trial_dir: str | Path) -> int:
    """The last epoch in a trial folder's ``result.json`` (0 when none)."""
    path = Path(trial_dir) / RESULT_FILE
    last = 0
    if not path.is_file():
        return last
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            epoch = result_epoch(json.loads(line))
        except ValueError:  # a line cut short by a killed driver
            continue
        last = max(last, epoch or 0)
    return last


class _EpochsOnce:
    """Mixin for a Tune ``LoggerCallback``: drop a result whose epoch is already recorded."""

    def _recorded(self, trial_dir: str) -> int:
        raise NotImplementedError

    def _restore_from_remote(self, file_name: str, trial: Any) -> None:
        # The staging copy is what this driver wrote: never older than the run folder's.
        if Path(trial.local_path, file_name).exists():
            return
        super()._restore_from_remote(file_name, trial)  # type: ignore[misc]

    def _is_new_epoch(self, trial: Any, result: dict[str, Any]) -> bool:
        seen: dict[str, int] = self.__dict__.setdefault("_raytuner_last_epoch", {})
        if trial.trial_id not in seen:  # first sight in this driver: what the folder holds
            seen[trial.trial_id] = self._recorded(trial.local_path)
        epoch = result_epoch(result)
        if epoch is None:
            return True
        if epoch <= seen[trial.trial_id]:
            return False
        seen[trial.trial_id] = epoch
        return True


class JsonResultLogger(_EpochsOnce, JsonLoggerCallback):
    """Ray's JSON logger (``result.json``), each epoch once."""

    def _recorded(self, trial_dir: str) -> int:
        return recorded_epochs(trial_dir)

    def log_trial_result(self, iteration: int, trial: Any, result: dict) -> None:
        if trial not in self._trial_files:
            self.log_trial_start(trial)  # restores result.json from storage first
        if self._is_new_epoch(trial, result):
            super().log_trial_result(iteration, trial, result)


class CsvResultLogger(_EpochsOnce, CSVLoggerCallback):
    """Ray's CSV logger (``progress.csv``), each epoch once."""

    def _recorded(self, trial_dir: str) -> int:
        path = Path(trial_dir) / PROGRESS_FILE
        if not path.is_file():
            return 0
        with path.open(newline="", encoding="utf-8") as handle:
            epochs = [row.get("epoch") or row.get("training_iteration")
                      for row in csv.DictReader(handle)]
        return max((int(float(e)) for e in epochs if e), default=0)

    def log_trial_result(self, iteration: int, trial: Any, result: dict) -> None:
        if trial not in self._trial_files:
            self._setup_trial(trial)
        if self._is_new_epoch(trial, result):
            super().log_trial_result(iteration, trial, result)
