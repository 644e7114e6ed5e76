"""The driver-side Ray Tune callback that writes the aggregated TensorBoard view live.

It subclasses Ray's ``TBXLoggerCallback`` only so that Ray does not add its own: Ray's logger
would write the same curves a second time (one tensorboardX run per trial, under
``ray/tune/...`` tags, HParams only at trial end, and the replayed step twice after a
restore). Ray's CSV and JSON loggers stay: ``ExperimentAnalysis``, the summary and
``raytuner tensorboard --rebuild`` read their files.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from ray.tune.logger import TBXLoggerCallback

from raytuner.tensorboard import layout, storage
from raytuner.tensorboard.aggregator import Aggregator

log = logging.getLogger("raytuner")


class TensorBoardCallback(TBXLoggerCallback):
    """Feeds every trial event to an :class:`Aggregator` writing ``<run_dir>/tensorboard``.

    The destination comes from the trials' own storage (local folder or remote filesystem),
    so it is right after a restore from a moved folder too. Remote destinations are written
    in a local folder and uploaded every ``upload_interval_s`` seconds and at the end.
    """

    def __init__(self, experiment: dict[str, Any], *, upload_interval_s: float = 10.0):
        # TBXLoggerCallback.__init__ is skipped on purpose: it opens tensorboardX writers.
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

    def _open(self, trial) -> Aggregator | None:
        """The aggregator, opened on the first trial event (trials carry the storage)."""
        if self._agg is not None or self._failed:
            return self._agg
        try:
            self._agg = self._make_aggregator(trial)
        except Exception:  # TensorBoard must never fail the experiment
            log.exception("raytuner: TensorBoard aggregation disabled")
            self._failed = True
        return self._agg

    def _make_aggregator(self, trial) -> Aggregator:
        from raytuner.config.validate import validate_experiment
        from raytuner.search.space import parse_space
        from raytuner.trial.metrics import EPOCH_METRICS, reported_metrics

        exp = validate_experiment(self.experiment, source="experiment", check_space=False)
        fs = trial.storage.storage_filesystem
        path = f"{trial.storage.experiment_fs_path}/{layout.TENSORBOARD_DIR}"
        if storage.is_local(fs):
            logdir = Path(path)
        else:
            logdir = storage.local_staging_dir()
            storage.download(fs, path, logdir)  # what earlier drivers wrote, for the read-back
            self._uploader = storage.Uploader(logdir, fs, path)
        self.space = parse_space(exp.search.space)
        self.default_epochs = exp.train.epochs
        return Aggregator(
            logdir, metric=exp.search.metric, mode=exp.search.mode, space=self.space,
            metric_modes={k: v for k, v in EPOCH_METRICS.items() if v},
            known_metrics=reported_metrics(exp), start_time=self._start)

    def setup(self, **info) -> None:
        self._start = time.time()

    # -- helpers --------------------------------------------------------------------------

    def _params(self, trial) -> dict[str, Any]:
        from raytuner.search.space import flatten

        return flatten(trial.config, self.space)

    def _guard(self, action, *args, **kwargs) -> None:
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

    def on_trial_start(self, iteration: int, trials: list, trial, **info) -> None:
        if self._open(trial):
            self._guard(self._agg.trial_started, trial.trial_id, self._params(trial),
                        time.time())

    def on_trial_result(self, iteration: int, trials: list, trial, result: dict,
                        **info) -> None:
        if self._open(trial):
            self._guard(self._agg.trial_result, trial.trial_id, self._params(trial), result,
                        time.time())

    def _ended(self, trial, errored: bool) -> None:
        if not self._open(trial):
            return
        params = self._params(trial)
        max_epochs = int(params.get("train.epochs", self.default_epochs))
        status = layout.trial_status("ERROR" if errored else "TERMINATED", trial.last_result,
                                     max_epochs)
        # An errored trial may still be continued by `raytuner resume`.
        self._guard(self._agg.trial_ended, trial.trial_id, params, status, time.time(),
                    final=(status != "errored"))

    def on_trial_complete(self, iteration: int, trials: list, trial, **info) -> None:
        self._ended(trial, errored=False)

    def on_trial_error(self, iteration: int, trials: list, trial, **info) -> None:
        self._ended(trial, errored=True)

    def on_step_end(self, iteration: int, trials: list, **info) -> None:
        if self._agg is not None:
            self._guard(self._agg.tick, time.time())
            self._upload()

    def on_experiment_end(self, trials: list, **info) -> None:
        if self._agg is not None:
            try:
                self._agg.close()
            except Exception:
                log.exception("raytuner: TensorBoard aggregation failed at the end")
            self._upload(force=True)
            self._agg = None

    # LoggerCallback hooks Ray may call: nothing to do (results arrive in on_trial_result).
    def log_trial_start(self, trial) -> None:
        return None

    def log_trial_result(self, iteration: int, trial, result: dict) -> None:
        return None

    def log_trial_end(self, trial, failed: bool = False) -> None:
        return None
