"""Build the Ray Tune experiment (searcher, scheduler, resources, storage, failure policy,
callbacks) and fit it (:mod:`raytuner.runs.ray_start` starts or joins Ray).

Everything the Tuner gets comes from the one validated experiment: the trainable, the searcher
and the callbacks receive the :class:`Experiment` object itself (with its parsed space), never a
copy to parse or validate again.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ray import tune

from raytuner import _ray_compat
from raytuner.cluster.capacity import default_max_concurrent
from raytuner.config.schema import Experiment
from raytuner.data import DataBundle
from raytuner.runs import quiet
from raytuner.runs.display import RunDisplay
from raytuner.runs.folder import trial_dirname
from raytuner.runs.resultlog import CsvResultLogger, JsonResultLogger
from raytuner.runs.storage import ray_run_path, ray_storage
from raytuner.search.schedulers import SCHEDULERS
from raytuner.search.searchers import SEARCHERS
from raytuner.search.space import max_value
from raytuner.search.warmstart import warm_points
from raytuner.tensorboard.callback import TensorBoardCallback
from raytuner.trial.trainable import make_trainable

#: Tune adds CSV, JSON and tensorboardX loggers unless this is "1"; raytuner gives it the CSV and
#: JSON ones itself (``ExperimentAnalysis``, the summary and the TensorBoard rebuild read their
#: files) and its own TensorBoard view instead of tensorboardX's, which would write every curve
#: a second time (HParams only at trial end, the replayed step twice after a restore).
NO_AUTO_LOGGERS = "TUNE_DISABLE_AUTO_CALLBACK_LOGGERS"


def max_epochs(exp: Experiment) -> int:
    """The most epochs any trial can train (``train.epochs`` may itself be searched)."""
    return int(max_value(exp.space, "train.epochs", exp.train.epochs))


def _trial_dirname(trial: Any) -> str:
    return trial_dirname(trial.trial_id)


def _callbacks(exp: Experiment, run_dir: Path, extra: list | None) -> list:
    return [CsvResultLogger(), JsonResultLogger(), RunDisplay(exp, run_dir),
            TensorBoardCallback(exp), *(extra or [])]


class _NoMissingResultFile(logging.Filter):
    """Drops Tune's "Remote file not found: .../result.json": under pbt a trial that takes
    another's checkpoint before it has reported has no result file to fetch yet (nothing is
    lost), and the warning would repeat on the terminal at every such copy."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Remote file not found")


def _quiet_missing_result_files() -> None:
    target = logging.getLogger("ray.tune.logger.logger")
    if not any(isinstance(f, _NoMissingResultFile) for f in target.filters):
        target.addFilter(_NoMissingResultFile())


def build_tuner(exp: Experiment, run_dir: Path, data: DataBundle | None, *,
                restore: bool = False, callbacks: list | None = None,
                stop: Any = None) -> tune.Tuner:
    """The Tuner of ``exp`` writing into ``run_dir`` (restored from it with ``restore``).

    ``callbacks`` and ``stop`` are extra driver-side hooks (benchmarks count epochs and stop at
    a budget with these).
    """
    # A trial handed a reused actor that died while cached must not pay for it.
    _ray_compat.spare_trials_on_dead_reused_actors()
    # A disk that fills up must not leave Ray's state files of the run folder truncated.
    _ray_compat.make_local_uploads_atomic()
    # Ray snapshots every trial's state at each forced sync: encode it at C speed.
    _ray_compat.encode_experiment_state_in_one_shot()
    trainable = make_trainable(exp, data)
    if restore:  # searcher, scheduler and callbacks come back from the saved state
        return tune.Tuner.restore(ray_run_path(run_dir), trainable=trainable,
                                  resume_errored=True)
    space = exp.space
    max_concurrent = exp.search.max_concurrent or default_max_concurrent(
        exp.resources.cpu, exp.resources.gpu)
    warm = warm_points(exp) if space else []
    with quiet.quiet_optuna():
        searcher, param_space = SEARCHERS.get(exp.search.algorithm).factory.build(
            exp.search, space, seed=exp.seed, max_concurrent=max_concurrent, warm=warm)
    factory = SCHEDULERS.get(exp.search.scheduler.name).factory
    scheduler = factory.build(exp.search.scheduler, max_epochs(exp), space, exp.search)
    # Ray 2.60 checkpoints the searcher's and the callbacks' state, not the scheduler's: a
    # scheduler whose records a resumed run needs (moasha's rungs) carries them in a callback.
    keeper = getattr(scheduler, "state_keeper", None)
    callbacks = [*(callbacks or []), *([keeper()] if keeper else [])]
    # Ray 2.60's PBT registers the checkpoint it copies a second time; with num_to_keep the
    # retention then deletes checkpoints still listed (and copied): pbt/pb2 keep every one.
    keep = None if factory.population else exp.checkpoint.keep
    if factory.population:
        _quiet_missing_result_files()
    tune_config = tune.TuneConfig(
        metric=exp.search.metric, mode=exp.search.mode, search_alg=searcher,
        scheduler=scheduler, num_samples=exp.search.num_samples,
        max_concurrent_trials=max_concurrent, reuse_actors=True,
        trial_dirname_creator=_trial_dirname,
    )
    storage_path, run_name = ray_storage(run_dir)  # a URI run: its URI, not the mirror
    run_config = tune.RunConfig(
        name=run_name, storage_path=storage_path,
        # Several objectives: a trial stands for its last epoch (raytuner.after.front), so
        # the newest checkpoints are kept; one objective: the best ones.
        checkpoint_config=tune.CheckpointConfig(
            num_to_keep=keep,
            checkpoint_score_attribute=None if exp.search.multi_objective else exp.search.metric,
            checkpoint_score_order=exp.search.mode),
        failure_config=tune.FailureConfig(max_failures=exp.failure.max_retries),
        callbacks=_callbacks(exp, run_dir, callbacks), stop=stop, verbose=0,
    )
    return tune.Tuner(trainable, param_space=param_space, tune_config=tune_config,
                      run_config=run_config)


@contextlib.contextmanager
def _without_auto_loggers() -> Iterator[None]:
    """:data:`NO_AUTO_LOGGERS` set while Tune builds its callbacks, then as it was: a program
    that runs other Tune experiments in the same process keeps Tune's defaults."""
    old = os.environ.get(NO_AUTO_LOGGERS)
    os.environ[NO_AUTO_LOGGERS] = "1"
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(NO_AUTO_LOGGERS, None)
        else:
            os.environ[NO_AUTO_LOGGERS] = old


def fit(tuner: tune.Tuner) -> tune.ResultGrid:
    """``tuner.fit()`` with raytuner's loggers only (see :data:`NO_AUTO_LOGGERS`)."""
    with _without_auto_loggers(), quiet.quiet_reporter(), quiet.quiet_optuna():
        return tuner.fit()
