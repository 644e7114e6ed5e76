"""The aggregated TensorBoard view of one experiment, written result by result.

:class:`Aggregator` knows nothing about Ray: the live callback feeds it trial events as they
arrive, and the rebuild feeds it the same events from a run folder's result files, so both
write the same layout. It reads back what the folder already holds when it opens it, which is
how a resumed run continues without writing any (trial, epoch) or timeline step twice.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from raytuner.search.space import Param
from raytuner.tensorboard import events, layout


@dataclass
class _Trial:
    run: str
    last_epoch: int = 0
    best: dict[str, float] = field(default_factory=dict)
    status: str = "running"
    status_step: int = -1
    session_ended: bool = False


class Aggregator:
    """Writes per-trial curves and HParams sessions, and the experiment-level curves."""

    def __init__(self, logdir: str | Path, *, metric: str, mode: str, space: list[Param],
                 metric_modes: dict[str, str], known_metrics: list[str],
                 start_time: float | None = None):
        self.logdir = Path(logdir)
        self.metric, self.mode = metric, mode
        self.space = space
        self.domains = layout.domains(space)
        self.metric_modes = {**metric_modes, metric: mode}
        self.known_metrics = [m for m in known_metrics if layout.is_metric(m, 0.0)]
        self.best_epochs_tag, self.best_seconds_tag = layout.search_tags(metric)
        self._writers: dict[str, events.EventWriter] = {}
        self._trials: dict[str, _Trial] = {}
        self.cum_epochs = 0
        self.best: float | None = None
        self._time_step = -1
        self._dirty = False
        self._config_written = False
        self.t0 = time.time() if start_time is None else start_time
        self._read_back()
        if self._time_step < 0:  # a new folder: pin the experiment's time zero on disk
            self._dirty = True
            self.tick(self.t0)

    # -- reading back ---------------------------------------------------------------------

    def _read_back(self) -> None:
        exp_dir = self.logdir / layout.EXPERIMENT_RUN
        if exp_dir.is_dir():
            found = events.read_run(exp_dir)
            self._config_written = found.has_config
            self.cum_epochs = max(0, found.step(self.best_epochs_tag, 0),
                                  int(found.last_value.get(layout.EPOCHS_TOTAL_TAG, 0)))
            self.best = found.last_value.get(self.best_epochs_tag)
            self._time_step = found.step(layout.EPOCHS_TOTAL_TAG)
            if found.first_wall_time is not None:
                self.t0 = found.first_wall_time
        trials_dir = self.logdir / layout.TRIALS_DIR
        for run_dir in sorted(trials_dir.iterdir() if trials_dir.is_dir() else []):
            found = events.read_run(run_dir)
            if found.session_group is None:
                continue
            trial = _Trial(run=f"{layout.TRIALS_DIR}/{run_dir.name}",
                           last_epoch=max(0, found.step(layout.EPOCHS_TAG, 0)),
                           session_ended=found.session_ended,
                           status_step=found.step(layout.STATUS_TAG))
            trial.best = {tag[len("best/"):]: value for tag, value in found.last_value.items()
                          if tag.startswith("best/")}
            code = found.last_value.get(layout.STATUS_TAG)
            if code is not None and trial.status_step >= trial.last_epoch:
                trial.status = layout.STATUS_NAMES.get(int(code), "running")
            self._trials[found.session_group] = trial

    # -- writers --------------------------------------------------------------------------

    def _writer(self, run: str) -> events.EventWriter:
        if run not in self._writers:
            self._writers[run] = events.EventWriter(self.logdir / run)
        return self._writers[run]

    def _close_writer(self, run: str) -> None:
        writer = self._writers.pop(run, None)
        if writer is not None:
            writer.close()

    def flush(self) -> None:
        """Make everything written so far readable by TensorBoard."""
        for writer in self._writers.values():
            writer.flush()

    # -- trial events ---------------------------------------------------------------------

    def status(self, trial_id: str) -> str | None:
        """The status word written for ``trial_id`` (``running`` until it ended), or None for
        a trial not seen yet."""
        trial = self._trials.get(trial_id)
        return trial.status if trial is not None else None

    def trial_started(self, trial_id: str, params: dict[str, Any], wall: float) -> None:
        """Open the trial's run and its HParams session (once, even across restores)."""
        if trial_id in self._trials:
            return
        run = layout.run_name(trial_id, params, self.space)
        self._trials[trial_id] = _Trial(run=run)
        hparams = layout.session_hparams(params, self.domains)
        self._writer(run).add_summary(events.session_start_summary(hparams, trial_id, wall),
                                      0, wall)
        self._changed(wall)

    def trial_result(self, trial_id: str, params: dict[str, Any], result: dict[str, Any],
                     wall: float) -> bool:
        """Write one epoch's metrics; False when this (trial, epoch) is already written (a
        result replayed after a restore or a retry)."""
        self.trial_started(trial_id, params, wall)
        trial = self._trials[trial_id]
        epoch = int(result.get("epoch") or result.get("training_iteration")
                    or trial.last_epoch + 1)
        if epoch <= trial.last_epoch:
            return False
        names = [name for name, value in result.items() if layout.is_metric(name, value)]
        self._write_config(names, wall)
        scalars: dict[str, float] = {}
        for name in names:
            value = result[name]
            scalars[layout.metric_tag(name)] = layout.final_value(value)
            mode = layout.metric_mode(name, self.metric_modes)
            if mode and events.is_finite(value):
                old = trial.best.get(name)
                if old is None or (value > old if mode == "max" else value < old):
                    trial.best[name] = float(value)
            if name in trial.best:
                scalars[layout.best_tag(name)] = trial.best[name]
        scalars[layout.EPOCHS_TAG] = float(epoch)
        self._writer(trial.run).add_scalars(scalars, epoch, wall)
        trial.last_epoch = epoch
        trial.status = "running"
        self.cum_epochs += 1
        value = result.get(self.metric)
        if events.is_finite(value) and (self.best is None or (
                value > self.best if self.mode == "max" else value < self.best)):
            self.best = float(value)
        if self.best is not None:
            self._writer(layout.EXPERIMENT_RUN).add_scalars(
                {self.best_epochs_tag: self.best}, self.cum_epochs, wall)
        self._changed(wall)
        return True

    def trial_ended(self, trial_id: str, params: dict[str, Any], status: str,
                    wall: float, *, final: bool = True) -> None:
        """Record a trial's status word. ``final=False`` (an errored trial that a resume may
        continue) defers TensorBoard's session end to :meth:`close`."""
        if status not in layout.STATUS_CODES:
            return
        self.trial_started(trial_id, params, wall)
        trial = self._trials[trial_id]
        step = max(trial.last_epoch, trial.status_step + 1)
        scalars = {layout.STATUS_TAG: float(layout.STATUS_CODES[status])}
        if status == "stopped":
            scalars[layout.STOPPED_AT_TAG] = float(trial.last_epoch)
        writer = self._writer(trial.run)
        writer.add_scalars(scalars, step, wall)
        trial.status, trial.status_step = status, step
        if final:
            self._end_session(trial, wall)
            self._close_writer(trial.run)  # keeps open files few on long searches
        self._changed(wall)

    def _end_session(self, trial: _Trial, wall: float) -> None:
        if trial.session_ended:
            return
        success = trial.status in ("completed", "stopped")
        self._writer(trial.run).add_summary(events.session_end_summary(success, wall),
                                            max(trial.status_step, trial.last_epoch), wall)
        trial.session_ended = True

    # -- the experiment -------------------------------------------------------------------

    def _write_config(self, names: list[str], wall: float) -> None:
        """The HParams experiment, written once (TensorBoard keeps the first one it reads)."""
        if self._config_written:
            return
        names = list(dict.fromkeys([*self.known_metrics, *names]))
        names.sort(key=lambda n: n != self.metric)  # the search metric first
        metrics: list[tuple[str, str]] = []
        for name in names:
            mode = layout.metric_mode(name, self.metric_modes)
            if mode:
                metrics.append((layout.best_tag(name), f"best {name} over the trial's epochs"))
            metrics.append((layout.metric_tag(name), f"{name} at the trial's last epoch"))
        # Right after the search metric: the dashboard shows the first few columns by default.
        metrics[2:2] = [
            (layout.STATUS_TAG, "status: 1 completed, 2 stopped early by the scheduler, "
                                "3 errored, 4 diverged; empty while running"),
            (layout.EPOCHS_TAG, "epochs trained"),
            (layout.STOPPED_AT_TAG, "epoch at which the scheduler stopped the trial"),
        ]
        summary = events.hparams_config_summary(self.domains, metrics)
        self._writer(layout.EXPERIMENT_RUN).add_summary(summary, 0, wall)
        self._config_written = True

    def counts(self) -> dict[str, int]:
        """Trials per status word (``running`` for started, unfinished ones)."""
        out = dict.fromkeys(layout.STATUS_TAGS, 0)
        for trial in self._trials.values():
            out[trial.status] = out.get(trial.status, 0) + 1
        return out

    def _changed(self, wall: float) -> None:
        self._dirty = True
        self.tick(wall)

    def tick(self, wall: float, *, force: bool = False) -> None:
        """Write the timeline (step = whole seconds since the experiment started) when it
        changed; at most one step per second, so a step is never written twice."""
        if not self._dirty:
            return
        second = int(max(0.0, wall - self.t0))
        if second <= self._time_step:
            if not force:
                return
            second = self._time_step + 1
        values = {f"trials/{status}": float(n) for status, n in self.counts().items()}
        values[layout.EPOCHS_TOTAL_TAG] = float(self.cum_epochs)
        if self.best is not None:
            values[self.best_seconds_tag] = self.best
        self._writer(layout.EXPERIMENT_RUN).add_scalars(values, second, wall)
        self._time_step = second
        self._dirty = False

    def close(self, wall: float | None = None) -> None:
        """End the sessions of trials that ended in error, write the last timeline step,
        and close every file."""
        wall = time.time() if wall is None else wall
        for trial in self._trials.values():
            if trial.status == "errored":
                self._end_session(trial, wall)
        self.tick(wall, force=True)
        for run in list(self._writers):
            self._close_writer(run)
