"""The driver-side Ray Tune callback that writes the aggregated TensorBoard view live.

A plain ``ray.tune.Callback``: Tune's own tensorboardX logger is kept out by the run
(``TUNE_DISABLE_AUTO_CALLBACK_LOGGERS``, see :mod:`raytuner.runs.tuner`), which gives Tune the
CSV and JSON loggers explicitly (``ExperimentAnalysis``, the summary and
``raytuner tensorboard --rebuild`` read their files).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ray.tune import Callback

from raytuner.config.metrics import reported_metrics
from raytuner.config.schema import Experiment
from raytuner.runs.folder import TENSORBOARD_DIR
from raytuner.search.space import flatten
from raytuner.tensorboard import storage
from raytuner.tensorboard.aggregator import Aggregator
from raytuner.trial.status import max_epochs_of, trial_status

log = logging.getLogger("raytuner")


class TensorBoardCallback(Callback):
    """Feeds every trial event to an :class:`Aggregator` writing ``<run_dir>/tensorboard``.

    The destination comes from the trials' own storage (local folder or remote filesystem),
    so it is right after a restore from a moved folder too. Remote destinations are written
    in a local folder and uploaded every ``upload_interval_s`` seconds and at the end.
    """

    def __init__(self, experiment: Experiment, *, upload_interval_s: float = 10.0):
        self.experiment = experiment
        self.upload_interval_s = upload_interval_s
        self._reset()

    def _reset(self) -> None:
        self._agg: Aggregator | None = None
        self._uploader: storage.Uploader | None = None
        self._last_upload = 0.0
        self._start: float | None = None
        self._failed = False

    # The tuner pickles its callbacks (and restores them on resume): open files stay behind.
    def __getstate__(self) -> dict[str, Any]:
        return {"experiment": self.experiment, "upload_interval_s": self.upload_interval_s}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._reset()

    # -- setup ----------------------------------------------------------------------------

    def _open(self, trial: Any) -> Aggregator | None:
        """The aggregator, opened on the first trial event (trials carry the storage)."""
        if self._agg is not None or self._failed:
            return self._agg
        try:
            self._agg = self._make_aggregator(trial)
        except Exception:  # TensorBoard must never fail the experiment
            log.exception("raytuner: TensorBoard aggregation disabled")
            self._failed = True
        return self._agg

    def _make_aggregator(self, trial: Any) -> Aggregator:
        exp = self.experiment
        fs = trial.storage.storage_filesystem
        path = f"{trial.storage.experiment_fs_path}/{TENSORBOARD_DIR}"
        if storage.is_local(fs):
            logdir = Path(path)
        else:
            logdir = storage.local_staging_dir()
            storage.download(fs, path, logdir)  # what earlier drivers wrote, for the read-back
            self._uploader = storage.Uploader(logdir, fs, path)
        return Aggregator(logdir, metric=exp.search.metric, mode=exp.search.mode,
                          space=exp.space, metric_modes={},
                          known_metrics=reported_metrics(exp), start_time=self._start)

    def setup(self, **info: Any) -> None:
        self._start = time.time()

    # -- helpers --------------------------------------------------------------------------

    def _params(self, trial: Any) -> dict[str, Any]:
        return flatten(trial.config, self.experiment.space)

    def _status(self, trial: Any, ray_status: str) -> str:
        max_epochs = max_epochs_of(self._params(trial), self.experiment.train.epochs)
        return trial_status(ray_status, trial.last_result, max_epochs)

    def _guard(self, action: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        try:
            action(*args, **kwargs)
            self._agg.flush()
        except Exception:
            log.exception("raytuner: TensorBoard aggregation disabled")
            self._failed, self._agg = True, None

    def _upload(self, *, force: bool = False) -> None:
        now = time.monotonic()
        if self._uploader is None or (not force and now - self._last_upload
                                      < self.upload_interval_s):
            return
        self._last_upload = now
        try:
            self._uploader.sync()
        except OSError as exc:  # a storage hiccup: the next sync retries
            log.warning("raytuner: TensorBoard upload failed: %s", exc)

    # -- Ray Tune hooks -------------------------------------------------------------------

    def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        if self._open(trial):
            self._guard(self._agg.trial_started, trial.trial_id, self._params(trial),
                        time.time())

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict,
                        **info: Any) -> None:
        if self._open(trial):
            self._guard(self._agg.trial_result, trial.trial_id, self._params(trial), result,
                        time.time())

    def _ended(self, trial: Any, status: str) -> None:
        # An errored trial may still be continued by `raytuner resume`.
        self._guard(self._agg.trial_ended, trial.trial_id, self._params(trial), status,
                    time.time(), final=(status != "errored"))

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        if self._open(trial):
            self._ended(trial, self._status(trial, "TERMINATED"))

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        if self._open(trial):
            self._ended(trial, self._status(trial, "ERROR"))

    def on_step_end(self, iteration: int, trials: list, **info: Any) -> None:
        if self._agg is not None:
            self._guard(self._agg.tick, time.time())
            self._upload()

    def on_experiment_end(self, trials: list, **info: Any) -> None:
        if self._agg is None:
            return
        # A trial can train all its epochs without Tune completing it (Hyperband leaves one
        # PAUSED at max_t): completed, as the summary says. (Trials Tune stops when the run is
        # interrupted are not ended here: a resume continues them.)
        for trial in trials:
            if (self._status(trial, trial.status) == "completed"
                    and self._agg.status(trial.trial_id) == "running"):
                self._ended(trial, "completed")
        if self._agg is None:
            return
        try:
            self._agg.close()
        except Exception:
            log.exception("raytuner: TensorBoard aggregation failed at the end")
        self._upload(force=True)
        self._agg = None
