"""The driver-side Ray Tune callback that shows a run: on a terminal one live view redrawn in
place (:mod:`raytuner.view.render`), elsewhere one line per event (:mod:`raytuner.view.events`).

It replaces Ray's own progress output (Ray's reporter is silenced in
:mod:`raytuner.runs.quiet`). Tune pickles its callbacks with the experiment state and brings
them back on resume, so only settings are pickled; the terminal is looked at when the run
(or the resumed run) starts.
"""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path
from typing import Any

from ray.tune import Callback
from rich.console import Console
from rich.live import Live

from raytuner.config.schema import Experiment
from raytuner.search.space import flatten
from raytuner.search.work import expected_work
from raytuner.trial.status import FINAL_STATUSES, max_epochs_of, trial_status
from raytuner.view import events
from raytuner.view.render import render_view
from raytuner.view.state import RunView, TrialRow

#: live displays not closed yet (a run that fails or is interrupted skips on_experiment_end)
_OPEN: list[RunDisplay] = []


def is_terminal(stream: Any) -> bool:
    """True when ``stream`` is an interactive terminal that can redraw in place."""
    return bool(getattr(stream, "isatty", lambda: False)()) and os.environ.get("TERM") != "dumb"


def close_displays() -> None:
    """Stop every live view still drawing, leaving its last frame on screen."""
    while _OPEN:
        _OPEN.pop().close()


class RunDisplay(Callback):
    """Shows the run: a live view on a terminal, event lines elsewhere."""

    def __init__(self, experiment: Experiment, run_dir: str | Path):
        self.experiment = experiment
        self.run_dir = str(run_dir)
        self._reset()

    def __getstate__(self) -> dict[str, Any]:
        return {"experiment": self.experiment, "run_dir": self.run_dir}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._reset()

    def _reset(self) -> None:
        self.view: RunView | None = None
        self._live: Live | None = None
        self._lock = threading.Lock()
        self._leader: str | None = None
        self._leader_value: float | None = None
        self._ended: set[str] = set()

    # -- start and end ----------------------------------------------------------------------

    def setup(self, **info: Any) -> None:
        self._ensure([])

    def _ensure(self, trials: list) -> RunView:
        if self.view is not None:
            return self.view
        exp = self.experiment
        planned, epochs, _ = expected_work(exp)
        self.view = RunView(name=exp.name, metric=exp.search.metric, mode=exp.search.mode,
                            run_dir=self.run_dir, planned_trials=planned,
                            planned_epochs=epochs.expected, max_planned_epochs=epochs.upper)
        for trial in trials:  # a resumed run: what its trials did before
            self._update(trial)
            if self.view.trials[trial.trial_id].status in FINAL_STATUSES:
                self._ended.add(trial.trial_id)
        self.view.epochs_at_start = self.view.epochs_done()
        if is_terminal(sys.stdout):
            self._live = Live(console=Console(), get_renderable=self._render,
                              refresh_per_second=2, transient=False, redirect_stderr=False)
            self._live.start()
            _OPEN.append(self)
        else:
            print(events.start_line(self.view, resumed=bool(trials)), flush=True)
        return self.view

    def _render(self) -> Any:
        with self._lock:
            return render_view(self.view)

    def close(self) -> None:
        """Stop drawing (the last frame stays on screen)."""
        if self._live is not None:
            self._live.refresh()
            self._live.stop()
            self._live = None

    def on_experiment_end(self, trials: list, **info: Any) -> None:
        view = self._ensure(trials)
        for trial in trials:
            self._update(trial)
        view.finished_s = view.elapsed_s()
        if self._live is not None:
            self.close()
            if self in _OPEN:
                _OPEN.remove(self)
        else:
            self._emit(events.end_line(view))

    # -- trial events -----------------------------------------------------------------------

    def on_step_begin(self, iteration: int, trials: list, **info: Any) -> None:
        self._ensure(trials)

    def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._ensure(trials)
        row = self._update(trial, status="running")
        if row.epoch == 0:  # not a trial continuing from its checkpoint
            self._emit(events.trial_started(self.view, row))

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict,
                        **info: Any) -> None:
        self._ensure(trials)
        self._update(trial, result, status="running")

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._ended_event(trials, trial, "TERMINATED")

    def on_trial_recover(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._ensure(trials)
        row = self._update(trial, status="running")
        self._emit(events.trial_retried(self.view, row))

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._ended_event(trials, trial, "ERROR")

    def _ended_event(self, trials: list, trial: Any, ray_status: str) -> None:
        self._ensure(trials)
        # Tune calls back before it sets the trial's final status: decide with the outcome.
        row = self._update(trial, status=ray_status)
        if row.trial_id not in self._ended:
            self._ended.add(row.trial_id)
            if row.status == "errored":
                row.error_file = getattr(trial, "error_file", None) or getattr(trial, "path", None)
            self._emit(events.trial_ended(self.view, row))
            self._announce_best(row)

    def _announce_best(self, ended: TrialRow) -> None:
        """A line when a trial ends holding the best value of all ended trials (one line per
        new leader, not one per improving epoch)."""
        if ended.best is None or ended.best != ended.best:
            return
        if self.view.better(ended.best, self._leader_value):
            self._leader, self._leader_value = ended.trial_id, ended.best
            self._emit(events.new_best(self.view, ended))

    # -- helpers ----------------------------------------------------------------------------

    def _update(self, trial: Any, result: dict | None = None, *,
                status: str | None = None) -> TrialRow:
        view = self.view
        assert view is not None  # _ensure ran
        with self._lock:
            row = view.trials.get(trial.trial_id)
            if row is None:
                params = flatten(trial.config, self.experiment.space)
                row = view.trials[trial.trial_id] = TrialRow(trial.trial_id, params=params)
            row.max_epochs = max_epochs_of(row.params, self.experiment.train.epochs)
            last = result if result is not None else (trial.last_result or {})
            row.epoch = max(row.epoch, int(last.get("epoch") or 0))
            value = last.get(view.metric)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                row.value = float(value)
                if value == value and view.better(float(value), row.best):  # NaN never leads
                    row.best, row.best_epoch = float(value), row.epoch
            ray_status = trial.status if status in (None, "running") else status
            row.status = trial_status(ray_status, last, row.max_epochs)
            if status == "running" and row.status == "pending":
                row.status = "running"
            return row

    def _emit(self, line: str) -> None:
        if self._live is None:
            print(line, flush=True)
